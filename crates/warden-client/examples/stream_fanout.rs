//! Fan-out of `GET /v1/policy/stream`: 1,000 concurrent subscribers on one Warden (started
//! in-process on 127.0.0.1 over a temporary SQLite file); one policy edit; the time until
//! each subscriber has the new version (p50/p99/max), and the process's extra resident memory
//! (server and the 1,000 client connections together: an upper bound for the server's).
//!
//! `cargo run --release -p warden-client --example stream_fanout`

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use warden_client::{Client, NewRule};

const SUBSCRIBERS: usize = 1000;

fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let mut config = warden::config::Config::for_database(&url);
    config.admin_password = Some("admin-password-1".to_owned().into());
    // 1,000 subscribers from one address: above the default per-client connection limit (64).
    config.transport.max_connections = 4096;
    config.transport.max_connections_per_client = 2048;
    let started = warden::bootstrap::start(config, Arc::new(warden::clock::SystemClock))
        .await
        .expect("start");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(warden::serve_until(
        listener,
        started.state,
        std::future::pending(),
    ));

    let client = Client::new(&base);
    let token = client
        .password_grant("admin", "admin-password-1", None)
        .await
        .expect("login")
        .access_token;
    let admin = client.with_token(&token);
    let version = admin.policy_version().await.expect("version");
    let before = rss_mb();

    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(SUBSCRIBERS);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<Instant>(SUBSCRIBERS);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("http");
    for _ in 0..SUBSCRIBERS {
        let (http, ready, done) = (http.clone(), ready_tx.clone(), done_tx.clone());
        let url = format!("{base}/v1/policy/stream?from={version}");
        let token = token.clone();
        tokio::spawn(async move {
            let res = http
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .expect("stream");
            assert!(res.status().is_success(), "{}", res.status());
            let _ = ready.send(()).await;
            let mut body = res.bytes_stream();
            let mut seen = Vec::new();
            while let Some(chunk) = body.next().await {
                seen.extend_from_slice(&chunk.expect("chunk"));
                if seen.windows(14).any(|w| w == b"event: version") {
                    let _ = done.send(Instant::now()).await;
                    return;
                }
            }
        });
    }
    for _ in 0..SUBSCRIBERS {
        ready_rx.recv().await.expect("connected");
    }
    let connected = rss_mb();
    let sent = Instant::now();
    admin
        .add_rule(&NewRule {
            subject: "role:user".into(),
            object: "/fanout".into(),
            action: "GET".into(),
            scope: "*".into(),
            condition: String::new(),
            effect: "allow".into(),
        })
        .await
        .expect("edit");
    let mut lags = Vec::with_capacity(SUBSCRIBERS);
    for _ in 0..SUBSCRIBERS {
        let at = tokio::time::timeout(Duration::from_secs(30), done_rx.recv())
            .await
            .expect("delivered within 30 s")
            .expect("delivered");
        lags.push(at - sent);
    }
    lags.sort();
    let after = rss_mb();
    println!(
        "{SUBSCRIBERS} subscribers: new version delivered p50 {:?}, p99 {:?}, max {:?}; resident memory +{:.0} MB with the connections open, +{:.0} MB after the delivery (server and clients in one process)",
        lags[SUBSCRIBERS / 2],
        lags[SUBSCRIBERS * 99 / 100],
        lags[SUBSCRIBERS - 1],
        connected - before,
        after - before
    );
}
