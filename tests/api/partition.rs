//! A lost, restarting or partitioned database: answers are 503 `unavailable` with
//! `Retry-After` (never a 500, never a stale allow past the staleness bound). Tests marked
//! `postgres_` need a server (`WARDEN_TEST_POSTGRES`).

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use sqlx::Connection;

use crate::helpers::{TestApp, TestResponse, assert_error, postgres_or_skip};

/// Asserts a 503 `unavailable` that tells the client when to retry.
fn assert_unavailable(r: &TestResponse) {
    assert_error(r, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(r.headers["retry-after"], "1", "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_query_cut_off_by_a_terminated_backend_answers_503_not_500() {
    let test = "postgres_a_query_cut_off_by_a_terminated_backend_answers_503_not_500";
    let Some(url) = postgres_or_skip(test).await else {
        return;
    };
    let app = TestApp::on_database(tempfile::tempdir().expect("dir"), url.clone(), |_| {}).await;
    let admin = app.admin_token().await;
    assert_eq!(
        app.get("/v1/admin/audit", &admin).await.status,
        StatusCode::OK
    );
    // An operator's session holds the audit table, so the instance's next read of it waits
    // in the server: that query is the one the termination cuts off.
    let mut operator = sqlx::PgConnection::connect(&url).await.expect("connect");
    let mut lock = operator.begin().await.expect("begin");
    sqlx::query("LOCK TABLE audit_log IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("lock");
    let request = {
        let admin = admin.clone();
        let app = TestApp {
            state: app.state.clone(),
            router: app.router.clone(),
            clock: app.clock.clone(),
            url: app.url.clone(),
            _dir: app._dir.clone(),
        };
        tokio::spawn(async move { app.get("/v1/admin/audit", &admin).await })
    };
    let mut killer = sqlx::PgConnection::connect(&url).await.expect("connect");
    let start = Instant::now();
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND wait_event_type = 'Lock'",
        )
        .fetch_one(&mut killer)
        .await
        .expect("count");
        if waiting > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the read never reached the server"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // What `pg_ctl stop -m fast` or a failover does to every session: FATAL 57P01.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .execute(&mut killer)
    .await
    .expect("terminate");
    let cut_off = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .expect("the request is answered")
        .expect("no panic");
    assert_unavailable(&cut_off);
    // The pool opens new connections: the next request is served again.
    let start = Instant::now();
    loop {
        let r = app.get("/v1/admin/audit", &admin).await;
        if r.status == StatusCode::OK {
            break;
        }
        assert_unavailable(&r);
        assert!(start.elapsed() < Duration::from_secs(5), "never recovered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The documented default of `--max-staleness-ms` plus a margin for a loaded test machine.
fn staleness_bound_with_margin() -> Duration {
    warden::engine::DEFAULT_MAX_STALENESS + Duration::from_millis(500)
}

/// Whether `app` lets alice read an engineering document (`/v1/check`: a decision and nothing
/// else, so no handler waits on the database after it), within a second.
async fn alice_may_read(app: &TestApp, alice: &str) -> Result<bool, TestResponse> {
    let check = serde_json::json!({"checks": [{"object": {"type": "document", "attributes":
        {"department": "eng", "owner": "bob", "classification": 1}}, "action": "read"}]});
    let r = tokio::time::timeout(
        Duration::from_secs(1),
        app.call(Method::POST, "/v1/check", Some(alice), Some(check)),
    )
    .await
    .expect("answered within a second");
    match r.status {
        StatusCode::OK => Ok(r.body["results"][0]["allowed"] == true),
        _ => Err(r),
    }
}

/// Asks `app` until alice is no longer allowed; the answer and how long after `since`.
async fn first_answer_that_is_not_an_allow(
    app: &TestApp,
    alice: &str,
    since: Instant,
) -> (Result<bool, TestResponse>, Duration) {
    loop {
        let answer = alice_may_read(app, alice).await;
        if !matches!(answer, Ok(true)) {
            return (answer, since.elapsed());
        }
        assert!(
            since.elapsed() < Duration::from_secs(5),
            "still allowed 5 s after the database stopped answering"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Every answer for `during` is a 503 `unavailable`, each within a second.
async fn only_unavailable_for(app: &TestApp, alice: &str, during: Duration) {
    let start = Instant::now();
    while start.elapsed() < during {
        match alice_may_read(app, alice).await {
            Err(r) => assert_unavailable(&r),
            Ok(allowed) => panic!("decided ({allowed}) without the database"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_stops_answering_stops_decisions_within_the_staleness_bound_in_deny_mode() {
    for mode in [
        warden::config::OnStoreLoss::Deny,
        warden::config::OnStoreLoss::Serve,
    ] {
        let server = crate::helpers::served(|c| {
            c.demo = true;
            c.on_store_loss = mode;
        })
        .await;
        let app = server.app();
        let alice = app.demo_token("alice").await;
        assert!(matches!(alice_may_read(&app, &alice).await, Ok(true)));
        // no error, no reset: reads of the policy just never answer (a partition)
        app.state.db.stall_for_tests(true);
        let stalled = Instant::now();
        if mode == warden::config::OnStoreLoss::Deny {
            let (answer, took) = first_answer_that_is_not_an_allow(&app, &alice, stalled).await;
            assert_unavailable(&answer.expect_err("refused, not decided"));
            assert!(
                took <= staleness_bound_with_margin(),
                "allowed for {took:?} after the database stopped answering"
            );
            // past the age of cached accounts too: refused at once, never waiting on the store
            only_unavailable_for(&app, &alice, warden::store::accounts::MAX_AGE).await;
        } else {
            // serve: the loss is noticed (readiness, logs) within the bound; decisions go on
            while app.state.engine.is_store_reachable() {
                assert!(
                    stalled.elapsed() <= staleness_bound_with_margin(),
                    "the lost database was not noticed"
                );
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            assert!(matches!(alice_may_read(&app, &alice).await, Ok(true)));
        }
        app.state.db.stall_for_tests(false);
    }
}

/// A TCP proxy on 127.0.0.1 in front of a Postgres server, with a switch that partitions it:
/// from then on no byte is forwarded in either direction and new connections are accepted
/// and held, but no socket is closed or reset (what a lost network route looks like).
struct PartitionProxy {
    addr: std::net::SocketAddr,
    partitioned: std::sync::Arc<std::sync::atomic::AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl PartitionProxy {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let partitioned = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let cut = partitioned.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (cut, upstream) = (cut.clone(), upstream.clone());
                tokio::spawn(async move {
                    let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pump(client_read, server_write, cut.clone()),
                        pump(server_read, client_write, cut),
                    );
                });
            }
        });
        Self {
            addr,
            partitioned,
            task,
        }
    }

    fn partition(&self) {
        self.partitioned
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for PartitionProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies bytes until either side closes; while `cut`, bytes are read and dropped.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if cut.load(std::sync::atomic::Ordering::SeqCst) {
            // keep the half open forever: no FIN, no RST, just silence
            std::future::pending::<()>().await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// `url` with its host and port replaced by `addr`.
fn through(url: &str, addr: std::net::SocketAddr) -> (String, String) {
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (user, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    (format!("{scheme}://{user}{addr}{path}"), host.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_partitioned_instance_in_deny_mode_stops_allowing_within_the_staleness_bound() {
    let test =
        "postgres_a_partitioned_instance_in_deny_mode_stops_allowing_within_the_staleness_bound";
    let Some(url) = postgres_or_skip(test).await else {
        return;
    };
    let a = TestApp::on_database(tempfile::tempdir().expect("dir"), url.clone(), |c| {
        c.demo = true
    })
    .await;
    // B reaches the database only through the proxy: its pool and its listening connection
    let (proxied, upstream) = through(&url, std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    let proxy = PartitionProxy::start(upstream).await;
    let (proxied, _) = through(&proxied, proxy.addr);
    let b = TestApp::on_database(tempfile::tempdir().expect("dir"), proxied, |c| {
        c.on_store_loss = warden::config::OnStoreLoss::Deny
    })
    .await;
    let tasks = crate::helpers::follow(&[&a, &b]);
    let admin = a.admin_token().await;
    let alice = a.demo_token("alice").await;
    assert!(matches!(alice_may_read(&b, &alice).await, Ok(true)));
    proxy.partition();
    let partitioned = Instant::now();
    // alice loses her role on A, which B cannot hear or read any more
    let r = a
        .call(
            axum::http::Method::DELETE,
            "/v1/admin/roles/assignments",
            Some(&admin),
            Some(serde_json::json!({"member": "user:alice", "role": "role:viewer"})),
        )
        .await;
    assert!(r.status.is_success(), "{r:?}");
    let on_a = alice_may_read(&a, &alice).await;
    assert!(!matches!(on_a, Ok(true)), "{on_a:?}");
    let (answer, took) = first_answer_that_is_not_an_allow(&b, &alice, partitioned).await;
    // B cannot know of the revoke: it must refuse to decide, not deny from its old policy
    assert_unavailable(&answer.expect_err("refused, not decided"));
    eprintln!("B allowed alice for {took:?} after the partition");
    assert!(
        took <= staleness_bound_with_margin(),
        "B allowed alice for {took:?} after the partition"
    );
    // and keeps refusing, promptly, past the age of its cached accounts
    only_unavailable_for(&b, &alice, warden::store::accounts::MAX_AGE).await;
    tasks.iter().for_each(|t| t.abort());
}
