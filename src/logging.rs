//! Log output: `--log-format text|json` and `--log-level` (`WARDEN_LOG`).
//!
//! - `text`: one human line per event, ANSI colours only when the output is a terminal (never
//!   escape codes in a file or a pipe).
//! - `json`: one object per line, never coloured, with stable field names: `timestamp`
//!   (RFC 3339, UTC), `level`, `target`, `message`, the event's own fields at the top level
//!   (e.g. `status`, `latency_ms`, `request_id` on an access line), and `span` with the
//!   request's `request_id`, `method` and `route` for every line logged while serving it.
//!
//! Secrets never reach a log line: passwords and keys are `SecretString`s (they print as
//! `[REDACTED]`), tokens are never logged, database URLs are logged redacted.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The variable holding the log filter (also `--log-level`).
pub const LOG_ENV: &str = "WARDEN_LOG";
/// The filter when none is given: Warden's own lines from `info` up (the startup line, one
/// access line per request, security events), other crates' warnings.
pub const DEFAULT_FILTER: &str = "warn,warden=info";

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// A subscriber writing `format` lines that pass `filter` to `writer`, coloured when `ansi`
/// (text only).
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    ansi: bool,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Text => Box::new(builder.with_ansi(ansi).finish()),
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .with_ansi(false)
                .finish(),
        ),
    }
}

/// Installs the process-wide subscriber writing to stderr. Err names a filter that does not
/// parse.
pub fn init(format: LogFormat, filter: &str) -> Result<(), String> {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_new(filter).map_err(|e| format!("--log-level / {LOG_ENV}: {e}"))?;
    let ansi = std::io::stderr().is_terminal();
    tracing::subscriber::set_global_default(subscriber(format, filter, ansi, std::io::stderr))
        .map_err(|e| e.to_string())
}

/// What `warden serve` tells its operator outside the log (where it listens, how to log in,
/// a start that failed), in the process's log format: a plain line in `text`; in `json` one
/// object per line with the log's own fields (`timestamp`, `level`, `target` =
/// `warden::console`, `message`) plus the line's facts, so that under docker or systemd every
/// line either stream carries parses as JSON.
#[derive(Debug, Clone, Copy)]
pub struct Console {
    format: LogFormat,
}

impl Console {
    /// Prints in `format`.
    pub fn new(format: LogFormat) -> Self {
        Self { format }
    }

    /// An informational line on stdout, with `fields` as JSON members in `json` format.
    pub fn say(&self, message: &str, fields: &[(&str, serde_json::Value)]) {
        println!("{}", self.line("INFO", message, fields));
    }

    /// A failure on stderr: `error: <message>` in `text` format.
    pub fn error(&self, message: &str) {
        match self.format {
            LogFormat::Text => eprintln!("error: {message}"),
            LogFormat::Json => eprintln!("{}", self.line("ERROR", message, &[])),
        }
    }

    fn line(&self, level: &str, message: &str, fields: &[(&str, serde_json::Value)]) -> String {
        match self.format {
            LogFormat::Text => message.to_owned(),
            LogFormat::Json => {
                let mut object = serde_json::Map::new();
                object.insert(
                    "timestamp".into(),
                    chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                        .into(),
                );
                object.insert("level".into(), level.into());
                object.insert("target".into(), "warden::console".into());
                object.insert("message".into(), message.into());
                for (name, value) in fields {
                    object.insert((*name).to_owned(), value.clone());
                }
                serde_json::Value::Object(object).to_string()
            }
        }
    }
}

/// A request path as an access line shows it when no route matched: at most
/// [`LOGGED_PATH_CHARS`] characters (then `…`), control characters escaped (`\n`, `\u{7f}`),
/// so a crafted path can neither forge a line nor flood the log.
pub fn loggable_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len().min(LOGGED_PATH_CHARS) + 8);
    for (n, c) in path.chars().enumerate() {
        if n == LOGGED_PATH_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// How much of an unmatched path an access line keeps.
pub const LOGGED_PATH_CHARS: usize = 256;

/// A latency in milliseconds rounded to the microsecond (`0.068`, not `0.06752999999999999`).
pub fn latency_ms(elapsed: std::time::Duration) -> f64 {
    elapsed.as_micros() as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmatched_path_is_bounded_and_its_control_characters_escaped() {
        assert_eq!(loggable_path("/nope"), "/nope");
        assert_eq!(
            loggable_path("/a\nb\r\u{7f}\u{1b}[31m"),
            "/a\\nb\\r\\u{7f}\\u{1b}[31m"
        );
        let long = format!("/{}", "é".repeat(1000));
        let shown = loggable_path(&long);
        assert_eq!(shown.chars().count(), LOGGED_PATH_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert!(!loggable_path("/x\ny").contains('\n'));
    }

    #[test]
    fn latencies_are_rounded_to_the_microsecond() {
        use std::time::Duration;
        assert_eq!(
            latency_ms(Duration::from_nanos(67_530)).to_string(),
            "0.067"
        );
        assert_eq!(
            latency_ms(Duration::from_micros(1_234_567)).to_string(),
            "1234.567"
        );
        assert_eq!(latency_ms(Duration::ZERO).to_string(), "0");
    }

    #[test]
    fn json_console_lines_are_objects_with_the_log_fields() {
        let c = Console::new(LogFormat::Json);
        let line = c.line(
            "INFO",
            "warden listening on http://x",
            &[("url", "http://x".into())],
        );
        let v: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "warden::console");
        assert_eq!(v["message"], "warden listening on http://x");
        assert_eq!(v["url"], "http://x");
        assert!(v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert!(!line.contains('\n'));
        assert_eq!(Console::new(LogFormat::Text).line("INFO", "hi", &[]), "hi");
    }
}
