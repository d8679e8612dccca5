//! Warden: one binary that authenticates users, issues tokens, and answers every access
//! question from a Casbin model combining roles, token scopes and attributes, with the
//! policy stored in a database.
//!
//! An embedding axum application needs [`http::router`] and [`bootstrap::start`].

pub mod auth;
pub mod bootstrap;
pub mod cli;
pub mod clock;
pub mod config;
pub mod decisions;
pub mod engine;
pub mod healthcheck;
pub mod http;
pub mod logging;
pub mod matrix;
pub mod metrics;
/// The pure policy core, its own crate (`crates/warden-policy`): `crate::policy` everywhere.
pub use warden_policy as policy;
pub mod serve;
pub mod state;
pub mod store;

pub use http::router;
pub use state::AppState;

/// How often a running server checks the database's policy version (the heartbeat,
/// [`engine::Engine::watch_store`]), so changes made by another process (`warden policy
/// import`, another instance) are picked up even when their announcement was missed (or, on
/// SQLite, never sent), and a lost or partitioned database is noticed within
/// `--max-staleness-ms`.
pub const POLICY_POLL: std::time::Duration = engine::HEARTBEAT;

/// Serves the router on an already bound listener until Ctrl-C / SIGTERM, with the
/// transport limits of the configuration (see [`serve`](mod@serve)); `/metrics` on
/// `metrics` when given (`--metrics-listen`, bound by the caller).
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Option<tokio::net::TcpListener>,
    state: AppState,
) -> std::io::Result<()> {
    serve_with(listener, metrics, state, serve::shutdown_signal()).await
}

/// [`serve()`] until `shutdown` completes, binding `--metrics-listen` itself.
pub async fn serve_until(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let metrics = match state.config.metrics_listen {
        Some(addr) => Some(tokio::net::TcpListener::bind(addr).await?),
        None => None,
    };
    serve_with(listener, metrics, state, shutdown).await
}

/// [`serve()`] until `shutdown` completes.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    metrics: Option<tokio::net::TcpListener>,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let limits = state.config.transport;
    // The metrics listener counts no connections of its own: the gauge is the clients'.
    let metrics = metrics.map(|l| {
        let app = http::metrics::dedicated_router(state.clone());
        tokio::spawn(serve::run(
            l,
            app,
            limits,
            state.config.proxies.trusted.clone(),
            prometheus_client::metrics::gauge::Gauge::default(),
            std::future::pending(),
        ))
    });
    // Reads one integer per heartbeat; rebuilds only when the version moved, and bounds how
    // stale a decision may be when the database stops answering.
    let poller = {
        let state = state.clone();
        tokio::spawn(async move { state.engine.watch_store().await })
    };
    // Postgres: apply what other instances announce, in milliseconds (SQLite: returns).
    let follower = {
        let state = state.clone();
        tokio::spawn(async move { state.engine.follow_changes().await })
    };
    let connections = state.metrics.connections.clone();
    let exempt = state.config.proxies.trusted.clone();
    let served = serve::run(
        listener,
        router(state),
        limits,
        exempt,
        connections,
        shutdown,
    )
    .await;
    poller.abort();
    follower.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    served
}
