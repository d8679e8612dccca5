//! Warden: one binary that authenticates users, issues tokens, and answers every access
//! question from a Casbin model combining roles, token scopes and attributes, with the
//! policy stored in a database.
//!
//! An embedding axum application needs [`http::router`] and [`bootstrap::start`].

pub mod admin;
pub mod auth;
pub mod authz;
pub mod bootstrap;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod documents;
pub mod error;
pub mod http;
pub mod matrix;
pub mod policy;
/// Matrices embedded at build time.
pub mod shipped {
    include!(concat!(env!("OUT_DIR"), "/matrices.rs"));
}
pub mod state;
pub mod store;

pub use http::router;
pub use state::AppState;

use std::net::SocketAddr;

/// How often a running server checks the database's policy version, so changes made by
/// another process (`warden policy import`, another instance) are picked up.
pub const POLICY_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Serves the router on an already bound listener until Ctrl-C / SIGTERM.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let poller = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLICY_POLL);
            loop {
                tick.tick().await;
                // Reads one integer; rebuilds only when the version moved. Errors keep the
                // current snapshot and are logged by the engine.
                let _ = state.engine.reload().await;
            }
        })
    };
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    poller.abort();
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
