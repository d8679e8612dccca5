//! A lost, restarting or partitioned database: answers are 503 `unavailable` with
//! `Retry-After` (never a 500, never a stale allow past the staleness bound). Tests marked
//! `postgres_` need a server (`WARDEN_TEST_POSTGRES`).

use std::time::{Duration, Instant};

use axum::http::StatusCode;
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
