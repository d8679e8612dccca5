//! Configuration from flags and `WARDEN_*` environment variables, validated once at start.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

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

    /// Failed logins allowed per username per window before 429.
    #[arg(long, env = "WARDEN_LOGIN_FAILURES_PER_USER", default_value_t = 10)]
    pub login_failures_per_user: u32,

    /// Login attempts allowed per client address per window before 429.
    #[arg(long, env = "WARDEN_LOGIN_ATTEMPTS_PER_IP", default_value_t = 100)]
    pub login_attempts_per_ip: u32,

    /// Length of the login rate-limit window, in seconds.
    #[arg(long, env = "WARDEN_LOGIN_WINDOW_SECS", default_value_t = 300)]
    pub login_window_secs: i64,

    /// Registrations allowed per client address per window before 429.
    #[arg(long, env = "WARDEN_REGISTER_ATTEMPTS_PER_IP", default_value_t = 20)]
    pub register_attempts_per_ip: u32,

    /// Length of the registration rate-limit window, in seconds.
    #[arg(long, env = "WARDEN_REGISTER_WINDOW_SECS", default_value_t = 600)]
    pub register_window_secs: i64,

    /// Password of the bootstrap admin, used only when the database has no users yet.
    /// If unset, a random one is generated and printed once.
    #[arg(
        long = "admin-password",
        env = "WARDEN_ADMIN_PASSWORD",
        hide_env_values = true
    )]
    pub admin_password: Option<String>,

    /// Create the demo users and documents of the README walk-through (never use in production).
    #[arg(long, env = "WARDEN_DEMO")]
    pub demo: bool,
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
    pub login_limits: LoginLimits,
    /// Registration rate limits.
    pub register_limits: RegisterLimits,
    /// Bootstrap admin password, if given.
    pub admin_password: Option<SecretString>,
    /// Seed the demo data.
    pub demo: bool,
    /// Longest a request may take before it is abandoned with 503 `timeout`.
    pub request_timeout: Duration,
    /// Size, concurrency and deadline of matrix runs through the admin API.
    pub matrix_limits: crate::matrix::limits::RunLimits,
}

/// Default for [`Config::request_timeout`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Login rate-limit settings.
#[derive(Debug, Clone, Copy)]
pub struct LoginLimits {
    /// Failed attempts per username per window.
    pub failures_per_user: u32,
    /// Attempts per client address per window.
    pub attempts_per_ip: u32,
    /// Window length in seconds.
    pub window_secs: i64,
}

/// Registration rate-limit settings.
#[derive(Debug, Clone, Copy)]
pub struct RegisterLimits {
    /// Registration attempts (successful or not) per client address per window.
    pub attempts_per_ip: u32,
    /// Window length in seconds.
    pub window_secs: i64,
}

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
        if !args.database_url.starts_with("sqlite:") {
            return Err(ConfigError(
                "--database-url / WARDEN_DATABASE_URL must start with sqlite: (Postgres support is not built yet)".into(),
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
        if args.login_failures_per_user == 0 || args.login_attempts_per_ip == 0 {
            return Err(ConfigError("login rate limits must be at least 1".into()));
        }
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
        let admin_password = match args.admin_password {
            Some(p) => {
                crate::auth::domain::Password::parse(&p)
                    .map_err(|e| ConfigError(format!("WARDEN_ADMIN_PASSWORD: {e}")))?;
                Some(SecretString::from(p))
            }
            None => None,
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
            login_limits: LoginLimits {
                failures_per_user: args.login_failures_per_user,
                attempts_per_ip: args.login_attempts_per_ip,
                window_secs: args.login_window_secs,
            },
            register_limits: RegisterLimits {
                attempts_per_ip: args.register_attempts_per_ip,
                window_secs: args.register_window_secs,
            },
            admin_password,
            demo: args.demo,
            request_timeout: REQUEST_TIMEOUT,
            matrix_limits: crate::matrix::limits::RunLimits::default(),
        })
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
            login_limits: LoginLimits {
                failures_per_user: 10,
                attempts_per_ip: 100,
                window_secs: 300,
            },
            register_limits: RegisterLimits {
                attempts_per_ip: 20,
                window_secs: 600,
            },
            admin_password: None,
            demo: false,
            request_timeout: REQUEST_TIMEOUT,
            matrix_limits: crate::matrix::limits::RunLimits::default(),
        }
    }
}
