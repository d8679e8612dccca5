//! Several instances on one database: propagation, read-your-writes, serialised account
//! edits, tokens across instances, and a lost store. Tests marked "Postgres" need a server
//! (`WARDEN_TEST_POSTGRES`); the rest run on whichever backend the suite uses.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, postgres_or_skip};

fn sales_rule() -> Value {
    json!({"subject": "user:alice", "object": "document", "action": "read", "scope": "documents:read",
           "condition": "r.obj.department == \"sales\"", "effect": "allow"})
}

/// Two instances on a fresh Postgres database; the second follows announcements as a
/// served instance does.
async fn two_following_instances(
    test: &str,
) -> Option<(TestApp, TestApp, Vec<tokio::task::JoinHandle<()>>)> {
    let url = postgres_or_skip(test).await?;
    let dir = tempfile::tempdir().expect("dir");
    let a = TestApp::on_database(dir, url, |c| c.demo = true).await;
    let b = a.another_instance().await;
    let followers = [&a, &b]
        .iter()
        .map(|app| {
            let state = app.state.clone();
            tokio::spawn(async move { state.engine.follow_changes().await })
        })
        .collect();
    Some((a, b, followers))
}

/// Polls `b` until alice's read of document 2 answers `want`; the time it took.
async fn until_answer(b: &TestApp, alice: &str, want: StatusCode) -> Duration {
    let start = Instant::now();
    loop {
        let got = b.get("/api/documents/2", alice).await.status;
        if got == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "still {got} after 3 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_edit_on_one_instance_flips_the_answer_of_another_in_milliseconds() {
    let Some((a, b, followers)) = two_following_instances(
        "postgres_an_edit_on_one_instance_flips_the_answer_of_another_in_milliseconds",
    )
    .await
    else {
        return;
    };
    let admin = a.admin_token().await;
    let alice = a.demo_token("alice").await;
    assert_eq!(
        b.get("/api/documents/2", &alice).await.status,
        StatusCode::FORBIDDEN
    );
    let mut took = Vec::new();
    for _ in 0..10 {
        // grant on A, B allows; revoke on A, B denies. B runs no version poll here, so only the
        // announcement can bring the change.
        let r = a
            .call(
                Method::POST,
                "/v1/admin/rules",
                Some(&admin),
                Some(sales_rule()),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        took.push(until_answer(&b, &alice, StatusCode::OK).await);
        let id = r.body["rule_ids"][0].as_i64().expect("id");
        let r = a
            .call(
                Method::DELETE,
                &format!("/v1/admin/rules/{id}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        took.push(until_answer(&b, &alice, StatusCode::FORBIDDEN).await);
    }
    took.sort();
    let p99 = took[took.len() - 1];
    assert!(
        p99 < Duration::from_millis(500),
        "slowest propagation {p99:?}"
    );
    // account edits travel too: disabling alice on A logs her out on B
    let r = a
        .call(
            Method::PATCH,
            "/v1/admin/users/alice",
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let start = Instant::now();
    while b.get("/v1/me", &alice).await.status != StatusCode::UNAUTHORIZED {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "B still serves a disabled account"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    followers.iter().for_each(|f| f.abort());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_instance_whose_listening_connection_is_killed_catches_up() {
    let Some((a, b, followers)) = two_following_instances(
        "postgres_an_instance_whose_listening_connection_is_killed_catches_up",
    )
    .await
    else {
        return;
    };
    let admin = a.admin_token().await;
    let alice = a.demo_token("alice").await;
    // wait until both instances listen
    let listening = || async {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&a.url).await.expect("connect");
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'warden-listen' \
             AND datname = current_database()",
        )
        .fetch_one(&mut conn)
        .await
        .expect("count");
        n
    };
    let start = Instant::now();
    while listening().await < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "instances never listened"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // kill the listeners from SQL, and change the policy at once: the announcement may be
    // sent while nobody listens
    warden::store::execute_for_tests(
        &a.state.db,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'warden-listen' AND datname = current_database()",
    )
    .await
    .expect("terminate");
    let r = a
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(sales_rule()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let took = until_answer(&b, &alice, StatusCode::OK).await;
    assert!(took < Duration::from_secs(2), "caught up after {took:?}");
    // and it listens again: the next change arrives too
    let id = r.body["rule_ids"][0].as_i64().expect("id");
    a.call(
        Method::DELETE,
        &format!("/v1/admin/rules/{id}"),
        Some(&admin),
        None,
    )
    .await;
    until_answer(&b, &alice, StatusCode::FORBIDDEN).await;
    followers.iter().for_each(|f| f.abort());
}

#[tokio::test]
async fn a_request_naming_the_version_of_a_write_is_never_answered_from_an_older_policy() {
    let a = TestApp::with_config(|c| c.demo = true).await;
    // B neither polls nor listens here: only the minimum version can bring it forward
    let b = a.another_instance().await;
    let admin = a.admin_token().await;
    let alice = a.demo_token("alice").await;
    let r = a
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(sales_rule()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let granted: i64 = r.headers["warden-policy-version"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("version");
    let id = r.body["rule_ids"][0].as_i64().expect("id");
    let r = a
        .call(
            Method::DELETE,
            &format!("/v1/admin/rules/{id}"),
            Some(&admin),
            None,
        )
        .await;
    let revoked: i64 = r.headers["warden-policy-version"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("version");
    assert!(revoked > granted);
    // without a minimum, B answers from the policy it loaded at start (before the grant)
    assert_eq!(
        b.get("/api/documents/2", &alice).await.status,
        StatusCode::FORBIDDEN
    );
    // every spelling of "at least the revoke" is answered after the revoke: deny
    let by_header = b
        .send(
            axum::http::Request::get("/api/documents/2")
                .header("authorization", format!("Bearer {alice}"))
                .header("warden-min-version", revoked.to_string())
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(by_header.status, StatusCode::FORBIDDEN);
    assert_eq!(
        by_header.headers["warden-policy-version"],
        revoked.to_string().as_str()
    );
    let by_query = b
        .get(&format!("/api/documents?min_version={revoked}"), &alice)
        .await;
    assert_eq!(
        by_query.status,
        StatusCode::OK,
        "the parameter never reaches the handler"
    );
    assert_eq!(
        by_query.headers["warden-policy-version"],
        revoked.to_string().as_str()
    );
    // /v1/check too
    let check = json!({"checks": [{"object": {"type": "document", "attributes": {"department": "sales", "owner": "bob", "classification": 1}}, "action": "read"}]});
    let r = b
        .call(
            Method::POST,
            &format!("/v1/check?min_version={revoked}"),
            Some(&alice),
            Some(check),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["policy_version"], revoked);
    assert_eq!(r.body["results"][0]["allowed"], false);
    // a version nobody wrote is refused at once, not after the whole wait
    let start = Instant::now();
    let r = b
        .get(
            &format!("/api/documents/2?min_version={}", revoked + 1000),
            &alice,
        )
        .await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "policy_stale");
    assert!(r.headers.contains_key("retry-after"));
    assert!(start.elapsed() < Duration::from_secs(1));
    // malformed minimums are a 400, in either place
    for bad in ["x", "-1", "1.0", "", "99999999999999999999", " 3"] {
        let r = b
            .send(
                axum::http::Request::get("/api/documents/2")
                    .header("authorization", format!("Bearer {alice}"))
                    .header("warden-min-version", bad)
                    .body(axum::body::Body::empty())
                    .expect("request"),
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
        let r = b
            .get(
                &format!("/api/documents/2?min_version={}", bad.replace(' ', "%20")),
                &alice,
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_edits_on_two_instances_are_serialised_so_no_pair_locks_every_admin_out() {
    let a = TestApp::new().await;
    let b = a.another_instance().await;
    let admin = a.admin_token().await;
    // a second admin
    a.register("root2", crate::helpers::PASSWORD).await;
    let r = a.assign(&admin, "user:root2", "role:admin").await;
    assert!(r.status.is_success(), "{:?}", r.body);
    for round in 0..5 {
        for app in [&a, &b] {
            app.state.db.forget_cached_accounts();
            app.state.engine.reload().await.expect("reload");
        }
        let admin = a.admin_token().await;
        let root2 = a.login("root2", crate::helpers::PASSWORD).await.body["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        // A disables admin (as admin) while B disables root2 (as root2), at the same time: at
        // most one may succeed, the other sees it and refuses (each check alone would pass)
        let (ra, rb) = tokio::join!(
            a.call(
                Method::PATCH,
                "/v1/admin/users/admin",
                Some(&admin),
                Some(json!({"disabled": true}))
            ),
            b.call(
                Method::PATCH,
                "/v1/admin/users/root2",
                Some(&root2),
                Some(json!({"disabled": true}))
            ),
        );
        let ok = [&ra, &rb]
            .iter()
            .filter(|r| r.status == StatusCode::OK)
            .count();
        assert_eq!(ok, 1, "round {round}: exactly one may win: {ra:?} {rb:?}");
        for r in [&ra, &rb] {
            if r.status != StatusCode::OK {
                assert_error(r, StatusCode::CONFLICT, "lockout");
            }
        }
        // re-enable both behind Warden's back for the next round
        warden::store::execute_for_tests(&a.state.db, "UPDATE users SET disabled = 0")
            .await
            .expect("enable");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_refresh_families_are_shared_by_every_instance() {
    let a = TestApp::new().await;
    let b = a.another_instance().await;
    a.register("carol", crate::helpers::PASSWORD).await;
    b.state
        .engine
        .reload()
        .await
        .expect("B learns carol's role");
    let t = a.login("carol", crate::helpers::PASSWORD).await;
    let access = t.body["access_token"].as_str().expect("access").to_owned();
    let refresh = t.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    // issued by A, accepted by B
    assert_eq!(b.get("/v1/me", &access).await.status, StatusCode::OK);
    // rotated on A, replayed on B: reuse detected there, the family revoked everywhere
    let rotated = a.refresh(&refresh).await;
    assert_eq!(rotated.status, StatusCode::OK, "{:?}", rotated.body);
    assert_error(
        &b.refresh(&refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    let newer = rotated.body["refresh_token"].as_str().expect("refresh");
    assert_error(
        &a.refresh(newer).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
}

#[tokio::test]
async fn a_lost_database_fails_writes_and_readiness_and_decisions_follow_the_configured_trade_off()
{
    for deny in [false, true] {
        let a = TestApp::with_config(|c| {
            c.demo = true;
            if deny {
                c.on_store_loss = warden::config::OnStoreLoss::Deny;
            }
        })
        .await;
        let alice = a.demo_token("alice").await;
        assert_eq!(
            a.get("/api/documents/1", &alice).await.status,
            StatusCode::OK
        );
        a.state.db.close().await;
        // what the periodic version check does
        assert!(a.state.engine.reload().await.is_err());
        assert!(!a.state.engine.is_store_reachable());
        let ready = a.call(Method::GET, "/readyz", None, None).await;
        assert_error(&ready, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        assert_error(
            &a.login("alice", warden::bootstrap::demo::DEMO_PASSWORD)
                .await,
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        );
        // past the age at which cached accounts are normally read again
        tokio::time::sleep(warden::store::accounts::MAX_AGE + Duration::from_millis(100)).await;
        let check = json!({"checks": [{"object": {"type": "document", "attributes":
            {"department": "eng", "owner": "bob", "classification": 1}}, "action": "read"}]});
        let decided = a
            .call(Method::POST, "/v1/check", Some(&alice), Some(check))
            .await;
        if deny {
            assert_error(&decided, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        } else {
            // serve: the last snapshot decides, for the account as it was before the loss
            assert_eq!(decided.status, StatusCode::OK, "{:?}", decided.body);
            assert_eq!(decided.body["results"][0]["allowed"], true);
        }
    }
}

#[tokio::test]
async fn in_serve_mode_a_caller_seen_before_the_loss_is_decided_even_before_the_loss_is_noticed() {
    let a = TestApp::with_config(|c| c.demo = true).await;
    let alice = a.demo_token("alice").await;
    let bob = a.demo_token("bob").await;
    assert_eq!(a.get("/v1/me", &alice).await.status, StatusCode::OK);
    a.state.db.close().await;
    // no version check has run: the first failing read itself must fall back to the cache
    tokio::time::sleep(warden::store::accounts::MAX_AGE + Duration::from_millis(100)).await;
    assert_eq!(a.get("/v1/me", &alice).await.status, StatusCode::OK);
    // bob's token is valid, but his account was never read before the loss: no guess
    assert_error(
        &a.get("/v1/me", &bob).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
}

/// An account deleted, or its password reset, on one instance is refused by another at once:
/// the other instance served its cached row and session a moment before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_deletion_or_reset_on_one_instance_ends_the_account_on_another_at_once() {
    let Some((a, b, followers)) = two_following_instances(
        "postgres_a_deletion_or_reset_on_one_instance_ends_the_account_on_another_at_once",
    )
    .await
    else {
        return;
    };
    let admin = a.admin_token().await;
    for (name, method, path) in [
        ("gone", Method::DELETE, "/v1/admin/users/gone"),
        (
            "reset",
            Method::POST,
            "/v1/admin/users/reset/reset-password",
        ),
    ] {
        let (token, _) = a.user_tokens(name).await;
        // cached by B (its row and its live session) once B has applied the registration
        let seen = std::time::Instant::now();
        while b.get("/v1/me", &token).await.status != StatusCode::OK {
            assert!(
                seen.elapsed() < std::time::Duration::from_secs(5),
                "{name} never reached B"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let body = (method == Method::POST).then(|| json!({}));
        let r = a.call(method, path, Some(&admin), body).await;
        assert!(r.status.is_success(), "{r:?}");
        let started = std::time::Instant::now();
        loop {
            let now = b.get("/v1/me", &token).await.status;
            if now == StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_millis(500),
                "{name}: B still answers {now} after {:?}",
                started.elapsed()
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    for f in followers {
        f.abort();
    }
}
