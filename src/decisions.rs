//! The decision log: every decision of the route guard, of a handler's object check and of
//! `/v1/check`, as one JSON object per line (`serve --decision-log PATH|-`), and the last
//! [`RING_CAPACITY`] of them in memory for `GET /v1/admin/decisions`.
//!
//! - **Never blocks a request.** A decision is handed to a writer task through a bounded
//!   channel with `try_send`; when the writer falls behind, the record is dropped and counted
//!   (`warden_decision_log_dropped_total`) instead of making the request wait.
//! - **No secrets.** A record names the subject (user name), resource, action, outcome,
//!   matched rule ids, policy version, latency and the request id; of attributes only the
//!   values of those the operator lists in `--decision-log-attributes`; of the rules that could
//!   not be evaluated, the names (not values) of the attributes missing or mistyped.
//!   Tokens and passwords never reach a decision, so they cannot reach the log.
//! - **Sampling** (`--decision-log-sample`) keeps every `1/rate`-th decision (deterministic,
//!   so a rate of 1 is every decision), in the sink and in the in-memory ring alike.
//! - **Nothing without a sink.** Without `--decision-log` no decision is recorded at all (the
//!   admin API then has nothing to show): a decision log at sample 1 costs real throughput on a
//!   small machine, and an operator who did not ask for it must not pay for it.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::engine::Decision;
use crate::policy::{AttrValue, Object, Subject};

/// Decisions kept in memory for the admin API (the newest ones, all subjects together).
pub const RING_CAPACITY: usize = 10_000;
/// Records waiting for the writer, at most; more are dropped and counted.
pub const CHANNEL_CAPACITY: usize = 8_192;
/// Longest a written line waits in the writer's buffer before it is flushed to the sink.
const FLUSH_AFTER: Duration = Duration::from_millis(50);
/// How often the writer looks for new records when it has none.
const POLL: Duration = Duration::from_millis(10);

/// Where decision lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    /// Standard output (`--decision-log -`).
    Stdout,
    /// Appended to this file, created 0600 (`--decision-log PATH`).
    File(PathBuf),
}

/// `--decision-log*` settings.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Where to write lines; None = no decision log (and nothing in the ring).
    pub sink: Option<Sink>,
    /// Fraction of decisions written (0 to 1).
    pub sample: f64,
    /// Attributes whose values may be logged.
    pub attributes: Vec<String>,
}

/// One decision, as logged and as `GET /v1/admin/decisions` returns it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Record {
    /// When it was decided (RFC 3339, UTC; formatted when written or read, not on the
    /// request path).
    #[serde(serialize_with = "rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub time: SystemTime,
    /// The request's `X-Request-Id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub request_id: Option<Arc<str>>,
    /// `route` (the guard in front of every protected route), `object` (a handler's check on
    /// the object it loaded) or `check` (`POST /v1/check`).
    pub point: &'static str,
    /// The subject's user name. (Short strings are kept inline: a record costs the request
    /// path no allocation.)
    #[schema(value_type = String)]
    pub subject: compact_str::CompactString,
    /// The resource decided on (canonical path or resource type).
    #[schema(value_type = String)]
    pub resource: compact_str::CompactString,
    /// The action.
    #[schema(value_type = String)]
    pub action: compact_str::CompactString,
    /// Allowed?
    pub allowed: bool,
    /// Whether the decision is a deny because something could not be evaluated (rules named
    /// in `unevaluated`, with no matching deny rule) or no policy was loaded.
    pub error: bool,
    /// Ids of the rules that matched: the allows, and the deny that overrode them.
    #[schema(value_type = Vec<i64>)]
    pub matched_rules: smallvec::SmallVec<[i64; 4]>,
    /// Rules that applied but whose condition could not be evaluated (an allow among them
    /// granted nothing, a deny denied), with the attributes that were missing or mistyped
    /// (names only, never values). Absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unevaluated: Option<Vec<crate::policy::decide::Unevaluated>>,
    /// The policy version it was decided under (absent when none was loaded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_version: Option<i64>,
    /// How long the decision took, in microseconds.
    pub latency_us: u64,
    /// Values of the attributes listed in `--decision-log-attributes`, as `subject.NAME` and
    /// `object.NAME`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, AttrValue>,
}

/// What a decision point reports.
#[derive(Debug)]
pub struct Asked<'a> {
    /// `route`, `object` or `check`.
    pub point: &'static str,
    /// The request id, if the request has one.
    pub request_id: Option<Arc<str>>,
    /// Who.
    pub subject: &'a Subject,
    /// On what.
    pub object: &'a Object,
    /// Doing what.
    pub action: &'a str,
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let t: chrono::DateTime<chrono::Utc> = (*t).into();
    s.collect_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

/// A record travels by value: the writer thread puts it in an `Arc` for the ring, so the
/// request path allocates nothing for it and no memory is freed on another thread than the
/// one that allocated it (which glibc pays for with arena locks).
#[allow(clippy::large_enum_variant)] // by design: boxing the record is the allocation avoided
enum Msg {
    Record(Record),
    Settle(mpsc::Sender<()>),
}

/// The log's request-side handle (see the module docs).
#[derive(Debug)]
pub struct DecisionLog {
    tx: SyncSender<Msg>,
    ring: Arc<Mutex<VecDeque<Arc<Record>>>>,
    /// Write every `period`-th decision to the sink (0 = none).
    period: u64,
    counter: AtomicU64,
    loggable: Vec<String>,
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Msg")
    }
}

impl DecisionLog {
    /// Opens the sink and starts the writer thread (a plain thread, so that formatting and
    /// writing never take a runtime worker, and the sink is written with buffered blocking
    /// writes rather than a blocking-pool hop per write).
    pub fn start(settings: &Settings) -> std::io::Result<Self> {
        let out: Option<Box<dyn Write + Send>> = match &settings.sink {
            None => None,
            Some(Sink::Stdout) => Some(Box::new(std::io::stdout())),
            Some(Sink::File(path)) => Some(Box::new(open(path)?)),
        };
        let period = match (&out, settings.sample) {
            (Some(_), rate) if rate > 0.0 && rate.is_finite() => {
                (1.0 / rate.min(1.0)).round().max(1.0) as u64
            }
            _ => 0,
        };
        let (tx, rx) = mpsc::sync_channel(CHANNEL_CAPACITY);
        let ring = Arc::new(Mutex::new(VecDeque::with_capacity(RING_CAPACITY)));
        let writer_ring = ring.clone();
        std::thread::Builder::new()
            .name("decision-log".into())
            .spawn(move || {
                write_records(
                    rx,
                    writer_ring,
                    out.map(|o| BufWriter::with_capacity(64 * 1024, o)),
                )
            })?;
        Ok(Self {
            tx,
            ring,
            period,
            counter: AtomicU64::new(0),
            loggable: settings.attributes.clone(),
        })
    }

    /// Records one decision (`outcome` None: no policy was loaded), if it is sampled. Returns
    /// false when the record was dropped because the writer is behind. Without a sink nothing
    /// is recorded: an operator who did not ask for a decision log pays nothing for it.
    pub fn record(&self, asked: &Asked<'_>, outcome: Option<&Decision>, latency: Duration) -> bool {
        if self.period == 0
            || !self
                .counter
                .fetch_add(1, Ordering::Relaxed)
                .is_multiple_of(self.period)
        {
            return true;
        }
        let record = Record {
            time: SystemTime::now(),
            request_id: asked.request_id.clone(),
            point: asked.point,
            subject: asked.subject.name.as_str().into(),
            resource: asked.object.resource.as_str().into(),
            action: asked.action.into(),
            allowed: outcome.is_some_and(|d| d.allowed),
            error: outcome.is_none_or(|d| d.error.is_some()),
            matched_rules: outcome
                .map(|d| d.matched_rules.iter().copied().collect())
                .unwrap_or_default(),
            unevaluated: outcome
                .filter(|d| !d.unevaluated.is_empty())
                .map(|d| d.unevaluated.clone()),
            policy_version: outcome.map(|d| d.policy_version),
            latency_us: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
            attributes: self.loggable_values(asked),
        };
        self.tx.try_send(Msg::Record(record)).is_ok()
    }

    fn loggable_values(&self, asked: &Asked<'_>) -> BTreeMap<String, AttrValue> {
        let mut out = BTreeMap::new();
        for name in &self.loggable {
            if let Some(v) = asked.subject.attributes.get(name) {
                out.insert(format!("subject.{name}"), v.clone());
            }
            if let Some(v) = asked.object.attributes.get(name) {
                out.insert(format!("object.{name}"), v.clone());
            }
        }
        out
    }

    /// Waits (at most `wait`) until every decision recorded before this call is in the ring
    /// and written to the sink.
    pub async fn settle(&self, wait: Duration) {
        let (done, settled) = mpsc::channel();
        let tx = self.tx.clone();
        let _ = tokio::time::timeout(
            wait,
            tokio::task::spawn_blocking(move || {
                if tx.send(Msg::Settle(done)).is_ok() {
                    let _ = settled.recv();
                }
            }),
        )
        .await;
    }

    /// The newest decisions about `subject` (a user name), newest first, at most `limit`.
    pub fn recent(&self, subject: &str, limit: usize) -> Vec<Arc<Record>> {
        let ring = self.ring.lock().unwrap_or_else(|p| p.into_inner());
        ring.iter()
            .rev()
            .filter(|r| r.subject == subject)
            .take(limit)
            .cloned()
            .collect()
    }
}

/// Opens the decision log for appending: created 0600, and an existing file that group or
/// others could read is narrowed to 0600 (it names who did what, with attributes), as the
/// database file is.
fn open(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata()?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!("the decision log was readable by others; narrowing it to 0600");
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

type Out = BufWriter<Box<dyn Write + Send>>;

/// The writer thread: into the ring, then (sampled) to the sink's buffer, which is flushed
/// when it fills, when a line has waited [`FLUSH_AFTER`], and on settle; ends when the log's
/// handle is dropped.
fn write_records(
    rx: mpsc::Receiver<Msg>,
    ring: Arc<Mutex<VecDeque<Arc<Record>>>>,
    mut out: Option<Out>,
) {
    let mut line = Vec::with_capacity(512);
    let mut lines = LineWriter::default();
    let mut unflushed_since: Option<Instant> = None;
    loop {
        // Polled, not waited on: a sender never has to wake this thread (a futex call per
        // decision), the writer drains whatever arrived every POLL.
        let msg = match rx.try_recv() {
            Ok(msg) => msg,
            Err(TryRecvError::Empty) => {
                flush(&mut out, &mut unflushed_since);
                std::thread::sleep(POLL);
                continue;
            }
            Err(TryRecvError::Disconnected) => break,
        };
        match msg {
            Msg::Record(record) => {
                let record = Arc::new(record);
                if let Some(out) = out.as_mut() {
                    line.clear();
                    lines.write(&record, &mut line);
                    line.push(b'\n');
                    if let Err(e) = out.write_all(&line) {
                        tracing::error!(error = %e, "decision log write failed");
                    }
                    unflushed_since.get_or_insert_with(Instant::now);
                }
                let mut ring = ring.lock().unwrap_or_else(|p| p.into_inner());
                if ring.len() == RING_CAPACITY {
                    ring.pop_front();
                }
                ring.push_back(record);
            }
            Msg::Settle(done) => {
                flush(&mut out, &mut unflushed_since);
                let _ = done.send(());
            }
        }
        if unflushed_since.is_some_and(|t| t.elapsed() >= FLUSH_AFTER) {
            flush(&mut out, &mut unflushed_since);
        }
    }
    flush(&mut out, &mut unflushed_since);
}

fn flush(out: &mut Option<Out>, unflushed_since: &mut Option<Instant>) {
    if unflushed_since.take().is_some()
        && let Some(out) = out.as_mut()
        && let Err(e) = out.flush()
    {
        tracing::error!(error = %e, "decision log flush failed");
    }
}

/// Writes a [`Record`] as the JSON object its `Serialize` gives, byte for byte (a test holds
/// them equal), without serde's per-field machinery: the writer thread shares two cores with
/// the request path, so what it spends per record is taken from requests (ten checks are
/// eleven records). The time's date and second are formatted once per second; strings that
/// need no escaping are copied as they are; the rare parts (`unevaluated`, `attributes`) go
/// through serde.
#[derive(Debug, Default)]
struct LineWriter {
    /// The second `prefix` was formatted for (seconds since the epoch), and that prefix:
    /// `"time":"2026-12-07T20:30:04.`.
    second: Option<u64>,
    prefix: Vec<u8>,
}

impl LineWriter {
    fn write(&mut self, r: &Record, out: &mut Vec<u8>) {
        let since = r
            .time
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        if self.second != Some(since.as_secs()) {
            let t: chrono::DateTime<chrono::Utc> =
                (std::time::UNIX_EPOCH + Duration::from_secs(since.as_secs())).into();
            self.prefix.clear();
            self.prefix.extend_from_slice(b"{\"time\":\"");
            self.prefix
                .extend_from_slice(t.format("%Y-%m-%dT%H:%M:%S.").to_string().as_bytes());
            self.second = Some(since.as_secs());
        }
        out.extend_from_slice(&self.prefix);
        let micros = since.subsec_micros();
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(micros);
        out.extend(std::iter::repeat_n(b'0', 6 - digits.len()));
        out.extend_from_slice(digits.as_bytes());
        out.extend_from_slice(b"Z\"");
        if let Some(id) = &r.request_id {
            out.extend_from_slice(b",\"request_id\":");
            json_str(out, id);
        }
        out.extend_from_slice(b",\"point\":");
        json_str(out, r.point);
        out.extend_from_slice(b",\"subject\":");
        json_str(out, &r.subject);
        out.extend_from_slice(b",\"resource\":");
        json_str(out, &r.resource);
        out.extend_from_slice(b",\"action\":");
        json_str(out, &r.action);
        out.extend_from_slice(if r.allowed {
            b",\"allowed\":true"
        } else {
            b",\"allowed\":false"
        });
        out.extend_from_slice(if r.error {
            b",\"error\":true"
        } else {
            b",\"error\":false"
        });
        out.extend_from_slice(b",\"matched_rules\":[");
        let mut n = itoa::Buffer::new();
        for (i, id) in r.matched_rules.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(n.format(*id).as_bytes());
        }
        out.push(b']');
        if let Some(unevaluated) = &r.unevaluated {
            out.extend_from_slice(b",\"unevaluated\":");
            serde(out, unevaluated);
        }
        if let Some(v) = r.policy_version {
            out.extend_from_slice(b",\"policy_version\":");
            out.extend_from_slice(n.format(v).as_bytes());
        }
        out.extend_from_slice(b",\"latency_us\":");
        out.extend_from_slice(n.format(r.latency_us).as_bytes());
        if !r.attributes.is_empty() {
            out.extend_from_slice(b",\"attributes\":");
            serde(out, &r.attributes);
        }
        out.push(b'}');
    }
}

/// A JSON string as serde_json writes it: copied when nothing in it needs escaping.
fn json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde(out, s);
    }
}

/// Appends `v` through serde_json (writing to a `Vec` cannot fail; these values are plain
/// data, so neither can serializing them).
fn serde<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    if serde_json::to_writer(&mut *out, v).is_err() {
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::decide::Unevaluated;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        // Plain names, and anything: quotes, backslashes, control characters, non-ASCII.
        prop_oneof![
            "[a-z0-9:/._-]{0,30}",
            any::<String>(),
            "[\"\\\\\u{0}-\u{1f}\u{7f}é€😀a]{0,12}",
        ]
    }

    fn record() -> impl Strategy<Value = Record> {
        (
            (
                0u64..4_000_000_000,
                0u32..1_000_000,
                proptest::option::of(text()),
                prop_oneof![Just("route"), Just("object"), Just("check")],
                text(),
                text(),
                text(),
            ),
            (
                any::<bool>(),
                any::<bool>(),
                proptest::collection::vec(any::<i64>(), 0..7),
                proptest::option::of(proptest::collection::vec(
                    (
                        any::<i64>(),
                        text(),
                        proptest::collection::vec(text(), 0..3),
                    ),
                    0..3,
                )),
                proptest::option::of(any::<i64>()),
                any::<u64>(),
                proptest::collection::btree_map(text(), any::<i32>(), 0..3),
            ),
        )
            .prop_map(
                |(
                    (secs, micros, request_id, point, subject, resource, action),
                    (allowed, error, matched, unevaluated, policy_version, latency_us, attrs),
                )| Record {
                    time: std::time::UNIX_EPOCH
                        + Duration::from_secs(secs)
                        + Duration::from_micros(u64::from(micros)),
                    request_id: request_id.map(Arc::from),
                    point,
                    subject: subject.as_str().into(),
                    resource: resource.as_str().into(),
                    action: action.as_str().into(),
                    allowed,
                    error,
                    matched_rules: matched.into_iter().collect(),
                    unevaluated: unevaluated.map(|u| {
                        u.into_iter()
                            .map(|(rule_id, attribute, also)| Unevaluated {
                                rule_id,
                                effect: if rule_id % 2 == 0 {
                                    crate::policy::rule::Effect::Allow
                                } else {
                                    crate::policy::rule::Effect::Deny
                                },
                                reason: crate::policy::condition::EvalErrorKind::MissingAttribute,
                                attributes: also,
                                message: attribute,
                            })
                            .collect()
                    }),
                    policy_version,
                    latency_us,
                    attributes: attrs
                        .into_iter()
                        .map(|(k, v)| (k, AttrValue::Int(v)))
                        .collect(),
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The hand-written line is exactly what `Serialize` gives, for every record, across
        /// seconds (the cached prefix is never reused for another second).
        #[test]
        fn a_line_is_the_records_serde_json(records in proptest::collection::vec(record(), 1..6)) {
            let mut lines = LineWriter::default();
            for r in &records {
                let mut ours = Vec::new();
                lines.write(r, &mut ours);
                let theirs = serde_json::to_vec(r).expect("serializes");
                prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&theirs));
            }
        }
    }

    #[test]
    fn micros_are_zero_padded_and_the_second_moves() {
        let mut lines = LineWriter::default();
        let at = |s: u64, us: u64| Record {
            time: std::time::UNIX_EPOCH + Duration::from_secs(s) + Duration::from_micros(us),
            request_id: None,
            point: "route",
            subject: "alice".into(),
            resource: "/api/documents/1".into(),
            action: "GET".into(),
            allowed: true,
            error: false,
            matched_rules: smallvec::smallvec![3],
            unevaluated: None,
            policy_version: Some(7),
            latency_us: 1,
            attributes: BTreeMap::new(),
        };
        let mut out = Vec::new();
        lines.write(&at(1_796_000_000, 42), &mut out);
        lines.write(&at(1_796_000_001, 999_999), &mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.contains("\"time\":\"2026-11-30T00:53:20.000042Z\""),
            "{text}"
        );
        assert!(
            text.contains("\"time\":\"2026-11-30T00:53:21.999999Z\""),
            "{text}"
        );
    }
}
