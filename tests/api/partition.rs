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

/// The documented default of `--max-staleness-ms` plus a margin for a loaded test machine.
fn staleness_bound_with_margin() -> Duration {
    warden::engine::DEFAULT_MAX_STALENESS + Duration::from_millis(500)
}

/// Polls alice's read of document 1 on `app` until it is no longer 200; the answer and how
/// long after `since` it came. Every request must be answered within a second.
async fn first_answer_that_is_not_200(
    app: &TestApp,
    alice: &str,
    since: Instant,
) -> (TestResponse, Duration) {
    loop {
        let r = tokio::time::timeout(Duration::from_secs(1), app.get("/api/documents/1", alice))
            .await
            .expect("answered within a second");
        if r.status != StatusCode::OK {
            return (r, since.elapsed());
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
        let r = tokio::time::timeout(Duration::from_secs(1), app.get("/api/documents/1", alice))
            .await
            .expect("answered within a second");
        assert_unavailable(&r);
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
        assert_eq!(
            app.get("/api/documents/1", &alice).await.status,
            StatusCode::OK
        );
        // no error, no reset: reads of the policy just never answer (a partition)
        app.state.db.stall_for_tests(true);
        let stalled = Instant::now();
        if mode == warden::config::OnStoreLoss::Deny {
            let (r, took) = first_answer_that_is_not_200(&app, &alice, stalled).await;
            assert_unavailable(&r);
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
            assert_eq!(
                app.get("/api/documents/1", &alice).await.status,
                StatusCode::OK
            );
        }
        app.state.db.stall_for_tests(false);
    }
}
