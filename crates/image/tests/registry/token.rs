//! Bearer tokens. The registry's own `auth: token:` needs JWTs signed by a certificate
//! chain; instead, a token service of the test's own fronts the real registry: it issues
//! opaque tokens at `/token` (Basic auth, one user), answers `/v2/` requests without a valid
//! token with a `Bearer` challenge, and forwards the others to the registry. The client
//! sees exactly what a Docker Hub style registry shows it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use base64::Engine as _;
use compose_image::Reference;
use compose_image::registry::{self, Credentials, NoProgress, RegistryError};

use super::*;

const USER: &str = "bob";
const PASSWORD: &str = "builder";

struct Shared {
    backend: u16,
    port: u16,
    /// token → scopes granted.
    tokens: Mutex<HashMap<String, Vec<String>>>,
    token_requests: AtomicUsize,
    stop: AtomicBool,
}

/// The token service and proxy in front of a registry.
struct TokenFront {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl TokenFront {
    fn start(backend: u16) -> TokenFront {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared {
            backend,
            port: listener.local_addr().unwrap().port(),
            tokens: Mutex::new(HashMap::new()),
            token_requests: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        });
        let s = shared.clone();
        let thread = std::thread::spawn(move || {
            while !s.stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        conn.set_nonblocking(false).unwrap();
                        let s = s.clone();
                        std::thread::spawn(move || {
                            let _ = serve(&s, conn);
                        });
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
                }
            }
        });
        TokenFront {
            shared,
            thread: Some(thread),
        }
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.shared.port)
    }
}

impl Drop for TokenFront {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One request per connection (answers say `Connection: close`).
fn serve(s: &Shared, conn: TcpStream) -> std::io::Result<()> {
    let mut r = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    r.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h)?;
        let h = h.trim_end().to_owned();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let get = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let len: usize = get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body)?;
    let mut out = conn;
    if target.starts_with("/token") {
        return token(s, &target, get("authorization"), &mut out);
    }
    let need = scope_for(&method, &target);
    let granted = get("authorization")
        .and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned))
        .and_then(|t| s.tokens.lock().unwrap().get(&t).cloned())
        .unwrap_or_default();
    let ok = match &need {
        None => !granted.is_empty() || get("authorization").is_some(),
        Some(n) => granted.iter().any(|g| covers(g, n)),
    };
    if !ok {
        let scope = need.map(|n| format!(",scope=\"{n}\"")).unwrap_or_default();
        let msg = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nWww-Authenticate: Bearer realm=\"http://127.0.0.1:{}/token\",service=\"test-registry\"{scope}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            s.port,
            msg.len()
        )?;
        out.write_all(msg)?;
        return Ok(());
    }
    // Forward, without our Authorization, and with the connection closed after.
    let mut back = TcpStream::connect((Ipv4Addr::LOCALHOST, s.backend))?;
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    for (k, v) in &headers {
        if k != "authorization" && k != "connection" {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    back.write_all(head.as_bytes())?;
    back.write_all(&body)?;
    std::io::copy(&mut back, &mut out)?;
    Ok(())
}

/// `/token?service=..&scope=..`: Basic auth of the one user, else 401.
fn token(
    s: &Shared,
    target: &str,
    auth: Option<String>,
    out: &mut TcpStream,
) -> std::io::Result<()> {
    s.token_requests.fetch_add(1, Ordering::Relaxed);
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    if auth.as_deref() != Some(want.as_str()) {
        let msg = br#"{"details":"incorrect username or password"}"#;
        write!(
            out,
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            msg.len()
        )?;
        return out.write_all(msg);
    }
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let scopes: Vec<String> = query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("scope="))
        .map(|v| {
            v.replace("%3A", ":")
                .replace("%2C", ",")
                .replace("%2F", "/")
                .replace("%20", " ")
        })
        .collect();
    let n = s.token_requests.load(Ordering::Relaxed);
    let tok = format!("tok-{n}-{}", std::process::id());
    s.tokens.lock().unwrap().insert(tok.clone(), scopes);
    let body = format!(r#"{{"token":"{tok}","expires_in":300}}"#);
    write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The scope a `/v2/<repo>/...` request needs; `None` for `/v2/` itself.
fn scope_for(method: &str, target: &str) -> Option<String> {
    let path = target.split('?').next().unwrap_or("");
    let rest = path.strip_prefix("/v2/")?;
    let cut = ["/manifests/", "/blobs/", "/tags/"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()?;
    let action = if method == "GET" || method == "HEAD" {
        "pull"
    } else {
        "push"
    };
    Some(format!("repository:{}:{action}", &rest[..cut]))
}

/// Whether a granted scope (`repository:r:pull,push`) covers a needed one.
fn covers(granted: &str, need: &str) -> bool {
    let (g_repo, g_actions) = granted.rsplit_once(':').unwrap_or((granted, ""));
    let (n_repo, n_action) = need.rsplit_once(':').unwrap_or((need, ""));
    g_repo == n_repo && g_actions.split(',').any(|a| a == n_action)
}

fn creds(password: &str) -> Option<Credentials> {
    Some(Credentials {
        username: USER.into(),
        password: password.into(),
    })
}

#[test]
fn bearer_tokens_from_the_challenge_realm_are_fetched_and_cached() {
    let reg = Registry::start();
    let front = TokenFront::start(reg.port);
    let tmp = tempfile::tempdir().unwrap();
    let src = open_store(tmp.path(), "src");
    let img = busybox_image("token\n");
    let name = format!("{}/tok/app:1", front.host());
    let r = Reference::parse(&name).unwrap();
    img.load(&src, &name);

    let mut opts = options(tmp.path());
    opts.credentials = creds(PASSWORD);
    let c = Client::new(&front.host(), opts.clone()).unwrap();
    registry::push(&src, &c, &name, &r, &NoProgress).unwrap();
    let after_push = front.shared.token_requests.load(Ordering::Relaxed);
    // One token for `pull,push` on the repository, reused by every request of the push.
    assert_eq!(after_push, 1, "tokens are cached per scope");

    let dst = open_store(tmp.path(), "dst");
    let c = Client::new(&front.host(), opts).unwrap();
    let p = registry::pull(&dst, &c, &r, &NoProgress).unwrap();
    assert_eq!(p.record.manifest_digest, img.manifest_digest());
    assert_eq!(
        front.shared.token_requests.load(Ordering::Relaxed),
        after_push + 1,
        "one pull token for the manifest and every blob"
    );
    assert!(snapshot_file(&dst, &name, 0, "bin/busybox").is_file());

    // Wrong password, and none: the token service refuses, the error says so.
    for c in [creds("wrong"), None] {
        let mut opts = options(tmp.path());
        opts.credentials = c;
        let client = Client::new(&front.host(), opts).unwrap();
        let other = open_store(tmp.path(), "refused");
        let e = registry::pull(&other, &client, &r, &NoProgress).unwrap_err();
        assert!(matches!(e, RegistryError::Unauthorized { .. }), "{e}");
        assert!(
            e.to_string().contains("incorrect username or password"),
            "{e}"
        );
        assert_empty(&other);
    }
}
