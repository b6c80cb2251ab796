//! The HTTP side of the registry client: one [`Client`] per registry, its base URL (HTTPS,
//! or plain HTTP for loopback and registries named insecure), the `/v2/` probe, Bearer and
//! Basic auth, and retries with backoff on connection errors and 5xx answers.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::net::IpAddr;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ureq::http::{self, Method, Response};
use ureq::{Agent, SendBody};

use super::challenge::{self, Challenge};
use super::credentials::{self, Credentials};
use super::error::{RegistryError, Result};
use crate::reference::DEFAULT_REGISTRY;
use crate::store::Platform;
use crate::unpack::UnpackOptions;

/// Largest error body read for a message.
const MAX_ERROR_BODY: u64 = 64 << 10;
/// A token is renewed this long before the registry said it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(10);

/// How a [`Client`] talks to its registry, and how pulls and pushes run.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Credentials to use; when `None`, the docker config file's entry for the registry.
    pub credentials: Option<Credentials>,
    /// The docker config file; `None` means `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json`.
    pub docker_config: Option<PathBuf>,
    /// Registries (`host[:port]`) spoken to over plain HTTP. Loopback ones always are.
    pub insecure_registries: Vec<String>,
    /// Extra attempts after a connection error or a 5xx/429 answer.
    pub retries: u32,
    /// Wait before the first retry; doubled for each next one.
    pub backoff: Duration,
    /// Blobs transferred at once.
    pub parallel: usize,
    /// Push blobs larger than this in chunks of this size (PATCH); `None`: one PUT each.
    pub chunk_size: Option<u64>,
    /// The platform to pick from a multi-platform index; `None`: this host's.
    pub platform: Option<Platform>,
    /// Connect timeout, and the longest wait for any read.
    pub timeout: Duration,
    /// Pulls make each new snapshot durable (syncfs) before naming it, as loads do.
    pub sync: bool,
    /// Per-registry certificate dirs (`<dir>/<host:port>/ca.crt`, `client.cert`/`.key`);
    /// `None` means Docker's `/etc/docker/certs.d`.
    pub certs_d: Option<PathBuf>,
    /// How pulls unpack layers (ownership kept by default: run as root).
    pub unpack: UnpackOptions,
    /// Pull stores the verified blobs and the record only; each layer's snapshot is made
    /// (and its DiffID verified) on first use, by [`crate::Store::ensure_snapshots`]. Off by
    /// default: a layer that does not match its DiffID is then found at first use, not at
    /// pull, and the first container start pays the unpack.
    pub defer_unpack: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            credentials: None,
            docker_config: None,
            insecure_registries: Vec::new(),
            retries: 4,
            backoff: Duration::from_millis(250),
            parallel: 4,
            chunk_size: None,
            platform: None,
            timeout: Duration::from_secs(60),
            sync: true,
            certs_d: None,
            unpack: UnpackOptions::default(),
            defer_unpack: false,
        }
    }
}

/// The repositories and actions a request needs a token for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Scope(Vec<String>);

impl Scope {
    pub(crate) fn pull(repo: &str) -> Scope {
        Scope(vec![format!("repository:{repo}:pull")])
    }
    pub(crate) fn push(repo: &str) -> Scope {
        Scope(vec![format!("repository:{repo}:pull,push")])
    }
    /// Adds pull access to another repository (for a cross-repository mount).
    pub(crate) fn and_pull(mut self, repo: &str) -> Scope {
        self.0.push(format!("repository:{repo}:pull"));
        self
    }
    fn key(&self) -> String {
        self.0.join(" ")
    }
}

/// A request body that can be sent again on a retry.
#[derive(Clone, Copy)]
pub(crate) enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of `file` from `offset`.
    File {
        file: &'a File,
        offset: u64,
        len: u64,
    },
}

/// One request: what to send and, for errors, what it was for.
pub(crate) struct Req<'a> {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Body<'a>,
    pub(crate) scope: &'a Scope,
    /// `manifest localhost:5000/app:1`, `blob sha256:...`.
    pub(crate) what: &'a str,
}

struct Token {
    value: String,
    expires: Instant,
}

#[derive(Default)]
struct AuthState {
    probed: bool,
    challenge: Option<Challenge>,
    tokens: HashMap<String, Token>,
}

/// A client of one registry. Cheap to share between threads (`&Client` is `Sync`).
pub struct Client {
    registry: String,
    base: String,
    agent: Agent,
    pub(crate) opts: ClientOptions,
    credentials: Option<Credentials>,
    auth: Mutex<AuthState>,
    /// Held while a token is fetched: parallel transfers wait for one token, not fetch many.
    token_fetch: Mutex<()>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("registry", &self.registry)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of `registry` (`host[:port]` as in a reference). Reads the docker config
    /// file for credentials unless the options carry some.
    pub fn new(registry: &str, opts: ClientOptions) -> Result<Client> {
        let credentials = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => match opts
                .docker_config
                .clone()
                .or_else(credentials::docker_config_path)
            {
                Some(path) => credentials::from_docker_config(&path, registry)?,
                None => None,
            },
        };
        let certs_d = opts
            .certs_d
            .clone()
            .unwrap_or_else(|| PathBuf::from(super::tls::DEFAULT_CERTS_D));
        let tls = super::tls::for_registry(&certs_d, registry)?;
        // Certificates for a registry mean it speaks TLS, even on loopback.
        let scheme = if tls.is_none() && plain_http(registry, &opts.insecure_registries) {
            "http"
        } else {
            "https"
        };
        let host = if registry == DEFAULT_REGISTRY {
            "registry-1.docker.io"
        } else {
            registry
        };
        let mut config = Agent::config_builder();
        if let Some(tls) = tls {
            config = config.tls_config(tls);
        }
        let agent = config
            .http_status_as_error(false)
            .user_agent(concat!("compose/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(opts.timeout))
            .timeout_per_read(Some(opts.timeout))
            .build()
            .new_agent();
        Ok(Client {
            registry: registry.to_owned(),
            base: format!("{scheme}://{host}"),
            agent,
            opts,
            credentials,
            auth: Mutex::new(AuthState::default()),
            token_fetch: Mutex::new(()),
        })
    }

    /// The registry, as named in references.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// `http(s)://host[:port]`.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// `GET /v2/`: checks that this is a registry and learns how it wants auth. Done once,
    /// before the first request; errors when unreachable.
    pub fn probe(&self) -> Result<()> {
        if self.state().probed {
            return Ok(());
        }
        let url = format!("{}/v2/", self.base);
        let mut resp = self.with_retries("GET /v2/", || self.agent.get(&url).call())?;
        let status = resp.status().as_u16();
        let mut st = self.state();
        st.probed = true;
        match status {
            200..=299 => Ok(()),
            401 => {
                st.challenge = header(&resp, "www-authenticate").and_then(|h| challenge::parse(&h));
                Ok(())
            }
            _ => {
                drop(st);
                Err(RegistryError::Status {
                    registry: self.registry.clone(),
                    method: "GET".into(),
                    url,
                    status,
                    detail: error_detail(&mut resp),
                })
            }
        }
    }

    /// Sends a request with auth, retrying on connection errors and 5xx answers, and once
    /// more after a 401 that brings a challenge to answer. Returns any final answer.
    pub(crate) fn send(&self, req: &Req<'_>) -> Result<Response<ureq::Body>> {
        self.probe()?;
        let mut answered_challenge = false;
        loop {
            let auth = self.auth_header(req.scope)?;
            let resp =
                self.with_retries(req.what, || self.agent.run(build(req, auth.as_deref())?))?;
            if resp.status().as_u16() == 401 && !answered_challenge {
                answered_challenge = true;
                if self.learn_challenge(&resp, req.scope) {
                    continue;
                }
            }
            return Ok(resp);
        }
    }

    /// Runs `f`, again after a backoff while it fails to connect or gets 5xx/429.
    fn with_retries(
        &self,
        what: &str,
        mut f: impl FnMut() -> std::result::Result<Response<ureq::Body>, ureq::Error>,
    ) -> Result<Response<ureq::Body>> {
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let more = attempt <= self.opts.retries;
            match f() {
                Ok(r) if more && (r.status().is_server_error() || r.status().as_u16() == 429) => {
                    tracing::debug!(status = %r.status(), what, attempt, "retrying");
                }
                Ok(r) => return Ok(r),
                Err(e) if more && retryable(&e) => {
                    tracing::debug!(err = %e, what, attempt, "retrying");
                }
                Err(source) => {
                    return Err(RegistryError::Connection {
                        registry: self.registry.clone(),
                        what: what.to_owned(),
                        attempts: attempt,
                        source,
                    });
                }
            }
            self.backoff(attempt);
        }
    }

    /// Sleeps before retry `attempt` (1-based): backoff, doubled each time, at most 8 s.
    pub(crate) fn backoff(&self, attempt: u32) {
        let wait = self
            .opts
            .backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(5));
        std::thread::sleep(wait.min(Duration::from_secs(8)));
    }

    fn state(&self) -> std::sync::MutexGuard<'_, AuthState> {
        self.auth.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes the challenge of a 401; true when there is something new to try.
    fn learn_challenge(&self, resp: &Response<ureq::Body>, scope: &Scope) -> bool {
        let Some(ch) = header(resp, "www-authenticate").and_then(|h| challenge::parse(&h)) else {
            return false;
        };
        let mut st = self.state();
        st.tokens.remove(&scope.key());
        let useful = match &ch {
            Challenge::Basic => {
                self.credentials.is_some() && st.challenge != Some(Challenge::Basic)
            }
            Challenge::Bearer { .. } => true,
        };
        st.challenge = Some(ch);
        useful
    }

    /// The `Authorization` value for a request needing `scope`, fetching a token if needed.
    fn auth_header(&self, scope: &Scope) -> Result<Option<String>> {
        if let Some(h) = self.cached_auth(scope) {
            return Ok(h);
        }
        let _one_at_a_time = self.token_fetch.lock().unwrap_or_else(|p| p.into_inner());
        // Another thread may have fetched it while this one waited.
        if let Some(h) = self.cached_auth(scope) {
            return Ok(h);
        }
        let (realm, service) = match &self.state().challenge {
            Some(Challenge::Bearer { realm, service, .. }) => (realm.clone(), service.clone()),
            _ => return Ok(None),
        };
        let token = self.fetch_token(&realm, service.as_deref(), scope)?;
        let value = format!("Bearer {}", token.value);
        self.state().tokens.insert(scope.key(), token);
        Ok(Some(value))
    }

    /// The header when no token must be fetched for it: `Some(None)` for no auth at all.
    fn cached_auth(&self, scope: &Scope) -> Option<Option<String>> {
        let st = self.state();
        match &st.challenge {
            None => Some(None),
            Some(Challenge::Basic) => {
                Some(self.credentials.as_ref().map(Credentials::basic_header))
            }
            Some(Challenge::Bearer { .. }) => st
                .tokens
                .get(&scope.key())
                .filter(|t| t.expires > Instant::now())
                .map(|t| Some(format!("Bearer {}", t.value))),
        }
    }

    /// `GET realm?service=..&scope=..`, with Basic auth when there are credentials.
    fn fetch_token(&self, realm: &str, service: Option<&str>, scope: &Scope) -> Result<Token> {
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
            expires_in: Option<u64>,
        }
        let what = format!("token for {}", scope.key());
        let mut query = Vec::new();
        if let Some(s) = service {
            query.push(("service", s));
        }
        for s in &scope.0 {
            query.push(("scope", s.as_str()));
        }
        let started = Instant::now();
        let mut resp = self.with_retries(&what, || {
            let mut r = self.agent.get(realm).query_pairs(query.iter().copied());
            if let Some(c) = &self.credentials {
                r = r.header("authorization", c.basic_header());
            }
            r.call()
        })?;
        let status = resp.status().as_u16();
        if status == 401 || status == 403 {
            return Err(RegistryError::Unauthorized {
                registry: self.registry.clone(),
                what,
                detail: self.unauthorized_detail(&mut resp),
            });
        }
        if !resp.status().is_success() {
            return Err(RegistryError::Status {
                registry: self.registry.clone(),
                method: "GET".into(),
                url: realm.to_owned(),
                status,
                detail: error_detail(&mut resp),
            });
        }
        let bad = |reason: String| RegistryError::BadResponse {
            what: format!("{what} from {realm}"),
            reason,
        };
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_ERROR_BODY)
            .read_to_vec()
            .map_err(|e| bad(format!("cannot read it: {e}")))?;
        let t: TokenResponse =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        let value = t
            .token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("no token in it".into()))?;
        // The spec's default lifetime is 60 s.
        let life = Duration::from_secs(t.expires_in.unwrap_or(60).max(1));
        Ok(Token {
            value,
            expires: started
                + life
                    .saturating_sub(TOKEN_MARGIN)
                    .max(Duration::from_secs(1)),
        })
    }

    /// Turns an answer the caller did not expect into an error naming `what`.
    pub(crate) fn status_error(
        &self,
        req: &Req<'_>,
        resp: &mut Response<ureq::Body>,
    ) -> RegistryError {
        let status = resp.status().as_u16();
        match status {
            404 => RegistryError::NotFound {
                registry: self.registry.clone(),
                what: req.what.to_owned(),
            },
            401 | 403 => RegistryError::Unauthorized {
                registry: self.registry.clone(),
                what: req.what.to_owned(),
                detail: self.unauthorized_detail(resp),
            },
            _ => RegistryError::Status {
                registry: self.registry.clone(),
                method: req.method.to_string(),
                url: req.url.clone(),
                status,
                detail: error_detail(resp),
            },
        }
    }

    fn unauthorized_detail(&self, resp: &mut Response<ureq::Body>) -> String {
        let body = error_detail(resp);
        let creds = if self.credentials.is_some() {
            "the credentials were refused"
        } else {
            "no credentials given (use --username/--password-stdin or docker login)"
        };
        if body.is_empty() {
            creds.to_owned()
        } else {
            format!("{creds}: {body}")
        }
    }

    /// `base/v2/<repo>/<rest>`.
    pub(crate) fn url(&self, repo: &str, rest: &str) -> String {
        format!("{}/v2/{repo}/{rest}", self.base)
    }

    /// A `Location` header made absolute against the base URL.
    pub(crate) fn location(&self, resp: &Response<ureq::Body>, what: &str) -> Result<String> {
        let loc = header(resp, "location").ok_or_else(|| RegistryError::BadResponse {
            what: what.to_owned(),
            reason: "the registry sent no Location header".into(),
        })?;
        Ok(
            if loc.starts_with("http://") || loc.starts_with("https://") {
                loc
            } else if loc.starts_with('/') {
                format!("{}{loc}", self.base)
            } else {
                format!("{}/{loc}", self.base)
            },
        )
    }
}

/// Builds the `http::Request` of `req` with the body ready to (re)send.
fn build<'a>(
    req: &'a Req<'a>,
    auth: Option<&str>,
) -> std::result::Result<http::Request<SendBody<'static>>, ureq::Error> {
    let mut b = http::Request::builder()
        .method(req.method.clone())
        .uri(&req.url);
    for (k, v) in &req.headers {
        b = b.header(*k, v);
    }
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    let body = match req.body {
        Body::Empty => {
            if req.method == Method::PUT
                || req.method == Method::POST
                || req.method == Method::PATCH
            {
                b = b.header("content-length", "0");
            }
            SendBody::none()
        }
        Body::Bytes(bytes) => {
            b = b.header("content-length", bytes.len().to_string());
            SendBody::from_owned_reader(io::Cursor::new(bytes.to_vec()))
        }
        Body::File { file, offset, len } => {
            b = b.header("content-length", len.to_string());
            let f = file.try_clone()?;
            SendBody::from_owned_reader(FileRange {
                file: f,
                pos: offset,
                end: offset + len,
            })
        }
    };
    Ok(b.body(body)?)
}

/// Reads `file` from `pos` to `end` by position.
struct FileRange {
    file: File,
    pos: u64,
    end: u64,
}

impl Read for FileRange {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let want = buf.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "blob file shrank",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Errors worth another attempt: the connection, not the request, failed.
pub(crate) fn retryable(e: &ureq::Error) -> bool {
    matches!(
        e,
        ureq::Error::Io(_)
            | ureq::Error::ConnectionFailed
            | ureq::Error::Timeout(_)
            | ureq::Error::HostNotFound
            | ureq::Error::Protocol(_)
            | ureq::Error::BodyStalled
    )
}

/// A response header as text.
pub(crate) fn header(resp: &Response<ureq::Body>, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The registry's error message: the `errors[].message` (and code) of its JSON body, else
/// the body's first line.
pub(crate) fn error_detail(resp: &mut Response<ureq::Body>) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    let Ok(bytes) = resp
        .body_mut()
        .with_config()
        .limit(MAX_ERROR_BODY)
        .read_to_vec()
    else {
        return String::new();
    };
    if let Ok(e) = serde_json::from_slice::<Errors>(&bytes) {
        let parts: Vec<String> = e
            .errors
            .into_iter()
            .map(|i| match (i.code, i.message) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (c, m) => c.or(m).unwrap_or_default(),
            })
            .collect();
        return parts.join("; ");
    }
    String::from_utf8_lossy(&bytes)
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

/// Loopback registries and those the user named insecure get plain HTTP.
fn plain_http(registry: &str, insecure: &[String]) -> bool {
    if insecure.iter().any(|i| i == registry) {
        return true;
    }
    let host = match registry.rsplit_once(':') {
        // `[::1]:5000`
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host == "localhost" || insecure.iter().any(|i| i == host) {
        return true;
    }
    host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_only_for_loopback_and_insecure() {
        assert!(plain_http("localhost:5000", &[]));
        assert!(plain_http("127.0.0.1:5000", &[]));
        assert!(plain_http("127.3.4.5", &[]));
        assert!(plain_http("[::1]:5000", &[]));
        assert!(!plain_http("128.0.0.1:5000", &[]));
        assert!(!plain_http("registry.example.com", &[]));
        assert!(plain_http("reg.lan:5000", &["reg.lan:5000".to_owned()]));
        assert!(plain_http("reg.lan:5000", &["reg.lan".to_owned()]));
        let opts = ClientOptions {
            docker_config: Some("/nonexistent/config.json".into()),
            ..ClientOptions::default()
        };
        let c = Client::new("docker.io", opts).unwrap();
        assert_eq!(c.base_url(), "https://registry-1.docker.io");
    }
}
