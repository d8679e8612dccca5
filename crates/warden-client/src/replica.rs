//! A read-only, compiled copy of the policy, kept current by following
//! `GET /v1/policy/stream` (Server-Sent Events): decisions are made in-process.
//!
//! The replica starts empty and decides nothing until the first snapshot arrives (the guard
//! answers 503). On a disconnect it reconnects with `?from=<its version>`: the server resends
//! nothing when it is current, and a fresh snapshot otherwise (every event carries the whole
//! policy of its version, so no version's rules can be missed). A document that does not compile
//! is ignored (the previous policy stays).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use futures_util::StreamExt;
use tokio::sync::watch;
use warden_policy::decide::{Outcome, Policy};
use warden_policy::replica::PolicyDocument;
use warden_policy::{Object, Subject};

use crate::{Client, Error, Result};

/// How a replica gets the token it follows the stream with (it needs `GET` on
/// `/v1/policy/stream`): asked again on every reconnection.
#[derive(Clone)]
pub enum Credentials {
    /// A fixed access token (it expires: fine for tests and short-lived jobs).
    Token(String),
    /// A service account's client credentials (the usual choice).
    ClientCredentials {
        /// Client id.
        id: String,
        /// Client secret.
        secret: String,
    },
    /// A user's password.
    Password {
        /// Username.
        username: String,
        /// Password.
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets are never printed.
        f.write_str(match self {
            Credentials::Token(_) => "Credentials::Token",
            Credentials::ClientCredentials { .. } => "Credentials::ClientCredentials",
            Credentials::Password { .. } => "Credentials::Password",
        })
    }
}

impl Credentials {
    async fn token(&self, client: &Client) -> Result<String> {
        match self {
            Credentials::Token(t) => Ok(t.clone()),
            Credentials::ClientCredentials { id, secret } => Ok(client
                .client_credentials(id, secret, None)
                .await?
                .access_token),
            Credentials::Password { username, password } => Ok(client
                .password_grant(username, password, None)
                .await?
                .access_token),
        }
    }
}

/// One compiled version.
#[derive(Debug)]
pub struct Compiled {
    /// The policy version.
    pub version: i64,
    /// The compiled policy.
    pub policy: Policy,
}

/// A policy replica. Cheap to clone; the follower task stops when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Replica {
    shared: Arc<Shared>,
    _stop: Arc<StopOnDrop>,
}

#[derive(Debug)]
struct Shared {
    current: ArcSwapOption<Compiled>,
    version: watch::Sender<i64>,
    connections: AtomicU64,
    /// [`Replica::reconnect`].
    kick: tokio::sync::Notify,
}

/// Stops the follower task when the last [`Replica`] clone goes.
#[derive(Debug)]
struct StopOnDrop(Arc<tokio::sync::Notify>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        // A stored permit: the task stops even if it was not waiting at this moment.
        self.0.notify_one();
    }
}

impl Replica {
    /// Starts following the stream of `client`'s Warden with `credentials` (in a task on the
    /// current tokio runtime).
    pub fn follow(client: &Client, credentials: Credentials) -> Self {
        let shared = Arc::new(Shared {
            current: ArcSwapOption::empty(),
            version: watch::channel(0).0,
            connections: AtomicU64::new(0),
            kick: tokio::sync::Notify::new(),
        });
        let stop = Arc::new(tokio::sync::Notify::new());
        let (task_shared, task_stop) = (shared.clone(), stop.clone());
        let client = client.clone();
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(50);
            loop {
                let from = task_shared.current.load().as_ref().map(|c| c.version);
                tokio::select! {
                    outcome = follow_once(&client, &credentials, &task_shared, from) => {
                        if matches!(outcome, Ok(true)) {
                            backoff = Duration::from_millis(50);
                        }
                    }
                    () = task_stop.notified() => return,
                    () = task_shared.kick.notified() => {
                        backoff = Duration::from_millis(1);
                    }
                }
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = task_stop.notified() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        });
        Self {
            shared,
            _stop: Arc::new(StopOnDrop(stop)),
        }
    }

    /// A replica fixed at `doc` that follows nothing (offline tools, tests and benchmarks).
    ///
    /// # Errors
    /// The document does not compile.
    pub fn fixed(
        doc: PolicyDocument,
    ) -> std::result::Result<Self, warden_policy::replica::ReplicaError> {
        let version = doc.version;
        let policy = doc.compile()?;
        let shared = Arc::new(Shared {
            current: ArcSwapOption::new(Some(Arc::new(Compiled { version, policy }))),
            version: watch::channel(version).0,
            connections: AtomicU64::new(0),
            kick: tokio::sync::Notify::new(),
        });
        Ok(Self {
            shared,
            _stop: Arc::new(StopOnDrop(Arc::new(tokio::sync::Notify::new()))),
        })
    }

    /// The version decided with, if any snapshot arrived.
    pub fn version(&self) -> Option<i64> {
        self.shared.current.load().as_ref().map(|c| c.version)
    }

    /// The compiled policy now decided with.
    pub fn current(&self) -> Option<Arc<Compiled>> {
        self.shared.current.load_full()
    }

    /// Decides one request in-process; `None` when no snapshot has arrived (fail closed).
    pub fn decide(&self, sub: &Subject, obj: &Object, act: &str) -> Option<(Outcome, i64)> {
        let current = self.shared.current.load();
        let c = current.as_ref()?;
        Some((c.policy.decide(sub, obj, act), c.version))
    }

    /// Waits until the replica has `version` or newer; false after `timeout`.
    pub async fn wait_for(&self, version: i64, timeout: Duration) -> bool {
        let mut rx = self.shared.version.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|v| *v >= version))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Every version the replica installs, as it installs it.
    pub fn versions(&self) -> watch::Receiver<i64> {
        self.shared.version.subscribe()
    }

    /// Drops the stream connection and connects again from the version held (what a network
    /// failure does; tests and operators use it).
    pub fn reconnect(&self) {
        self.shared.kick.notify_one();
    }

    /// How many times the stream was (re)connected.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::Relaxed)
    }
}

/// One connection: reads events until the stream ends. `Ok(true)` when it connected.
async fn follow_once(
    client: &Client,
    credentials: &Credentials,
    shared: &Shared,
    from: Option<i64>,
) -> Result<bool> {
    let token = credentials.token(client).await?;
    let mut url = format!("{}/v1/policy/stream", client.base_url());
    if let Some(v) = from {
        url.push_str(&format!("?from={v}"));
    }
    let res = client
        .inner
        .http
        .get(&url)
        .bearer_auth(&token)
        // The stream has no end: only the connection may time out.
        .timeout(Duration::from_secs(24 * 3600))
        .send()
        .await?;
    if !res.status().is_success() {
        let status = res.status().as_u16();
        let body = res.bytes().await.unwrap_or_default();
        return Err(Error::from_answer(status, None, &body));
    }
    shared.connections.fetch_add(1, Ordering::Relaxed);
    let mut body = res.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = body.next().await {
        buf.extend_from_slice(&chunk?);
        while let Some(end) = find_blank_line(&buf) {
            let block: Vec<u8> = buf.drain(..end).collect();
            if let Some(doc) = parse_event(&block) {
                install(shared, doc).await;
            }
        }
    }
    Ok(true)
}

/// The end (exclusive, blank line included) of the first complete event in `buf`.
fn find_blank_line(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2)
}

/// The document of a `snapshot` or `version` event; None for comments and other events.
fn parse_event(block: &[u8]) -> Option<PolicyDocument> {
    let text = std::str::from_utf8(block).ok()?;
    let (mut event, mut data) = ("", String::new());
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            event = v.trim_start();
        } else if let Some(v) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    matches!(event, "snapshot" | "version")
        .then(|| serde_json::from_str(&data).ok())
        .flatten()
}

async fn install(shared: &Shared, doc: PolicyDocument) {
    if shared
        .current
        .load()
        .as_ref()
        .is_some_and(|c| c.version >= doc.version)
    {
        return;
    }
    let version = doc.version;
    // Compiling a large policy takes milliseconds: off the async runtime.
    let compiled = tokio::task::spawn_blocking(move || doc.compile()).await;
    if let Ok(Ok(policy)) = compiled {
        shared
            .current
            .store(Some(Arc::new(Compiled { version, policy })));
        shared.version.send_replace(version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_parsed_from_their_lines_and_comments_are_skipped() {
        let doc = PolicyDocument {
            version: 4,
            model: "m".into(),
            rules: vec![],
            assignments: vec![],
        };
        let json = serde_json::to_string(&doc).expect("json");
        let block = format!("event: version\nid: 4\ndata: {json}\n\n");
        assert_eq!(parse_event(block.as_bytes()), Some(doc));
        assert_eq!(parse_event(b": keep-alive\n\n"), None);
        assert_eq!(parse_event(b"event: other\ndata: {}\n\n"), None);
        let buf = b": ping\n\nevent: snapshot\n";
        assert_eq!(find_blank_line(buf), Some(8));
    }
}
