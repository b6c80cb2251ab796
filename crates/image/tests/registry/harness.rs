//! A real registry (Debian's `docker-registry`, distribution 2.8) on 127.0.0.1, one per
//! test, storing into the test's temp dir; killed when dropped.

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// A running registry and its state.
pub struct Registry {
    child: Mutex<Option<Child>>,
    pub port: u16,
    pub dir: tempfile::TempDir,
    htpasswd: bool,
    tls: bool,
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    l.local_addr().unwrap().port()
}

impl Registry {
    /// An open registry: anyone pulls and pushes.
    pub fn start() -> Registry {
        Self::start_with(None)
    }

    /// A registry with Basic auth for one user (htpasswd, bcrypt).
    pub fn with_user(user: &str, password: &str) -> Registry {
        Self::start_with(Some((user, password)))
    }

    /// A registry serving HTTPS with a certificate for 127.0.0.1 from a CA of its own
    /// ([`Registry::ca_cert`]).
    pub fn with_tls() -> Registry {
        let dir = tempfile::tempdir().unwrap();
        make_certs(&dir.path().join("tls"));
        let r = Registry {
            child: Mutex::new(None),
            port: free_port(),
            dir,
            htpasswd: false,
            tls: true,
        };
        r.restart();
        r
    }

    /// The CA that signed a TLS registry's certificate (PEM).
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.path().join("tls").join("ca.crt")
    }

    fn start_with(user: Option<(&str, &str)>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        if let Some((u, p)) = user {
            let out = Command::new("htpasswd")
                .args(["-Bbn", u, p])
                .output()
                .expect("htpasswd (apache2-utils) must be installed");
            assert!(out.status.success(), "htpasswd failed");
            std::fs::write(dir.path().join("htpasswd"), out.stdout).unwrap();
        }
        let r = Registry {
            child: Mutex::new(None),
            port: free_port(),
            dir,
            htpasswd: user.is_some(),
            tls: false,
        };
        r.restart();
        r
    }

    /// `127.0.0.1:<port>`, as references name it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where the registry keeps its blobs and manifests.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The registry's file for a blob.
    pub fn blob_data(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    fn write_config(&self) -> PathBuf {
        let auth = if self.htpasswd {
            format!(
                "auth:\n  htpasswd:\n    realm: test-registry\n    path: {}\n",
                self.dir.path().join("htpasswd").display()
            )
        } else {
            String::new()
        };
        let tls = if self.tls {
            let d = self.dir.path().join("tls");
            format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                d.join("server.crt").display(),
                d.join("server.key").display()
            )
        } else {
            String::new()
        };
        let cfg = format!(
            "version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{}\n  secret: test-secret-{}\n{tls}{auth}",
            self.storage().display(),
            self.port,
            self.port,
        );
        let p = self.dir.path().join("config.yml");
        std::fs::write(&p, cfg).unwrap();
        p
    }

    /// (Re)starts the registry on the same port and storage; waits until it listens.
    pub fn restart(&self) {
        let cfg = self.write_config();
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.path().join("registry.log"))
            .unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("docker-registry must be installed");
        *self.child.lock().unwrap() = Some(child);
        self.wait_listening();
    }

    /// Until the port answers, while our process lives: a registry that could not bind
    /// (another took the port) exits, and must not be mistaken for the other one.
    fn wait_listening(&self) {
        let log = self.dir.path().join("registry.log");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Some(c) = self.child.lock().unwrap().as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("registry exited ({status}): {}", read_log(&log));
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                // Give a losing bind a moment to show as an exit.
                std::thread::sleep(Duration::from_millis(50));
                if let Some(c) = self.child.lock().unwrap().as_mut()
                    && let Ok(Some(status)) = c.try_wait()
                {
                    panic!("registry exited ({status}): {}", read_log(&log));
                }
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "registry did not listen on {}: {}",
            self.port,
            read_log(&log)
        );
    }

    /// SIGKILL, and reap.
    pub fn kill(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn read_log(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A CA and a server certificate for 127.0.0.1 signed by it (EC P-256), with openssl.
fn make_certs(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let steps: [&[&str]; 3] = [
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "2",
            "-subj",
            "/CN=compose test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl must be installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
