//! Bearer tokens. The registry's own `auth: token:` needs JWTs signed by a certificate
//! chain; instead, a token service of the test's own fronts the real registry: it issues
//! opaque tokens at `/token` (Basic auth, one user), answers `/v2/` requests without a valid
//! token with a `Bearer` challenge, and forwards the others to the registry. The client
//! sees exactly what a Docker Hub style registry shows it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use compose_image::Reference;
use compose_image::registry::{self, Credentials, NoProgress, RegistryError};

use super::proxy::{Action, Front, Request};
use super::*;

const USER: &str = "bob";
const PASSWORD: &str = "builder";

/// The token service's state.
#[derive(Default)]
struct Tokens {
    /// token → scopes granted.
    granted: Mutex<HashMap<String, Vec<String>>>,
    requests: AtomicUsize,
}

/// The token service and proxy in front of a registry.
struct TokenFront {
    tokens: Arc<Tokens>,
    front: Front,
}

impl TokenFront {
    fn start(backend: u16) -> TokenFront {
        let tokens = Arc::new(Tokens::default());
        let port = Arc::new(Mutex::new(0u16));
        let (t, p) = (tokens.clone(), port.clone());
        let front = Front::start(
            backend,
            Arc::new(move |req: &Request| handle(&t, *p.lock().unwrap(), req)),
        );
        *port.lock().unwrap() = front.port;
        TokenFront { tokens, front }
    }

    fn host(&self) -> String {
        self.front.host()
    }

    fn requests(&self) -> usize {
        self.tokens.requests.load(Ordering::Relaxed)
    }
}

fn handle(t: &Tokens, port: u16, req: &Request) -> Action {
    if req.target.starts_with("/token") {
        return token(t, req);
    }
    let need = scope_for(&req.method, &req.target);
    let granted = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .and_then(|tok| t.granted.lock().unwrap().get(tok).cloned())
        .unwrap_or_default();
    let ok = match &need {
        None => req.header("authorization").is_some(),
        Some(n) => granted.iter().any(|g| covers(g, n)),
    };
    if ok {
        return Action::Forward {
            cut_after: None,
            strip_range: false,
        };
    }
    let scope = need.map(|n| format!(",scope=\"{n}\"")).unwrap_or_default();
    Action::Respond {
        status: "401 Unauthorized",
        headers: vec![
            format!(
                "Www-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test-registry\"{scope}"
            ),
            "Content-Type: application/json".into(),
        ],
        body: br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
            .to_vec(),
    }
}

/// `/token?service=..&scope=..`: Basic auth of the one user, else 401.
fn token(t: &Tokens, req: &Request) -> Action {
    let n = t.requests.fetch_add(1, Ordering::Relaxed);
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    if req.header("authorization") != Some(want.as_str()) {
        return Action::Respond {
            status: "401 Unauthorized",
            headers: Vec::new(),
            body: br#"{"details":"incorrect username or password"}"#.to_vec(),
        };
    }
    let query = req.target.split_once('?').map_or("", |(_, q)| q);
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
    let tok = format!("tok-{n}-{}", std::process::id());
    t.granted.lock().unwrap().insert(tok.clone(), scopes);
    Action::Respond {
        status: "200 OK",
        headers: vec!["Content-Type: application/json".into()],
        body: format!(r#"{{"token":"{tok}","expires_in":300}}"#).into_bytes(),
    }
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
    let after_push = front.requests();
    // One token for `pull,push` on the repository, reused by every request of the push.
    assert_eq!(after_push, 1, "tokens are cached per scope");

    let dst = open_store(tmp.path(), "dst");
    let c = Client::new(&front.host(), opts).unwrap();
    let p = registry::pull(&dst, &c, &r, &NoProgress).unwrap();
    assert_eq!(p.record.manifest_digest, img.manifest_digest());
    assert_eq!(
        front.requests(),
        after_push + 1,
        "one pull token for the manifest and every blob"
    );
    assert!(snapshot_file(&dst, &name, 0, "bin/busybox").is_file());

    // Tokens revoked: the cached one gets a 401, the client fetches a new one once.
    let before = front.requests();
    front.tokens.granted.lock().unwrap().clear();
    let again = open_store(tmp.path(), "again");
    registry::pull(&again, &c, &r, &NoProgress).unwrap();
    assert_eq!(front.requests(), before + 1);

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
