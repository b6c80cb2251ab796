//! Per-registry TLS material, laid out as Docker reads it: a directory
//! `<certs.d>/<host[:port]>/` holding CA certificates (`*.crt`) to trust for that registry,
//! and client certificate pairs (`<name>.cert` with `<name>.key`) to present. A registry with
//! such a directory is spoken to over HTTPS, loopback or not.

use std::path::{Path, PathBuf};

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use super::error::{RegistryError, Result};

/// Where Docker keeps per-registry certificates.
pub const DEFAULT_CERTS_D: &str = "/etc/docker/certs.d";

/// The TLS config for `registry` from `<certs_d>/<registry>/`; `None` when that directory
/// does not exist (the platform's roots then apply).
pub(crate) fn for_registry(certs_d: &Path, registry: &str) -> Result<Option<TlsConfig>> {
    // A registry name is `host[:port]`: never a path.
    if registry.contains('/') || registry.starts_with('.') {
        return Ok(None);
    }
    let dir = certs_d.join(registry);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(bad(&dir, format!("cannot read it: {e}"))),
    };
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    let mut roots = Vec::new();
    let mut client = None;
    for path in &names {
        match path.extension().and_then(|e| e.to_str()) {
            Some("crt") => roots.extend(certificates(path)?),
            Some("cert") => {
                let key = path.with_extension("key");
                if !key.is_file() {
                    return Err(bad(
                        path,
                        format!("has no key beside it ({})", key.display()),
                    ));
                }
                if client.is_some() {
                    return Err(bad(&dir, "holds more than one client certificate".into()));
                }
                client = Some(ClientCert::new_with_certs(
                    &certificates(path)?,
                    private_key(&key)?,
                ));
            }
            _ => {}
        }
    }
    let mut b = TlsConfig::builder().client_cert(client);
    if !roots.is_empty() {
        b = b.root_certs(RootCerts::new_with_certs(&roots));
    } else {
        b = b.root_certs(RootCerts::PlatformVerifier);
    }
    Ok(Some(b.build()))
}

fn bad(path: &Path, reason: String) -> RegistryError {
    RegistryError::Tls {
        path: path.to_owned(),
        reason,
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| bad(path, format!("cannot read it: {e}")))
}

fn certificates(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let pem = read(path)?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| bad(path, format!("bad PEM: {e}")))? {
            PemItem::Certificate(c) => out.push(c),
            _ => continue,
        }
    }
    if out.is_empty() {
        return Err(bad(path, "holds no PEM certificate".into()));
    }
    Ok(out)
}

fn private_key(path: &Path) -> Result<PrivateKey<'static>> {
    let pem = read(path)?;
    for item in ureq::tls::parse_pem(&pem) {
        if let PemItem::PrivateKey(k) = item.map_err(|e| bad(path, format!("bad PEM: {e}")))? {
            return Ok(k);
        }
    }
    Err(bad(path, "holds no PEM private key".into()))
}
