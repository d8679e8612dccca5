//! The `warden` command: parses config, starts tracing, dispatches to the library.

use std::process::ExitCode;
use std::sync::Arc;

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use warden::cli::{self, CheckFormat, PolicySource, RenderFormat};
use warden::config::{Config, ServeArgs};
use warden::logging::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "warden",
    version,
    about = "Authentication and Casbin-based authorization service",
    after_help = "Logs go to stderr. WARDEN_LOG (or --log-level) picks which lines, as a tracing \
filter: `info`, `warden=debug`, `warn,warden::access=off`; WARDEN_LOG_FORMAT (or --log-format) \
picks text or json."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log line format: `text` (coloured only on a terminal) or `json` (one object per line).
    #[arg(
        long,
        global = true,
        env = "WARDEN_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
    /// Which log lines to print, as a tracing filter (`info`, `warden=debug`,
    /// `warn,warden::access=off`).
    #[arg(long, global = true, env = "WARDEN_LOG", default_value = warden::logging::DEFAULT_FILTER)]
    log_level: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service.
    #[command(
        after_help = "Secrets come from the environment or a file only its owner can \
read, never from a flag's value (any local user can read a command line): WARDEN_ADMIN_PASSWORD \
or --admin-password-file, WARDEN_SIGNING_KEY or --signing-key-file, and a database password in \
WARDEN_DATABASE_URL. --admin-password, --signing-key and a --database-url holding a password are \
refused."
    )]
    Serve(Box<ServeArgs>),
    /// Allow/deny matrices: check, render, record.
    #[command(subcommand)]
    Matrix(MatrixCommand),
    /// Policy files: lint, export, import.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Accounts: reset a password.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Token signing keys: rotate.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Policy analysis: who can, what can, access reviews (JSON or CSV on stdout).
    #[command(subcommand)]
    Analyze(AnalyzeCommand),
    /// GET /healthz of a running server (a container's HEALTHCHECK): exit 0 on 2xx, else 1.
    Healthcheck(warden::healthcheck::HealthcheckArgs),
}

/// `--database-url`, shared by every subcommand that opens the database.
#[derive(Debug, clap::Args)]
struct DatabaseArg {
    /// Database URL.
    #[arg(
        long = "database-url",
        env = "WARDEN_DATABASE_URL",
        default_value = "sqlite://warden.db"
    )]
    url: String,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// A new signing key (new kid) signs from the next start on; the old public key stays in
    /// the JWKS until every token it signed has expired. Exit 0 done, 2 refused.
    Rotate {
        #[command(flatten)]
        db: DatabaseArg,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Set a new password (from WARDEN_ADMIN_PASSWORD, else the first line of stdin),
    /// revoke the account's earlier tokens and audit it. Exit 0 done, 2 refused.
    ResetPassword {
        /// The account.
        #[arg(default_value = "admin")]
        username: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Create an account (role `user`) without a password and print a one-time
    /// set-password token for its owner (`POST /v1/auth/set-password`). Works with
    /// registration off. Exit 0 done, 2 refused.
    CreateUser {
        /// The new account's name.
        username: String,
        /// How long the set-password token works, in seconds (300 to 2592000).
        #[arg(long, default_value_t = warden::auth::lifecycle::SET_PASSWORD_TTL_DEFAULT)]
        ttl_secs: i64,
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Delete an account: its role assignments, sessions and tokens go, its name is never
    /// given again. Refused (exit 2) when nobody else could administer the policy.
    DeleteUser {
        /// The account.
        username: String,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

#[derive(Debug, Subcommand)]
enum AnalyzeCommand {
    /// Every account allowed an action on an object, with the granting rules and role chains.
    WhoCan {
        /// Resource type (`document`) or route (`/v1/admin/users`).
        #[arg(long)]
        object_type: String,
        /// A document's id (a database only).
        #[arg(long)]
        object_id: Option<i64>,
        /// An object attribute, `name=value` (repeatable). Without attributes or an id, each
        /// account's condition is printed.
        #[arg(long = "attr")]
        attrs: Vec<String>,
        /// The action (`read`, `GET`, ...).
        #[arg(long)]
        action: String,
        #[command(flatten)]
        source: cli::analyze::AnalysisSource,
    },
    /// What an account may do, per object type or route pattern and action, with conditions.
    WhatCan {
        /// `user:<name>`.
        #[arg(long)]
        subject: String,
        #[command(flatten)]
        source: cli::analyze::AnalysisSource,
    },
    /// Proves the properties of matrix files (default: the database's invariant matrices, or
    /// the shipped ones with --policy); exit 0 all hold, 1 one is violated, 2 refused.
    Prove {
        /// Matrix files or directories whose `properties:` to prove.
        #[arg(long = "matrix")]
        matrices: Vec<std::path::PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: cli::analyze::ProveFormat,
        #[command(flatten)]
        source: cli::analyze::AnalysisSource,
    },
    /// Every account's permissions, or with --diff who gained and who lost what.
    Review {
        /// Two policy versions, FROM and TO (a database only).
        #[arg(long, num_args = 2, value_names = ["FROM", "TO"])]
        diff: Option<Vec<i64>>,
        /// Output format.
        #[arg(long, value_enum, default_value = "json")]
        format: cli::analyze::ReviewFormat,
        #[command(flatten)]
        source: cli::analyze::AnalysisSource,
    },
}

#[derive(Debug, Subcommand)]
enum MatrixCommand {
    /// Check matrices; exit 0 all pass, 1 a cell failed, 2 a file or policy is invalid.
    Check {
        /// Matrix files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        source: PolicySource,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: CheckFormat,
    },
    /// Print the full actual grid.
    Render {
        /// Matrix files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        source: PolicySource,
        /// Output format.
        #[arg(long, value_enum, default_value = "table")]
        format: RenderFormat,
    },
    /// Write the current actual grid as the expected matrix (review before committing).
    Record {
        /// The matrix file.
        path: PathBuf,
        #[command(flatten)]
        source: PolicySource,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Validate a Warden policy file; exit 0 valid, 2 invalid.
    Lint {
        /// The policy.csv.
        file: PathBuf,
    },
    /// Print the live rules, role inheritance and matrices as a policy file.
    Export {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Replace the live rules and role inheritance with a file's (and the matrices, when the
    /// file carries them), as one versioned change
    /// (same validation and invariants as the admin API).
    Import {
        /// The policy.csv.
        file: PathBuf,
        #[command(flatten)]
        db: DatabaseArg,
    },
}

/// Keeps large allocations out of glibc's heaps. glibc raises its mmap threshold when a large
/// mmap'd block is freed, and every later argon2id working area (19 MiB per hash) then comes
/// from a heap that keeps it: a server with 10k rules went from 34 MB to 192 MB of resident
/// memory after a few dozen registrations. With the threshold pinned at glibc's default, those
/// blocks are mapped per hash and returned when it ends (measured: 19 MB after 15
/// registrations, the same as the `MALLOC_MMAP_THRESHOLD_=131072` environment variable).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn pin_mmap_threshold() {
    // SAFETY: mallopt only changes allocator tuning parameters and is thread-safe; the value
    // is glibc's own default threshold.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn pin_mmap_threshold() {}

#[tokio::main]
async fn main() -> ExitCode {
    pin_mmap_threshold();
    let matches = Cli::command().get_matches();
    // Before anything else runs: a secret given as a flag's value is refused outright.
    if let Err(e) = warden::config::refuse_command_line_secrets(&matches) {
        let format = matches
            .get_one::<LogFormat>("log_format")
            .copied()
            .unwrap_or(LogFormat::Text);
        warden::logging::Console::new(format).error(&e.to_string());
        return ExitCode::from(2);
    }
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let console = warden::logging::Console::new(cli.log_format);
    if let Err(e) = warden::logging::init(cli.log_format, &cli.log_level) {
        console.error(&e);
        return ExitCode::from(2);
    }
    match cli.command {
        Command::Serve(args) => serve(*args, console).await,
        Command::Healthcheck(args) => ExitCode::from(warden::healthcheck::run(&args)),
        Command::Matrix(MatrixCommand::Check {
            paths,
            source,
            format,
        }) => ExitCode::from(cli::matrix_check(&paths, &source, format).await),
        Command::Matrix(MatrixCommand::Render {
            paths,
            source,
            format,
        }) => ExitCode::from(cli::matrix_render(&paths, &source, format).await),
        Command::Matrix(MatrixCommand::Record { path, source, out }) => {
            ExitCode::from(cli::matrix_record(&path, &source, out.as_deref()).await)
        }
        Command::Policy(PolicyCommand::Lint { file }) => ExitCode::from(cli::policy_lint(&file)),
        Command::Policy(PolicyCommand::Export { db }) => {
            ExitCode::from(cli::policy_export(&db.url).await)
        }
        Command::Policy(PolicyCommand::Import { file, db }) => {
            ExitCode::from(cli::policy_import(&file, &db.url).await)
        }
        Command::Analyze(AnalyzeCommand::WhoCan {
            object_type,
            object_id,
            attrs,
            action,
            source,
        }) => ExitCode::from(
            cli::analyze::who_can(&source, &object_type, object_id, &attrs, &action).await,
        ),
        Command::Analyze(AnalyzeCommand::WhatCan { subject, source }) => {
            ExitCode::from(cli::analyze::what_can(&source, &subject).await)
        }
        Command::Analyze(AnalyzeCommand::Prove {
            matrices,
            format,
            source,
        }) => ExitCode::from(cli::analyze::prove(&source, &matrices, format).await),
        Command::Analyze(AnalyzeCommand::Review {
            diff,
            format,
            source,
        }) => {
            let diff = diff.and_then(|d| Some((*d.first()?, *d.get(1)?)));
            ExitCode::from(cli::analyze::review(&source, diff, format).await)
        }
        Command::Keys(KeysCommand::Rotate { db }) => {
            ExitCode::from(cli::keys_rotate(&db.url).await)
        }
        Command::Admin(AdminCommand::ResetPassword { username, db }) => {
            let source = match std::env::var("WARDEN_ADMIN_PASSWORD") {
                Ok(p) => cli::PasswordSource::Given(p.into()),
                Err(_) => cli::PasswordSource::Stdin,
            };
            ExitCode::from(cli::admin_reset_password(&db.url, &username, source).await)
        }
        Command::Admin(AdminCommand::CreateUser {
            username,
            ttl_secs,
            db,
        }) => ExitCode::from(cli::admin_create_user(&db.url, &username, ttl_secs).await),
        Command::Admin(AdminCommand::DeleteUser { username, db }) => {
            ExitCode::from(cli::admin_delete_user(&db.url, &username).await)
        }
    }
}

async fn serve(args: ServeArgs, console: warden::logging::Console) -> ExitCode {
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            console.error(&e.to_string());
            return ExitCode::from(2);
        }
    };
    let listen = config.listen;
    let metrics_listen = config.metrics_listen;
    let database_url = config.database_url.clone();
    let demo = config.demo;
    // Bind before anything is stored: a port clash must not leave behind a bootstrap admin
    // whose generated password was never printed.
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            console.error(&format!("cannot listen on {listen}: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let metrics = match metrics_listen {
        Some(addr) => match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => Some(l),
            Err(e) => {
                console.error(&format!("cannot listen on {addr} (--metrics-listen): {e}"));
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let started = match warden::bootstrap::start(config, Arc::new(warden::clock::SystemClock)).await
    {
        Ok(s) => s,
        Err(e) => {
            console.error(&e.to_string());
            return ExitCode::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| listen.to_string(), |a| a.to_string());
    let policy = started.state.engine.snapshot().ok();
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        listen = %addr,
        metrics_listen = %metrics
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map_or_else(|| "main listener (loopback clients only)".to_owned(), |a| a.to_string()),
        database = %warden::store::Backend::of_url(&database_url).map_or("unknown", |b| b.as_str()),
        database_url = %warden::store::redacted(&database_url),
        policy_version = policy.as_ref().map(|p| p.version()),
        rules = policy.as_ref().map(|p| p.rules().len()),
        "warden started"
    );
    let url = format!("http://{addr}");
    console.say(
        &format!("warden listening on {url}"),
        &[("url", url.clone().into())],
    );
    match &started.generated_admin_password {
        Some(p) => console.say(
            &format!(
                "bootstrap admin created: username `admin`, password `{p}` (shown once; store it now)"
            ),
            &[("username", "admin".into())],
        ),
        None if started.admin_created => console.say(
            "bootstrap admin created: username `admin`, password from WARDEN_ADMIN_PASSWORD \
             or --admin-password-file",
            &[("username", "admin".into())],
        ),
        None => console.say(
            "log in as `admin` with the password set on first start \
             (forgotten? `warden admin reset-password`)",
            &[("username", "admin".into())],
        ),
    }
    if demo {
        console.say(
            &format!(
                "demo users: alice bob carol dave erin, password `{}`",
                warden::bootstrap::demo::DEMO_PASSWORD
            ),
            &[],
        );
    }
    console.say(
        &format!("admin console: {url}/console"),
        &[("url", format!("{url}/console").into())],
    );
    console.say(
        &format!("API docs: {url}/docs"),
        &[("url", format!("{url}/docs").into())],
    );
    match warden::serve(listener, metrics, started.state).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            console.error(&e.to_string());
            ExitCode::FAILURE
        }
    }
}
