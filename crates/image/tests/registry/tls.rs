//! A registry over HTTPS with a CA of its own: trusted through `certs.d/<host:port>/`,
//! refused with a clear error otherwise.

use compose_image::Reference;
use compose_image::registry::{self, NoProgress};

use super::*;

fn tls_client(reg: &Registry, state: &Path, certs_d: &Path) -> registry::Result<Client> {
    let mut opts = options(state);
    opts.certs_d = Some(certs_d.to_owned());
    Client::new(&reg.host(), opts)
}

#[test]
fn push_and_pull_over_tls_with_the_registrys_ca() {
    let reg = Registry::with_tls();
    let tmp = tempfile::tempdir().unwrap();
    let certs_d = tmp.path().join("certs.d");
    let name = format!("{}/secure/app:1", reg.host());
    let r = Reference::parse(&name).unwrap();
    let src = open_store(tmp.path(), "src");
    let img = busybox_image("over tls\n");
    img.load(&src, &name);

    // Without the CA: the registry is on loopback, so plain HTTP is tried, and refused.
    let c = tls_client(&reg, tmp.path(), &certs_d).unwrap();
    assert!(c.base_url().starts_with("http://"));
    assert!(registry::push(&src, &c, &name, &r, &NoProgress).is_err());

    // A directory for another CA: HTTPS, and the certificate is not trusted.
    let dir = certs_d.join(reg.host());
    std::fs::create_dir_all(&dir).unwrap();
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let out = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "o.key",
            "-out",
            "o.crt",
            "-days",
            "1",
            "-subj",
            "/CN=other",
        ])
        .current_dir(&other)
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::copy(other.join("o.crt"), dir.join("ca.crt")).unwrap();
    let c = tls_client(&reg, tmp.path(), &certs_d).unwrap();
    assert!(c.base_url().starts_with("https://"));
    let e = registry::push(&src, &c, &name, &r, &NoProgress).unwrap_err();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    let text = text.to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("tls"),
        "{text}"
    );

    // The registry's own CA: push, then pull into another store.
    std::fs::copy(reg.ca_cert(), dir.join("ca.crt")).unwrap();
    let c = tls_client(&reg, tmp.path(), &certs_d).unwrap();
    let pushed = registry::push(&src, &c, &name, &r, &NoProgress).unwrap();
    assert_eq!(pushed.digest, img.manifest_digest());
    let dst = open_store(tmp.path(), "dst");
    let pulled = registry::pull(&dst, &c, &r, &NoProgress).unwrap();
    assert_eq!(pulled.record.manifest_digest, img.manifest_digest());

    // A client certificate without its key is a clear error naming the file.
    std::fs::copy(reg.ca_cert(), dir.join("client.cert")).unwrap();
    let e = tls_client(&reg, tmp.path(), &certs_d)
        .unwrap_err()
        .to_string();
    assert!(e.contains("client.cert") && e.contains("no key"), "{e}");
}
