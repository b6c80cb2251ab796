//! `state`: the OCI state of a container, as JSON on stdout.

use compose_runtime::{Container, Runtime, Status};
use serde::Serialize;

use crate::meta::Meta;

/// The OCI runtime spec's state, with runc's extra `rootfs` and `created`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: &'static str,
    pub id: String,
    pub status: Status,
    pub pid: i32,
    pub bundle: String,
    pub rootfs: String,
    pub created: String,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub annotations: std::collections::BTreeMap<String, String>,
}

pub fn of(c: &Container) -> OciState {
    let st = c.state();
    let meta = Meta::load(c.dir());
    OciState {
        oci_version: "1.0.2",
        id: st.id,
        status: st.status,
        // As runc: 0 once the process is gone.
        pid: st.pid.unwrap_or(0),
        bundle: meta.bundle.display().to_string(),
        rootfs: meta.rootfs.display().to_string(),
        created: meta.created,
        annotations: meta.annotations,
    }
}

pub fn state(rt: &Runtime, id: &str) -> anyhow::Result<()> {
    let c = rt.load(id)?;
    println!("{}", serde_json::to_string_pretty(&of(&c))?);
    Ok(())
}
