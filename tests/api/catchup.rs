//! What a request naming a minimum policy version costs: nothing for a caller without a
//! valid token, and one shared database read for any number of callers waiting together.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::json;

use crate::helpers::{TestApp, TestResponse};

/// Full reloads (read and compiled the whole policy) an instance made.
pub fn full_reloads(app: &TestApp) -> i64 {
    app.state
        .engine
        .reloads()
        .get_or_create(&warden::metrics::OutcomeLabels { outcome: "ok" })
        .get() as i64
}

async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    authorization: &str,
    min: i64,
) -> TestResponse {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, authorization)
        .header("warden-min-version", min.to_string())
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/api/documents/1")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"checks": [{"object": {"type": "document"}, "action": "read"}]}).to_string(),
        ))
        .expect("request");
    app.send(req).await
}

#[tokio::test]
async fn a_request_without_a_valid_token_reads_nothing_from_the_database_whatever_version_it_names()
{
    let app = TestApp::with_config(|c| c.demo = true).await;
    let alice = app.demo_token("alice").await;
    let admin = app.admin_token().await;
    let ahead = app.policy_version(&admin).await + 1;
    // alice's token with its signature's last characters changed: well-formed, badly signed
    let forged = {
        let (head, sig) = alice.rsplit_once('.').expect("jwt");
        let flipped: String = sig
            .chars()
            .rev()
            .map(|c| if c == 'A' { 'B' } else { 'A' })
            .collect();
        format!("{head}.{flipped}")
    };
    let before = app.state.db.policy_reads_for_tests();
    for authorization in [
        "garbage".to_owned(),
        "Bearer garbage".to_owned(),
        "Bearer ".to_owned(),
        format!("Bearer {forged}"),
    ] {
        for (method, path) in [
            ("GET", "/api/documents/1"),
            ("POST", "/v1/check"),
            ("GET", "/v1/authz/forward"),
        ] {
            let r = send(&app, method, path, &authorization, ahead).await;
            assert_eq!(
                r.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {authorization:?}: {r:?}"
            );
        }
    }
    assert_eq!(
        app.state.db.policy_reads_for_tests(),
        before,
        "an unauthenticated request read the policy"
    );
    // a valid token naming the same version is still brought to it (one read: nobody wrote it)
    let r = send(
        &app,
        "GET",
        "/api/documents/1",
        &format!("Bearer {alice}"),
        ahead,
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    assert_eq!(r.error_code(), "policy_stale");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_requests_waiting_for_the_next_version_share_one_read() {
    let a = TestApp::with_config(|c| c.demo = true).await;
    // B neither polls nor listens: only the requests' minimum version brings it forward
    let b = a.another_instance().await;
    let admin = a.admin_token().await;
    let alice = a.demo_token("alice").await;
    assert_eq!(
        b.get("/api/documents/1", &alice).await.status,
        StatusCode::OK
    );
    let r = a
        .call(
            axum::http::Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(
                json!({"subject": "user:alice", "object": "document", "action": "read",
                "scope": "documents:read", "condition": "r.obj.department == \"sales\"",
                "effect": "allow"}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let next = b.state.engine.served_version().expect("served") + 1;
    let (reads, reloads) = (b.state.db.policy_reads_for_tests(), full_reloads(&b));
    let requests: Vec<_> = (0..100)
        .map(|_| {
            let (router, alice) = (b.router.clone(), alice.clone());
            tokio::spawn(async move {
                use tower::ServiceExt;
                let req = Request::get("/api/documents/1")
                    .header(header::AUTHORIZATION, format!("Bearer {alice}"))
                    .header("warden-min-version", next.to_string())
                    .body(Body::empty())
                    .expect("request");
                router.oneshot(req).await.expect("infallible")
            })
        })
        .collect();
    for r in requests {
        let r = r.await.expect("no panic");
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()["warden-policy-version"],
            next.to_string().as_str()
        );
    }
    let reads = b.state.db.policy_reads_for_tests() - reads;
    assert!(reads <= 3, "100 waiting requests made {reads} policy reads");
    assert_eq!(full_reloads(&b) - reloads, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_burst_of_registrations_on_one_instance_is_applied_by_another_without_reloading()
{
    let test =
        "postgres_a_burst_of_registrations_on_one_instance_is_applied_by_another_without_reloading";
    let Some(url) = crate::helpers::postgres_or_skip(test).await else {
        return;
    };
    let a = TestApp::on_database(tempfile::tempdir().expect("dir"), url, |c| {
        c.register_limits.attempts_per_ip = 1000
    })
    .await;
    let b = a.another_instance().await;
    // B follows as a served instance does: announcements and the heartbeat
    let tasks = crate::helpers::follow(&[&a, &b]);
    let reloads = full_reloads(&b);
    let names: Vec<String> = (0..40).map(|i| format!("burst{i}")).collect();
    for name in &names {
        let r = a.register(name, crate::helpers::PASSWORD).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    let written = a.state.engine.served_version().expect("served");
    let start = std::time::Instant::now();
    while b.state.engine.served_version() < Some(written) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "B never reached version {written}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let reloaded = full_reloads(&b) - reloads;
    eprintln!("40 registrations on A: {reloaded} full reloads on B");
    assert!(
        reloaded <= 3,
        "40 registrations made B reload {reloaded} times"
    );
    // and B decides every new account as A does
    for name in &names {
        let token = a.login(name, crate::helpers::PASSWORD).await.body["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let me = b.get("/v1/me", &token).await;
        assert_eq!(me.status, StatusCode::OK, "{name} on B: {me:?}");
    }
    assert_eq!(
        b.state.engine.snapshot().expect("policy").assignments(),
        a.state.engine.snapshot().expect("policy").assignments(),
        "B's assignments (with their ids) are A's"
    );
    tasks.iter().for_each(|t| t.abort());
}
