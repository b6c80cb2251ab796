//! Pulls an image into a data root with the library's registry client, for speed checks of
//! both modes (`compose image pull` defers; `up` pulls eagerly):
//! `cargo run --release -p compose-image --example pull -- ROOT REF [eager|deferred|deferred+use]`.
//!
//! `eager` is what `up` does for an image it lacks; `deferred` stores verified blobs and the
//! record only; `deferred+use` then makes the snapshots as a first container create would
//! (`Store::ensure_snapshots`), so the whole cost of deferring shows. Prints the seconds of
//! each step.

use std::time::Instant;

use compose_image::registry::{self, Client, ClientOptions, NoProgress};
use compose_image::{Reference, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (root, reference, mode) = match &args[..] {
        [_, root, r] => (root, r, "eager"),
        [_, root, r, m] => (root, r, m.as_str()),
        _ => return Err("usage: pull ROOT REF [eager|deferred|deferred+use]".into()),
    };
    if !matches!(mode, "eager" | "deferred" | "deferred+use") {
        return Err(format!("unknown mode {mode:?}").into());
    }
    let start = Instant::now();
    let store = Store::open(root.as_ref())?;
    let r = Reference::parse(reference)?;
    let opts = ClientOptions {
        defer_unpack: mode != "eager",
        ..ClientOptions::default()
    };
    let client = Client::new(&r.registry, opts.clone())?;
    let pulled = registry::pull(&store, &client, &r, &NoProgress)?;
    let pull_secs = start.elapsed().as_secs_f64();
    println!(
        "pull ({mode}): {pull_secs:.3} s, {} blobs, {} bytes",
        pulled.downloaded, pulled.bytes
    );
    if mode == "deferred+use" {
        let t = Instant::now();
        let (dirs, made) = store.ensure_snapshots(&pulled.record, &opts.unpack, opts.sync)?;
        println!(
            "first use: {:.3} s, {made} of {} snapshots made",
            t.elapsed().as_secs_f64(),
            dirs.len()
        );
    }
    Ok(())
}
