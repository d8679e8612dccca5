//! The real thing: `warden::serve` on 127.0.0.1 with a random port.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::ADMIN_PASSWORD;

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_instance_answers_on_loopback_and_picks_up_policy_changes_made_elsewhere() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let mut config = warden::config::Config::for_database(&url);
    config.admin_password = Some(ADMIN_PASSWORD.to_owned().into());
    let started = warden::bootstrap::start(config, Arc::new(warden::clock::SystemClock))
        .await
        .expect("start");
    let state = started.state.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(warden::serve(listener, started.state));
    let health = http_get(addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    // another process (a CLI import, another instance) changes the policy in the database
    let other = warden::store::Db::connect(&url).await.expect("db");
    let rule = warden::store::rules::RuleRow {
        id: 0,
        subject: "role:auditor".into(),
        object: "report".into(),
        action: "read".into(),
        scope: "*".into(),
        condition: String::new(),
        effect: "allow".into(),
    };
    let meta = warden::store::policy::ChangeMeta {
        actor: "other",
        action: "rules.add",
        summary: "elsewhere",
    };
    let outcome = warden::store::policy::apply(
        &other,
        None,
        &[warden::store::policy::Op::AddRule(rule)],
        &meta,
        0,
    )
    .await
    .expect("apply");
    let warden::store::policy::Outcome::Applied { version, .. } = outcome else {
        panic!("{outcome:?}");
    };
    let deadline = std::time::Instant::now() + warden::POLICY_POLL * 3;
    while state.engine.snapshot().expect("snapshot").version() != version {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not pick up version {version}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ready = http_get(addr, "/readyz").await;
    assert!(
        ready.contains(&format!("\"policy_version\":{version}")),
        "{ready}"
    );
    server.abort();
}
