//! The guard layer: protects an axum router with Warden's policy in one line.
//!
//! ```no_run
//! # async fn run() {
//! use warden_client::{Client, guard::Guard};
//! let warden = Client::new("http://127.0.0.1:8080");
//! let app: axum::Router = axum::Router::new()
//!     .route("/api/reports", axum::routing::get(|| async { "reports" }))
//!     .layer(Guard::remote(warden));
//! # }
//! ```
//!
//! Each request is decided as Warden decides its own routes: the caller's bearer token names
//! the subject, the request path is the object and the HTTP method the action (`HEAD` as
//! `GET`). No token, or one Warden refuses: 401 with `WWW-Authenticate: Bearer`. Denied: 403.
//! Warden or the replica unable to decide: 503 (fails closed). Every answer body is Warden's
//! `{"error", "message"}` shape, and allowed answers carry `Warden-Policy-Version`.
//!
//! - [`Guard::remote`]: asks `/v1/check` (concurrent checks batched), and caches each decision
//!   for [`Guard::cache_ttl`] keyed by token, method, path and the newest policy version seen.
//! - [`Guard::replica`]: decides in-process with a [`Replica`]. The caller's subject (scopes
//!   and attributes; roles are in the policy) is looked up once per token with `/v1/me` and
//!   kept for [`Guard::cache_ttl`]: an attribute change reaches the replica's decisions after
//!   at most that long; a role or rule change with the next policy version.
//!
//! Paths are decided as sent: a path with a percent sign, an empty segment (`//`), a `.` or
//! `..` segment, or a trailing slash is refused (400) rather than decided under a spelling
//! the router would read differently.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use warden_policy::Object;

use crate::replica::Replica;
use crate::{Check, Client, Error, POLICY_VERSION_HEADER, PolicySubject};

/// Who a request the guard allowed comes from, in the request's extensions for handlers
/// (object checks: [`Guard::check_object`]).
#[derive(Clone)]
pub struct Caller {
    /// The bearer token.
    pub token: Arc<str>,
    /// The subject the replica decided with (replica mode).
    pub subject: Option<Arc<warden_policy::Subject>>,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a secret: never printed.
        f.debug_struct("Caller")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// Most cached entries; a full cache is emptied (a flood of tokens costs requests, not memory).
const MAX_CACHED: usize = 10_000;

/// The layer. Clone it freely: clones share their caches.
#[derive(Clone)]
pub struct Guard {
    client: Client,
    mode: Mode,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    newest: Arc<std::sync::atomic::AtomicI64>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum Mode {
    Remote,
    Replica(Replica),
}

#[derive(Clone)]
enum Cached {
    /// Remote: a decision and the version it was made under.
    Decision {
        allowed: bool,
        version: i64,
        at: Instant,
    },
    /// Replica: the caller's subject.
    Subject {
        subject: Arc<warden_policy::Subject>,
        at: Instant,
    },
}

impl Guard {
    /// Asks Warden (`/v1/check`) about every request not in the short decision cache.
    pub fn remote(client: Client) -> Self {
        Self::new(client, Mode::Remote)
    }

    /// Decides in-process with `replica`; `client` looks callers up (`/v1/me`).
    pub fn replica(client: Client, replica: Replica) -> Self {
        Self::new(client, Mode::Replica(replica))
    }

    fn new(client: Client, mode: Mode) -> Self {
        Self {
            client,
            mode,
            ttl: Duration::from_secs(1),
            cache: Arc::default(),
            newest: Arc::new(std::sync::atomic::AtomicI64::new(0)),
        }
    }

    /// How long a decision (remote) or a caller's subject (replica) is reused: 1 s by default;
    /// zero turns the cache off.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    fn cached(&self, key: &str) -> Option<Cached> {
        let cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.get(key).cloned()
    }

    fn remember(&self, key: String, entry: Cached) {
        if self.ttl.is_zero() {
            return;
        }
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= MAX_CACHED {
            cache.clear();
        }
        cache.insert(key, entry);
    }

    /// Decides one request: `Ok` (the version, and in replica mode the caller's subject) when
    /// allowed, else the refusal to send.
    pub async fn decide(
        &self,
        token: &str,
        method: &str,
        path: &str,
    ) -> Result<(i64, Option<Arc<warden_policy::Subject>>), Response> {
        use std::sync::atomic::Ordering::Relaxed;
        let action = if method == "HEAD" { "GET" } else { method };
        match &self.mode {
            Mode::Remote => {
                let key = format!("{action} {path} {token}");
                let newest = self.newest.load(Relaxed);
                if let Some(Cached::Decision {
                    allowed,
                    version,
                    at,
                }) = self.cached(&key)
                    && version >= newest
                    && at.elapsed() < self.ttl
                {
                    return if allowed {
                        Ok((version, None))
                    } else {
                        Err(refusal(
                            StatusCode::FORBIDDEN,
                            "forbidden",
                            "the policy does not allow this request",
                        ))
                    };
                }
                let decided = self
                    .client
                    .with_token(token)
                    .check(Check::route(path, action))
                    .await
                    .map_err(from_warden)?;
                let version = decided.policy_version;
                self.newest.fetch_max(version, Relaxed);
                let allowed = decided.result.allowed;
                self.remember(
                    key,
                    Cached::Decision {
                        allowed,
                        version,
                        at: Instant::now(),
                    },
                );
                if allowed {
                    Ok((version, None))
                } else {
                    Err(refusal(
                        StatusCode::FORBIDDEN,
                        "forbidden",
                        "the policy does not allow this request",
                    ))
                }
            }
            Mode::Replica(replica) => {
                let subject = self.subject(token).await?;
                let Some((outcome, version)) =
                    replica.decide(&subject, &Object::route(path), action)
                else {
                    return Err(refusal(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "no policy is loaded yet; all access is denied",
                    ));
                };
                if outcome.allowed {
                    Ok((version, Some(subject)))
                } else {
                    Err(refusal(
                        StatusCode::FORBIDDEN,
                        "forbidden",
                        "the policy does not allow this request",
                    ))
                }
            }
        }
    }

    /// Object-level check for a handler: may `caller` do `action` on `object`? `Err` is the
    /// answer to send (403 when denied, 503 when nothing can decide). Remote mode asks
    /// `/v1/check` (batched with concurrent checks); replica mode decides in-process.
    pub async fn check_object(
        &self,
        caller: &Caller,
        object: &Object,
        action: &str,
    ) -> Result<(), Response> {
        let allowed = match (&self.mode, &caller.subject) {
            (Mode::Replica(replica), Some(subject)) => {
                let Some((outcome, _)) = replica.decide(subject, object, action) else {
                    return Err(refusal(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "unavailable",
                        "no policy is loaded yet; all access is denied",
                    ));
                };
                outcome.allowed
            }
            _ => {
                let check = Check::object(&object.resource, object.attributes.clone(), action);
                self.client
                    .with_token(&caller.token)
                    .allowed(check)
                    .await
                    .map_err(from_warden)?
            }
        };
        if allowed {
            Ok(())
        } else {
            Err(refusal(
                StatusCode::FORBIDDEN,
                "forbidden",
                "the policy does not allow this request",
            ))
        }
    }

    /// Caches `subject` for `token` as if `/v1/me` had answered it (replica mode; benchmarks
    /// and tests that have no Warden to ask). It expires like any cached subject.
    pub fn preload_subject(&self, token: &str, subject: warden_policy::Subject) {
        self.remember(
            format!("me {token}"),
            Cached::Subject {
                subject: Arc::new(subject),
                at: Instant::now(),
            },
        );
    }

    /// The caller's plain (lower-cased) name, as the policy sees it (`/v1/me`, cached).
    pub async fn caller_name(&self, token: &str) -> Result<String, Response> {
        Ok(self.subject(token).await?.name.clone())
    }

    /// The caller's subject, from the cache or `/v1/me`.
    async fn subject(&self, token: &str) -> Result<Arc<warden_policy::Subject>, Response> {
        let key = format!("me {token}");
        if let Some(Cached::Subject { subject, at }) = self.cached(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(subject);
        }
        let me = self
            .client
            .with_token(token)
            .me()
            .await
            .map_err(from_warden)?;
        let subject: Arc<warden_policy::Subject> = Arc::new(warden_policy::Subject::from(
            PolicySubject::clone(&me.policy_subject),
        ));
        self.remember(
            key,
            Cached::Subject {
                subject: subject.clone(),
                at: Instant::now(),
            },
        );
        Ok(subject)
    }
}

/// Warden's refusal of the caller's token as ours; anything else fails closed (503).
fn from_warden(e: Error) -> Response {
    match e.status() {
        Some(401) => refusal(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "the access token is not valid",
        ),
        Some(403) => refusal(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the policy does not allow this request",
        ),
        _ => refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "authorization is unavailable; retry later",
        ),
    }
}

/// A JSON error answer in Warden's shape.
pub fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"error": code, "message": message}).to_string();
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    res
}

/// Whether a path is decided as sent (see the module's doc).
fn plain_path(path: &str) -> bool {
    path == "/"
        || (path.starts_with('/')
            && !path.contains('%')
            && !path.ends_with('/')
            && path[1..]
                .split('/')
                .all(|s| !s.is_empty() && s != "." && s != ".."))
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token.trim())
}

impl<S> tower::Layer<S> for Guard {
    type Service = GuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GuardService {
            guard: self.clone(),
            inner,
        }
    }
}

/// The service [`Guard`] wraps around a router or route.
#[derive(Clone, Debug)]
pub struct GuardService<S> {
    guard: Guard,
    inner: S,
}

impl<S> tower::Service<Request> for GuardService<S>
where
    S: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone that was made ready serves this request; the fresh one waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        Box::pin(async move {
            let Some(token) = bearer(&req).map(str::to_owned) else {
                return Ok(refusal(
                    StatusCode::UNAUTHORIZED,
                    "missing_token",
                    "send Authorization: Bearer <access token>",
                ));
            };
            let path = req.uri().path().to_owned();
            if !plain_path(&path) {
                return Ok(refusal(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "the path is not in its plain form",
                ));
            }
            match guard.decide(&token, req.method().as_str(), &path).await {
                Ok((version, subject)) => {
                    let mut req = req;
                    req.extensions_mut().insert(Caller {
                        token: token.into(),
                        subject,
                    });
                    let mut res = inner.call(req).await?;
                    res.headers_mut()
                        .entry(POLICY_VERSION_HEADER)
                        .or_insert_with(|| HeaderValue::from(version));
                    Ok(res)
                }
                Err(refused) => Ok(refused),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_paths_are_decided() {
        for (path, plain) in [
            ("/", true),
            ("/api/documents", true),
            ("/api/documents/5", true),
            ("/api/documents/", false),
            ("/api//documents", false),
            ("/api/./documents", false),
            ("/api/../admin", false),
            ("/api/documents/%35", false),
            ("api", false),
        ] {
            assert_eq!(plain_path(path), plain, "{path}");
        }
    }
}
