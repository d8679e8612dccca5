//! Configuration from flags and `WARDEN_*` environment variables, validated once at start.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

mod secrets;

pub use secrets::{read_secret_file, refuse_command_line_secrets};

/// Flags of `warden serve` (each also read from a `WARDEN_*` variable).
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (the printed address says which).
    #[arg(long, env = "WARDEN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// Database URL; the SQLite file is created and migrated if missing.
    #[arg(
        long,
        env = "WARDEN_DATABASE_URL",
        default_value = "sqlite://warden.db"
    )]
    pub database_url: String,

    /// Lifetime of access tokens, in seconds.
    #[arg(long, env = "WARDEN_ACCESS_TTL_SECS", default_value_t = 900)]
    pub access_ttl_secs: i64,

    /// Lifetime of refresh tokens, in seconds.
    #[arg(long, env = "WARDEN_REFRESH_TTL_SECS", default_value_t = 14 * 24 * 3600)]
    pub refresh_ttl_secs: i64,

    /// Longest a login session (a refresh-token family) lasts however often it is refreshed,
    /// in seconds; then the user logs in again.
    #[arg(long, env = "WARDEN_SESSION_MAX_SECS", default_value_t = 30 * 24 * 3600)]
    pub session_max_secs: i64,

    /// `iss` claim of issued tokens (and the only one accepted).
    #[arg(long, env = "WARDEN_ISSUER", default_value = "warden")]
    pub issuer: String,

    /// `aud` claim of issued tokens (and the only one accepted).
    #[arg(long, env = "WARDEN_AUDIENCE", default_value = "warden")]
    pub audience: String,

    /// Whether anyone may create an account with `POST /v1/auth/register`.
    #[arg(long, env = "WARDEN_ALLOW_REGISTRATION", default_value_t = true, action = clap::ArgAction::Set)]
    pub allow_registration: bool,

    /// Failed logins one account may have from one client before each further failure
    /// doubles a wait (30 s, 60 s, ...). Other clients of the account are not affected.
    #[arg(long, env = "WARDEN_LOGIN_FREE_FAILURES", default_value_t = 5)]
    pub login_free_failures: u32,

    /// Longest wait one (account, client) pair is given after failures, in seconds.
    #[arg(long, env = "WARDEN_LOGIN_BACKOFF_MAX_SECS", default_value_t = 900)]
    pub login_backoff_max_secs: i64,

    /// Failed logins allowed per client address per window, whatever the names, before 429.
    #[arg(long, env = "WARDEN_LOGIN_FAILURES_PER_CLIENT", default_value_t = 100)]
    pub login_failures_per_client: u32,

    /// Length of the per-client login window, in seconds.
    #[arg(long, env = "WARDEN_LOGIN_WINDOW_SECS", default_value_t = 300)]
    pub login_window_secs: i64,

    /// Reverse proxies (CIDRs, comma-separated, e.g. `10.0.0.0/8,::1`). Only a request whose
    /// TCP peer is in one of them has its client address taken from a forwarding header.
    #[arg(long, env = "WARDEN_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,

    /// The header the trusted proxies set: `x-forwarded-for` or `forwarded` (RFC 7239).
    /// Only this one is read: the other could come straight from the client.
    #[arg(
        long,
        env = "WARDEN_PROXY_HEADER",
        value_enum,
        default_value = "x-forwarded-for"
    )]
    pub proxy_header: crate::auth::client::ProxyHeader,

    /// How forwarded and checked paths are compared with route rules: `exact`, or
    /// `case-insensitive` for upstreams that match paths so (Express, ASP.NET): paths are then
    /// folded to lower case and route rules must be written in lower case.
    #[arg(long, env = "WARDEN_PATH_MATCH", value_enum, default_value = "exact")]
    pub path_match: crate::engine::resource::PathCase,

    /// Accept `;` segment parameters (`/app/admin;x`) in forwarded and checked paths. Off by
    /// default: Tomcat, Jetty and Spring strip them, so such a path is refused (403
    /// `ambiguous_path`) rather than decided as something the upstream does not serve.
    #[arg(long, env = "WARDEN_ALLOW_PATH_PARAMS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_path_params: bool,

    /// Registrations allowed per client address per window before 429.
    #[arg(long, env = "WARDEN_REGISTER_ATTEMPTS_PER_IP", default_value_t = 20)]
    pub register_attempts_per_ip: u32,

    /// Length of the registration rate-limit window, in seconds.
    #[arg(long, env = "WARDEN_REGISTER_WINDOW_SECS", default_value_t = 600)]
    pub register_window_secs: i64,

    /// Password of the bootstrap admin, used only when the database has no users yet; from
    /// the environment only (WARDEN_ADMIN_PASSWORD): the flag is refused, a value on a
    /// command line is readable by every local user. If unset, a random one is generated
    /// and printed once.
    #[arg(
        long = "admin-password",
        env = "WARDEN_ADMIN_PASSWORD",
        hide = true,
        hide_env_values = true
    )]
    pub admin_password: Option<String>,

    /// A file holding the bootstrap admin's password (instead of WARDEN_ADMIN_PASSWORD);
    /// refused unless only its owner can read it (`chmod 600`).
    #[arg(long, env = "WARDEN_ADMIN_PASSWORD_FILE")]
    pub admin_password_file: Option<std::path::PathBuf>,

    /// Longest a connection may take to send a complete request head, in seconds, counted
    /// from when it starts waiting for one; so also how long an idle keep-alive connection
    /// stays open.
    #[arg(long, env = "WARDEN_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// Longest a request body may take to arrive once the server starts reading it, in
    /// seconds (at most the 30 s request deadline); a slower one is answered 408
    /// `body_timeout` and its connection closed. With bodies capped at 64 KiB, the default
    /// asks at least 6.4 KiB/s of the largest body.
    #[arg(long, env = "WARDEN_BODY_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub body_read_timeout_secs: u64,

    /// How far below normal priority the password-hashing threads run (a nice value, 0-19;
    /// Linux). Above 0, a burst of logins (argon2id, ~20 ms of CPU each) yields the CPU to
    /// requests already being served instead of competing with them; 0 hashes at the request
    /// path's priority.
    #[arg(long, env = "WARDEN_HASHING_NICE", default_value_t = 0)]
    pub hashing_nice: i32,

    /// Run the password-hashing threads under Linux's SCHED_IDLE policy (`true`/`false`): a
    /// request-path thread that wakes up takes the core from a hash at once, and logins get
    /// only the CPU the request path leaves (on a saturated server they wait for it). Off by
    /// default: on a 2-core VM it stretched a burst of logins without lowering the other
    /// routes' p99 (BENCHMARKS.md).
    #[arg(long, env = "WARDEN_HASHING_IDLE", default_value_t = false, action = clap::ArgAction::Set)]
    pub hashing_idle: bool,

    /// Most client connections open at once; more wait in the listen backlog.
    #[arg(long, env = "WARDEN_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Most connections one client may hold open at once; one more is closed as soon as it
    /// is accepted. The client is the TCP peer address (IPv6 by /64); --trusted-proxies are
    /// exempt (they carry many clients), bounded by --max-connections only.
    #[arg(long, env = "WARDEN_MAX_CONNECTIONS_PER_CLIENT", default_value_t = 64)]
    pub max_connections_per_client: usize,

    /// A file holding the token signing key (Ed25519 PKCS#8 PEM, or a base64 32-byte seed),
    /// or set the key itself in WARDEN_SIGNING_KEY. The key is then never stored in the
    /// database (only its public half, for the JWKS). The file is refused unless only its
    /// owner can read it (`chmod 600`), as ssh refuses such a private key.
    #[arg(long, env = "WARDEN_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<std::path::PathBuf>,

    /// The signing key itself (same formats as --signing-key-file), from the environment
    /// only (WARDEN_SIGNING_KEY): the flag is refused.
    #[arg(long, env = "WARDEN_SIGNING_KEY", hide = true, hide_env_values = true)]
    pub signing_key: Option<SecretString>,

    /// Create the demo users and documents of the README walk-through (never use in production).
    /// Implies --example-documents.
    #[arg(long, env = "WARDEN_DEMO")]
    pub demo: bool,

    /// Mount the example resource `/api/documents` (a protected CRUD API that shows route,
    /// object and list decisions). Off by default: a production instance serves Warden's own
    /// API only, and `/api/documents` answers 404.
    #[arg(long, env = "WARDEN_EXAMPLE_DOCUMENTS")]
    pub example_documents: bool,

    /// Fraction of decisions (0 to 1) re-decided by casbin-rs off the request path; any
    /// disagreement with the compiled engine is logged as an error. 0 = off.
    #[arg(long, env = "WARDEN_SHADOW_CASBIN", default_value_t = 0.0)]
    pub shadow_casbin: f64,

    /// What decisions do while the database cannot be read: `serve` answers from the last
    /// policy loaded (a revoke made meanwhile on another instance is not seen until the
    /// database is back); `deny` answers 503 to every decision from the moment the policy
    /// has not been confirmed current for `--max-staleness-ms` (a lost, stopped or
    /// partitioned database) until it is back. Logins, refreshes and admin writes answer 503
    /// either way.
    #[arg(long, env = "WARDEN_ON_STORE_LOSS", value_enum, default_value_t = OnStoreLoss::Serve)]
    pub on_store_loss: OnStoreLoss,

    /// With `--on-store-loss deny`: the longest a decision may rely on a policy not confirmed
    /// current by a read of the database (the heartbeat reads it every 250 ms), in
    /// milliseconds; past it every decision is 503 `unavailable`. Longer than 250.
    #[arg(long, env = "WARDEN_MAX_STALENESS_MS", default_value_t = 1000)]
    pub max_staleness_ms: u64,

    /// Longest a request naming a minimum policy version (`Warden-Min-Version` header or
    /// `min_version` query parameter) waits for this instance to reach it before 503
    /// `policy_stale`, in milliseconds.
    #[arg(long, env = "WARDEN_MIN_VERSION_WAIT_MS", default_value_t = 2000)]
    pub min_version_wait_ms: u64,

    /// Serve `GET /metrics` on this address (e.g. an internal interface) instead of the main
    /// listener. Without it, the main listener answers /metrics only to loopback clients that
    /// did not come through a proxy; everyone else gets 404.
    #[arg(long, env = "WARDEN_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// Write every decision as one JSON line to this file (appended, created 0600), or to
    /// standard output with `-`. Off by default.
    #[arg(long, env = "WARDEN_DECISION_LOG")]
    pub decision_log: Option<String>,

    /// Fraction of decisions (0 to 1) written to --decision-log: every 1/RATE-th one.
    #[arg(long, env = "WARDEN_DECISION_LOG_SAMPLE", default_value_t = 1.0)]
    pub decision_log_sample: f64,

    /// Attributes whose values may appear in decision records (comma-separated). Only
    /// attribute names are logged otherwise.
    #[arg(long, env = "WARDEN_DECISION_LOG_ATTRIBUTES", value_delimiter = ',')]
    pub decision_log_attributes: Vec<String>,

    /// A YAML file listing trusted OpenID Connect issuers whose access tokens Warden accepts
    /// besides its own (README "Your identity provider"). Unknown keys are refused.
    #[arg(long, env = "WARDEN_OIDC_CONFIG")]
    pub oidc_config: Option<std::path::PathBuf>,
}

/// `--on-store-loss`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnStoreLoss {
    /// Keep deciding with the last consistent snapshot.
    Serve,
    /// Refuse every decision (503).
    Deny,
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen.
    pub listen: SocketAddr,
    /// Database URL.
    pub database_url: String,
    /// Access-token lifetime (seconds).
    pub access_ttl: i64,
    /// Refresh-token lifetime (seconds).
    pub refresh_ttl: i64,
    /// Absolute lifetime of a refresh-token family (seconds).
    pub session_max: i64,
    /// Token issuer.
    pub issuer: String,
    /// Token audience.
    pub audience: String,
    /// Self-registration on/off.
    pub allow_registration: bool,
    /// Login rate limits.
    pub login_limits: crate::auth::ratelimit::LoginLimits,
    /// Which peers may say who the client is.
    pub proxies: crate::auth::client::Proxies,
    /// `--path-match` and `--allow-path-params`: how free paths meet route rules.
    pub path_matching: crate::engine::resource::PathMatching,
    /// Registration rate limits.
    pub register_limits: crate::auth::ratelimit::RegisterLimits,
    /// Bootstrap admin password, if given.
    pub admin_password: Option<SecretString>,
    /// The signing key from outside the database, if given (PEM or base64 seed text).
    pub signing_key: Option<SecretString>,
    /// Seed the demo data.
    pub demo: bool,
    /// Mount the example resource `/api/documents` (`--example-documents`, implied by `--demo`).
    pub example_documents: bool,
    /// Fraction of decisions re-decided by casbin-rs (`--shadow-casbin`), 0 = off.
    pub shadow_casbin: f64,
    /// `--on-store-loss`.
    pub on_store_loss: OnStoreLoss,
    /// `--min-version-wait-ms`.
    pub min_version_wait: Duration,
    /// `--max-staleness-ms`.
    pub max_staleness: Duration,
    /// Longest a request may take before it is abandoned with 503 `timeout`.
    pub request_timeout: Duration,
    /// Connection limits.
    pub transport: crate::serve::Transport,
    /// Size, concurrency and deadline of matrix runs through the admin API.
    pub matrix_limits: crate::matrix::limits::RunLimits,
    /// `--metrics-listen`: a separate listener for /metrics (then not on the main one).
    pub metrics_listen: Option<SocketAddr>,
    /// `--decision-log*`.
    pub decision_log: crate::decisions::Settings,
    /// `--oidc-config`: the trusted external issuers (none by default).
    pub federation: Vec<crate::auth::federation::IssuerConfig>,
    /// `--hashing-nice` and `--hashing-idle`.
    pub hashing: crate::auth::password::Priority,
}

/// Default for [`Config::request_timeout`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A configuration value that cannot be used; the message names the flag.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Validates raw flags into a [`Config`].
    pub fn from_args(args: ServeArgs) -> Result<Self, ConfigError> {
        let listen: SocketAddr = args.listen.parse().map_err(|_| {
            ConfigError(format!(
                "--listen / WARDEN_LISTEN `{}` is not an address like 127.0.0.1:8080",
                args.listen
            ))
        })?;
        if crate::store::Backend::of_url(&args.database_url).is_none() {
            return Err(ConfigError(
                "--database-url / WARDEN_DATABASE_URL must start with sqlite: or postgres://"
                    .into(),
            ));
        }
        if !(30..=86_400).contains(&args.access_ttl_secs) {
            return Err(ConfigError(
                "--access-ttl-secs must be between 30 and 86400".into(),
            ));
        }
        if args.refresh_ttl_secs < args.access_ttl_secs || args.refresh_ttl_secs > 365 * 86_400 {
            return Err(ConfigError(
                "--refresh-ttl-secs must be at least the access-token lifetime and at most a year"
                    .into(),
            ));
        }
        if args.session_max_secs < args.refresh_ttl_secs || args.session_max_secs > 366 * 86_400 {
            return Err(ConfigError(
                "--session-max-secs must be at least the refresh-token lifetime and at most a year"
                    .into(),
            ));
        }
        for (flag, value) in [("--issuer", &args.issuer), ("--audience", &args.audience)] {
            if value.trim().is_empty() || value.len() > 256 {
                return Err(ConfigError(format!("{flag} must be 1-256 characters")));
            }
        }
        if args.login_free_failures == 0 || args.login_failures_per_client == 0 {
            return Err(ConfigError("login rate limits must be at least 1".into()));
        }
        if !(1..=86_400).contains(&args.login_backoff_max_secs) {
            return Err(ConfigError(
                "--login-backoff-max-secs must be between 1 and 86400".into(),
            ));
        }
        let trusted_proxies = args
            .trusted_proxies
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                crate::auth::client::Cidr::parse(s).map_err(|e| {
                    ConfigError(format!("--trusted-proxies / WARDEN_TRUSTED_PROXIES: {e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !(1..=86_400).contains(&args.login_window_secs) {
            return Err(ConfigError(
                "--login-window-secs must be between 1 and 86400".into(),
            ));
        }
        if args.register_attempts_per_ip == 0 {
            return Err(ConfigError(
                "--register-attempts-per-ip must be at least 1".into(),
            ));
        }
        if !(1..=86_400).contains(&args.register_window_secs) {
            return Err(ConfigError(
                "--register-window-secs must be between 1 and 86400".into(),
            ));
        }
        let heartbeat = crate::engine::HEARTBEAT.as_millis();
        if u128::from(args.max_staleness_ms) <= heartbeat || args.max_staleness_ms > 60_000 {
            return Err(ConfigError(format!(
                "--max-staleness-ms must be longer than the heartbeat ({heartbeat} ms) and at \
                 most 60000"
            )));
        }
        if args.min_version_wait_ms > 30_000 {
            return Err(ConfigError(
                "--min-version-wait-ms must be at most 30000".into(),
            ));
        }
        if !(0.0..=1.0).contains(&args.shadow_casbin) {
            return Err(ConfigError(
                "--shadow-casbin must be a fraction between 0 and 1".into(),
            ));
        }
        if !(1..=3_600).contains(&args.header_read_timeout_secs) {
            return Err(ConfigError(
                "--header-read-timeout-secs must be between 1 and 3600".into(),
            ));
        }
        if !(0..=19).contains(&args.hashing_nice) {
            return Err(ConfigError("--hashing-nice must be 0-19".into()));
        }
        if !(1..=REQUEST_TIMEOUT.as_secs()).contains(&args.body_read_timeout_secs) {
            return Err(ConfigError(format!(
                "--body-read-timeout-secs must be between 1 and {} (the request deadline)",
                REQUEST_TIMEOUT.as_secs()
            )));
        }
        if !(1..=1_000_000).contains(&args.max_connections) {
            return Err(ConfigError(
                "--max-connections must be between 1 and 1000000".into(),
            ));
        }
        // Above --max-connections it is simply the global cap: not an error, so lowering
        // the global cap alone stays valid.
        if !(1..=1_000_000).contains(&args.max_connections_per_client) {
            return Err(ConfigError(
                "--max-connections-per-client must be between 1 and 1000000".into(),
            ));
        }
        let metrics_listen = match &args.metrics_listen {
            Some(a) if !a.trim().is_empty() => Some(a.parse().map_err(|_| {
                ConfigError(format!(
                    "--metrics-listen / WARDEN_METRICS_LISTEN `{a}` is not an address like 127.0.0.1:9090"
                ))
            })?),
            _ => None,
        };
        if !(0.0..=1.0).contains(&args.decision_log_sample) {
            return Err(ConfigError(
                "--decision-log-sample must be a fraction between 0 and 1".into(),
            ));
        }
        let decision_log = crate::decisions::Settings {
            sink: match args.decision_log.as_deref().map(str::trim) {
                None | Some("") => None,
                Some("-") => Some(crate::decisions::Sink::Stdout),
                Some(path) => Some(crate::decisions::Sink::File(path.into())),
            },
            sample: args.decision_log_sample,
            attributes: args
                .decision_log_attributes
                .iter()
                .map(|a| a.trim().to_owned())
                .filter(|a| !a.is_empty())
                .collect(),
        };
        let signing_key = match (&args.signing_key_file, args.signing_key) {
            (Some(_), Some(_)) => {
                return Err(ConfigError(
                    "give the signing key once: --signing-key-file or WARDEN_SIGNING_KEY".into(),
                ));
            }
            (Some(path), None) => Some(read_secret_file("--signing-key-file", path)?),
            (None, key) => key,
        };
        if let Some(key) = &signing_key {
            crate::auth::keys::parse_external_key(key).map_err(|e| {
                ConfigError(format!("--signing-key-file / WARDEN_SIGNING_KEY: {e}"))
            })?;
        }
        let admin_password = match (&args.admin_password_file, args.admin_password) {
            (Some(_), Some(_)) => {
                return Err(ConfigError(
                    "give the admin password once: --admin-password-file or \
                     WARDEN_ADMIN_PASSWORD"
                        .into(),
                ));
            }
            (Some(path), None) => {
                let text = read_secret_file("--admin-password-file", path)?;
                // One line: the newline an editor or `echo` leaves is not part of it.
                Some(
                    text.expose_secret()
                        .trim_end_matches(['\r', '\n'])
                        .to_owned(),
                )
                .map(|p| (p, "--admin-password-file"))
            }
            (None, p) => p.map(|p| (p, "WARDEN_ADMIN_PASSWORD")),
        };
        let admin_password = match admin_password {
            Some((p, source)) => {
                crate::auth::domain::Password::parse(&p)
                    .map_err(|e| ConfigError(format!("{source}: {e}")))?;
                Some(SecretString::from(p))
            }
            None => None,
        };
        let federation = match &args.oidc_config {
            None => Vec::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(format!(
                        "--oidc-config / WARDEN_OIDC_CONFIG `{}`: {e}",
                        path.display()
                    ))
                })?;
                crate::auth::federation::config::parse(&text, &args.issuer).map_err(|e| {
                    ConfigError(format!(
                        "--oidc-config / WARDEN_OIDC_CONFIG `{}`: {e}",
                        path.display()
                    ))
                })?
            }
        };
        Ok(Self {
            listen,
            database_url: args.database_url,
            access_ttl: args.access_ttl_secs,
            refresh_ttl: args.refresh_ttl_secs,
            session_max: args.session_max_secs,
            issuer: args.issuer,
            audience: args.audience,
            allow_registration: args.allow_registration,
            login_limits: crate::auth::ratelimit::LoginLimits {
                free_failures: args.login_free_failures,
                backoff_max_secs: args.login_backoff_max_secs,
                failures_per_client: args.login_failures_per_client,
                window_secs: args.login_window_secs,
            },
            proxies: crate::auth::client::Proxies {
                trusted: trusted_proxies,
                header: args.proxy_header,
            },
            path_matching: crate::engine::resource::PathMatching {
                case: args.path_match,
                allow_params: args.allow_path_params,
            },
            register_limits: crate::auth::ratelimit::RegisterLimits {
                attempts_per_ip: args.register_attempts_per_ip,
                window_secs: args.register_window_secs,
            },
            admin_password,
            signing_key,
            demo: args.demo,
            example_documents: args.example_documents,
            shadow_casbin: args.shadow_casbin,
            on_store_loss: args.on_store_loss,
            min_version_wait: Duration::from_millis(args.min_version_wait_ms),
            max_staleness: Duration::from_millis(args.max_staleness_ms),
            request_timeout: REQUEST_TIMEOUT,
            transport: crate::serve::Transport {
                header_read_timeout: Duration::from_secs(args.header_read_timeout_secs),
                body_read_timeout: Duration::from_secs(args.body_read_timeout_secs),
                max_connections: args.max_connections,
                max_connections_per_client: args.max_connections_per_client,
            },
            matrix_limits: crate::matrix::limits::RunLimits::default(),
            metrics_listen,
            decision_log,
            federation,
            hashing: crate::auth::password::Priority {
                nice: args.hashing_nice,
                idle: args.hashing_idle,
            },
        })
    }

    /// Whether `/api/documents` is served: asked for, or implied by the demo (whose walk-through
    /// uses it).
    pub fn serves_example_documents(&self) -> bool {
        self.example_documents || self.demo
    }

    /// Defaults for a given database URL (tests and embedding).
    pub fn for_database(database_url: &str) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.to_owned(),
            access_ttl: 900,
            refresh_ttl: 14 * 24 * 3600,
            session_max: 30 * 24 * 3600,
            issuer: "warden".into(),
            audience: "warden".into(),
            allow_registration: true,
            login_limits: crate::auth::ratelimit::LoginLimits {
                free_failures: 5,
                backoff_max_secs: 900,
                failures_per_client: 100,
                window_secs: 300,
            },
            proxies: crate::auth::client::Proxies::default(),
            path_matching: crate::engine::resource::PathMatching::default(),
            register_limits: crate::auth::ratelimit::RegisterLimits {
                attempts_per_ip: 20,
                window_secs: 600,
            },
            admin_password: None,
            signing_key: None,
            demo: false,
            example_documents: false,
            shadow_casbin: 0.0,
            on_store_loss: OnStoreLoss::Serve,
            min_version_wait: Duration::from_secs(2),
            max_staleness: crate::engine::DEFAULT_MAX_STALENESS,
            request_timeout: REQUEST_TIMEOUT,
            transport: crate::serve::Transport {
                header_read_timeout: Duration::from_secs(10),
                body_read_timeout: Duration::from_secs(10),
                max_connections: 1024,
                max_connections_per_client: 64,
            },
            matrix_limits: crate::matrix::limits::RunLimits::default(),
            metrics_listen: None,
            decision_log: crate::decisions::Settings {
                sink: None,
                sample: 1.0,
                attributes: Vec::new(),
            },
            federation: Vec::new(),
            hashing: crate::auth::password::Priority::default(),
        }
    }
}
