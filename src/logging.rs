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
