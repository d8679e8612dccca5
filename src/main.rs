//! The `warden` command: parses config, starts tracing, dispatches to the library.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use warden::config::{Config, ServeArgs};

#[derive(Debug, Parser)]
#[command(
    name = "warden",
    version,
    about = "Authentication and Casbin-based authorization service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve(ServeArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warden=info,tower_http=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args).await,
    }
}

async fn serve(args: ServeArgs) -> ExitCode {
    let config = match Config::from_args(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let listen = config.listen;
    let demo = config.demo;
    let started = match warden::bootstrap::start(config, Arc::new(warden::clock::SystemClock)).await
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener
        .local_addr()
        .map_or_else(|_| listen.to_string(), |a| a.to_string());
    println!("warden listening on http://{addr}");
    match &started.generated_admin_password {
        Some(p) => println!(
            "bootstrap admin created: username `admin`, password `{p}` (shown once; store it now)"
        ),
        None if started.admin_created => println!(
            "bootstrap admin created: username `admin`, password from WARDEN_ADMIN_PASSWORD"
        ),
        None => println!("log in as `admin` with the password set on first start"),
    }
    if demo {
        println!(
            "demo users: alice bob carol dave erin, password `{}`",
            warden::bootstrap::demo::DEMO_PASSWORD
        );
    }
    println!("API docs: http://{addr}/docs");
    match warden::serve(listener, started.state).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
