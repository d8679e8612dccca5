//! A client for [Warden](https://example.invalid/warden)'s API.
//!
//! - [`Client`]: tokens (password, refresh and client-credentials grants), `/v1/check` with
//!   automatic batching of concurrent checks into one request, `/v1/me`, and the admin calls
//!   the examples use. Typed errors ([`Error`]) map Warden's `{"error", "message"}` body;
//!   503 `busy` / `policy_stale` / `unavailable` answers are retried with backoff, honouring
//!   `Retry-After`; [`Authed::at_least`] sends `Warden-Min-Version` (read-your-writes).
//! - Feature `axum`: [`guard`], a tower layer that protects an axum router in one line, in
//!   remote mode (asks `/v1/check`, short decision cache) or replica mode (follows
//!   `GET /v1/policy/stream` and decides in-process with `warden-policy`).
//!
//! ```no_run
//! # async fn run() -> Result<(), warden_client::Error> {
//! let warden = warden_client::Client::new("http://127.0.0.1:8080");
//! let tokens = warden.password_grant("alice", "correct-horse-battery", None).await?;
//! let alice = warden.with_token(&tokens.access_token);
//! let allowed = alice.allowed(warden_client::Check::route("/api/documents", "GET")).await?;
//! # Ok(()) }
//! ```

mod batch;
mod error;
#[cfg(feature = "axum")]
pub mod guard;
#[cfg(feature = "axum")]
pub mod replica;
mod types;

use std::sync::Arc;
use std::time::Duration;

pub use error::{Error, Result};
pub use types::*;
pub use warden_policy;

/// Header naming the oldest policy version a request may be decided under.
pub const MIN_VERSION_HEADER: &str = "warden-min-version";
/// Header naming the policy version an answer was decided under (or a write created).
pub const POLICY_VERSION_HEADER: &str = "warden-policy-version";

/// How a [`Client`] behaves.
#[derive(Debug, Clone)]
pub struct Options {
    /// Retries of a retryable 503 (`busy`, `policy_stale`, ...) before its error is returned.
    pub retries: u32,
    /// The first backoff; doubled on every retry, and never shorter than `Retry-After`.
    pub backoff: Duration,
    /// The longest wait before one retry.
    pub max_backoff: Duration,
    /// Most checks sent in one `/v1/check` request (Warden takes at most 100).
    pub batch_size: usize,
    /// How long the first check of a batch waits for others to join it.
    pub batch_window: Duration,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            retries: 3,
            backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            batch_size: 100,
            batch_window: Duration::from_millis(2),
            timeout: Duration::from_secs(10),
        }
    }
}

/// A client of one Warden deployment. Cheap to clone (one connection pool, one batcher).
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    base: String,
    options: Options,
    batcher: batch::Batcher,
    /// `/v1/check` requests sent (batching's measure).
    check_requests: std::sync::atomic::AtomicU64,
}

/// A [`Client`] acting with one access token.
#[derive(Debug, Clone)]
pub struct Authed {
    client: Client,
    token: Arc<str>,
    min_version: Option<i64>,
}

impl Client {
    /// A client of the Warden at `base_url` (`http://127.0.0.1:8080`), default [`Options`].
    pub fn new(base_url: &str) -> Self {
        Self::with_options(base_url, Options::default())
    }

    /// A client with `options`.
    pub fn with_options(base_url: &str, options: Options) -> Self {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .build()
            .unwrap_or_default();
        Self {
            inner: Arc::new(Inner {
                http,
                base: base_url.trim_end_matches('/').to_owned(),
                batcher: batch::Batcher::default(),
                options,
                check_requests: std::sync::atomic::AtomicU64::new(0),
            }),
        }
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// `/v1/check` requests this client has sent (what batching saves).
    pub fn check_requests(&self) -> u64 {
        self.inner
            .check_requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Acts with `access_token` (`Authorization: Bearer`).
    pub fn with_token(&self, access_token: &str) -> Authed {
        Authed {
            client: self.clone(),
            token: access_token.into(),
            min_version: None,
        }
    }

    /// The OAuth2 password grant.
    ///
    /// # Errors
    /// 400 `invalid_grant` for a wrong name or password (which of them is not said), 429, 503.
    pub async fn password_grant(
        &self,
        username: &str,
        password: &str,
        scope: Option<&str>,
    ) -> Result<TokenSet> {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ];
        form.extend(scope.map(|s| ("scope", s)));
        self.token(&form, None).await
    }

    /// The refresh grant: a new access token and a new refresh token (the old one is used up).
    ///
    /// # Errors
    /// 400 `invalid_grant` for an unknown, used or expired refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenSet> {
        self.token(
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
            None,
        )
        .await
    }

    /// The client-credentials grant of a service account (HTTP Basic, RFC 6749 §2.3.1).
    ///
    /// # Errors
    /// 401 `invalid_client` for wrong credentials.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        scope: Option<&str>,
    ) -> Result<TokenSet> {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(scope.map(|s| ("scope", s)));
        self.token(&form, Some((client_id, client_secret))).await
    }

    async fn token(&self, form: &[(&str, &str)], basic: Option<(&str, &str)>) -> Result<TokenSet> {
        let url = format!("{}/v1/auth/token", self.inner.base);
        let answer = self
            .send(|| {
                let req = self.inner.http.post(&url).form(form);
                match basic {
                    Some((id, secret)) => req.basic_auth(id, Some(secret)),
                    None => req,
                }
            })
            .await?;
        decode(&answer.body)
    }

    /// Sends the request `make` builds, retrying retryable 503s with backoff.
    async fn send(&self, make: impl Fn() -> reqwest::RequestBuilder) -> Result<Answer> {
        let opts = &self.inner.options;
        let mut backoff = opts.backoff;
        let mut attempt = 0;
        loop {
            let res = make().send().await?;
            let status = res.status().as_u16();
            let version = res
                .headers()
                .get(POLICY_VERSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let retry_after = res
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .map(Duration::from_secs);
            let body = res.bytes().await?.to_vec();
            if (200..300).contains(&status) {
                return Ok(Answer { version, body });
            }
            let err = Error::from_answer(status, retry_after, &body);
            if !err.is_retryable() || attempt >= opts.retries {
                return Err(err);
            }
            attempt += 1;
            // Never sooner than Warden asked.
            let wait = retry_after.map_or(backoff, |r| r.max(backoff));
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(opts.max_backoff);
        }
    }
}

/// A successful answer.
struct Answer {
    version: Option<i64>,
    body: Vec<u8>,
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::Unexpected(e.to_string()))
}

impl Authed {
    /// The same token, asking that answers be decided under policy version `version` or newer
    /// (`Warden-Min-Version`): reads after a write see it, on any instance.
    pub fn at_least(mut self, version: i64) -> Self {
        self.min_version = Some(version);
        self
    }

    /// The access token.
    pub fn token(&self) -> &str {
        &self.token
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let inner = &self.client.inner;
        let mut req = inner
            .http
            .request(method, format!("{}{path}", inner.base))
            .bearer_auth(&*self.token);
        if let Some(v) = self.min_version {
            req = req.header(MIN_VERSION_HEADER, v);
        }
        req
    }

    /// Who the token names (`GET /v1/me`), and the subject the policy decides them as.
    ///
    /// # Errors
    /// 401 for a token Warden does not accept.
    pub async fn me(&self) -> Result<Me> {
        let answer = self
            .client
            .send(|| self.request(reqwest::Method::GET, "/v1/me"))
            .await?;
        decode(&answer.body)
    }

    /// Asks one question. Concurrent calls with the same token are sent together, as one
    /// `/v1/check` request of up to [`Options::batch_size`] checks.
    ///
    /// # Errors
    /// 401 (token), 403 (naming another subject without `any` on `check`), 422, 503.
    pub async fn check(&self, check: Check) -> Result<Decided> {
        batch::Batcher::ask(self, check).await
    }

    /// Whether [`Authed::check`] allowed.
    ///
    /// # Errors
    /// As [`Authed::check`].
    pub async fn allowed(&self, check: Check) -> Result<bool> {
        Ok(self.check(check).await?.result.allowed)
    }

    /// Asks many questions at once (split into requests of at most [`Options::batch_size`]),
    /// answers in order.
    ///
    /// # Errors
    /// As [`Authed::check`].
    pub async fn check_many(&self, checks: &[Check]) -> Result<Vec<Decided>> {
        let mut out = Vec::with_capacity(checks.len());
        for chunk in checks.chunks(self.client.inner.options.batch_size.clamp(1, 100)) {
            let response = self.post_checks(chunk).await?;
            out.extend(response.results.into_iter().map(|result| Decided {
                result,
                policy_version: response.policy_version,
            }));
        }
        Ok(out)
    }

    async fn post_checks(&self, checks: &[Check]) -> Result<CheckResponse> {
        #[derive(serde::Serialize)]
        struct Body<'a> {
            checks: &'a [Check],
        }
        self.client
            .inner
            .check_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let answer = self
            .client
            .send(|| {
                self.request(reqwest::Method::POST, "/v1/check")
                    .json(&Body { checks })
            })
            .await?;
        let response: CheckResponse = decode(&answer.body)?;
        if response.results.len() != checks.len() {
            return Err(Error::Unexpected("a result per check".into()));
        }
        Ok(response)
    }

    /// Adds a rule (admin). Returns the version the change created.
    ///
    /// # Errors
    /// 403 without the right, 409 on a conflict, 422 for an invalid rule.
    pub async fn add_rule(&self, rule: &NewRule) -> Result<Written> {
        let answer = self
            .client
            .send(|| {
                self.request(reqwest::Method::POST, "/v1/admin/rules")
                    .json(rule)
            })
            .await?;
        written(&answer)
    }

    /// Deletes a rule by id (admin). Returns the version the change created.
    ///
    /// # Errors
    /// 403 without the right, 404 for an unknown id.
    pub async fn delete_rule(&self, id: i64) -> Result<Written> {
        let path = format!("/v1/admin/rules/{id}");
        let answer = self
            .client
            .send(|| self.request(reqwest::Method::DELETE, &path))
            .await?;
        written(&answer)
    }

    /// Gives `member` (`user:<name>` or `role:<name>`) the role `role` (admin).
    ///
    /// # Errors
    /// 403 without the right, 409 when it is there already, 422 for invalid names.
    pub async fn assign(&self, member: &str, role: &str) -> Result<Written> {
        let body = serde_json::json!({"member": member, "role": role});
        let answer = self
            .client
            .send(|| {
                self.request(reqwest::Method::POST, "/v1/admin/roles/assignments")
                    .json(&body)
            })
            .await?;
        written(&answer)
    }

    /// The current policy version (admin: `GET /v1/admin/policy`).
    ///
    /// # Errors
    /// 403 without the right.
    pub async fn policy_version(&self) -> Result<i64> {
        let answer = self
            .client
            .send(|| self.request(reqwest::Method::GET, "/v1/admin/policy"))
            .await?;
        let v: serde_json::Value = decode(&answer.body)?;
        v["policy_version"]
            .as_i64()
            .ok_or_else(|| Error::Unexpected("no policy_version".into()))
    }
}

fn written(answer: &Answer) -> Result<Written> {
    answer
        .version
        .map(|policy_version| Written { policy_version })
        .ok_or_else(|| Error::Unexpected(format!("no {POLICY_VERSION_HEADER} header")))
}
