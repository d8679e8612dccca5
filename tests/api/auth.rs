use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn register_creates_a_user_with_role_user_and_no_secrets() {
    let app = TestApp::new().await;
    let r = app.register("Alice", PASSWORD).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["username"], "Alice");
    assert_eq!(r.body["roles"], json!(["user"]));
    assert_eq!(r.body["attributes"], json!({"clearance": 0}));
    let text = r.body.to_string();
    assert!(!text.contains("argon2") && !text.contains(PASSWORD));
}

#[tokio::test]
async fn usernames_are_unique_case_insensitively() {
    let app = TestApp::new().await;
    app.register("alice", PASSWORD).await;
    assert_error(
        &app.register("ALICE", PASSWORD).await,
        StatusCode::CONFLICT,
        "username_taken",
    );
}

#[tokio::test]
async fn invalid_registrations_are_422_naming_the_field() {
    let app = TestApp::new().await;
    let cases = [
        (json!({"username": "ab", "password": PASSWORD}), "username"),
        (
            json!({"username": "bad name", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "carol", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "carol", "password": PASSWORD, "email": "nope"}),
            "email",
        ),
        (
            json!({"username": "carol", "password": PASSWORD, "roles": ["admin"]}),
            "roles",
        ),
        (
            json!({"username": "carol", "password": PASSWORD, "attributes": {"clearance": 3}}),
            "attributes",
        ),
        (
            json!({"username": "carol", "password": PASSWORD, "scopes": ["admin"]}),
            "scopes",
        ),
        (
            json!({"username": "carol", "password": PASSWORD, "disabled": false}),
            "disabled",
        ),
        (json!({"password": PASSWORD}), "username"),
    ];
    for (body, field) in cases {
        let r = app
            .call(Method::POST, "/v1/auth/register", None, Some(body.clone()))
            .await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            r.body["message"].as_str().unwrap_or("").contains(field),
            "{body} -> {r:?}"
        );
    }
    // nothing was created by any of them
    assert_eq!(
        app.login("carol", PASSWORD).await.error_code(),
        "invalid_grant"
    );
}

#[tokio::test]
async fn registration_can_be_switched_off() {
    let app = TestApp::with_config(|c| c.allow_registration = false).await;
    assert_error(
        &app.register("alice", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "registration_disabled",
    );
}

#[tokio::test]
async fn registrations_are_rate_limited_per_client_address() {
    let app = TestApp::with_config(|c| c.register_limits.attempts_per_ip = 2).await;
    assert_eq!(
        app.register("alice", PASSWORD).await.status,
        StatusCode::CREATED
    );
    // failed attempts count too: the answers say which names are taken
    assert_eq!(
        app.register("alice", PASSWORD).await.status,
        StatusCode::CONFLICT
    );
    let limited = app.register("bob", PASSWORD).await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(
        limited.headers.contains_key(header::RETRY_AFTER),
        "{limited:?}"
    );
    app.clock.advance(601);
    assert_eq!(
        app.register("bob", PASSWORD).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn login_works_with_a_form_body_and_a_json_body() {
    let app = TestApp::new().await;
    app.register("alice", PASSWORD).await;
    let form = app.login("alice", PASSWORD).await;
    assert_eq!(form.status, StatusCode::OK, "{form:?}");
    assert_eq!(form.body["token_type"], "bearer");
    assert_eq!(form.body["expires_in"], 900);
    assert_eq!(form.body["scope"], "documents:read documents:write");
    assert_eq!(form.headers[header::CACHE_CONTROL], "no-store");
    let json = app
        .call(Method::POST, "/v1/auth/token", None,
            Some(json!({"grant_type": "password", "username": "alice", "password": PASSWORD, "scope": "documents:read"})))
        .await;
    assert_eq!(json.status, StatusCode::OK, "{json:?}");
    assert_eq!(json.body["scope"], "documents:read");
}

#[tokio::test]
async fn token_endpoint_errors_use_rfc6749_codes() {
    let app = TestApp::new().await;
    app.register("alice", PASSWORD).await;
    let cases = [
        (
            "grant_type=password&username=alice&password=wrong-password",
            "invalid_grant",
        ),
        ("grant_type=password&username=alice", "invalid_request"),
        ("username=alice&password=x", "invalid_request"),
        // client_credentials is supported (tests/api/service_accounts.rs); these are not
        (
            "grant_type=authorization_code&code=x",
            "unsupported_grant_type",
        ),
        ("grant_type=implicit", "unsupported_grant_type"),
        (
            "grant_type=password&username=alice&password=correct-horse-battery&scope=admin",
            "invalid_scope",
        ),
        (
            "grant_type=refresh_token&refresh_token=nonsense",
            "invalid_grant",
        ),
    ];
    for (form, code) in cases {
        assert_error(&app.token_form(form).await, StatusCode::BAD_REQUEST, code);
    }
    let xml = Request::post("/v1/auth/token")
        .header(header::CONTENT_TYPE, "text/xml")
        .body(Body::from("<x/>"))
        .expect("req");
    assert_error(
        &app.send(xml).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let app = TestApp::new().await;
    app.register("alice", PASSWORD).await;
    let wrong = app.login("alice", "wrong-password").await;
    let unknown = app.login("nobody", "wrong-password").await;
    assert_eq!(wrong.status, unknown.status);
    assert_eq!(wrong.body, unknown.body);
}

#[tokio::test]
async fn unknown_user_login_does_the_same_hashing_work_as_a_wrong_password() {
    let app = TestApp::new().await;
    app.register("alice", PASSWORD).await;
    let time = |user: &'static str| {
        let app = &app;
        async move {
            let mut samples = Vec::new();
            for _ in 0..5 {
                let t = std::time::Instant::now();
                app.login(user, "wrong-password").await;
                samples.push(t.elapsed());
            }
            samples.sort();
            samples[2]
        }
    };
    let known = time("alice").await;
    let unknown = time("nobody").await;
    // Without the dummy hash an unknown user answers in microseconds, not milliseconds; the
    // factor 3 leaves room for scheduling noise while tests run in parallel.
    assert!(
        unknown * 3 > known,
        "unknown {unknown:?} vs known {known:?}"
    );
    assert!(
        known * 3 > unknown,
        "unknown {unknown:?} vs known {known:?}"
    );
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_stops_working() {
    let app = TestApp::new().await;
    let (_, refresh) = app.user_tokens("alice").await;
    let first = app.refresh(&refresh).await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    let next = first.body["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(next, refresh);
    let me = app
        .get(
            "/v1/me",
            first.body["access_token"].as_str().expect("access"),
        )
        .await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    assert_eq!(app.refresh(&next).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_session_ends_at_its_maximum_however_often_it_is_refreshed() {
    let day = 24 * 3600;
    let app = TestApp::with_config(|c| {
        c.refresh_ttl = 10 * day;
        c.session_max = 25 * day;
    })
    .await;
    let (_, mut refresh) = app.user_tokens("alice").await;
    // refreshed every 9 days, each token would live 10 more: without the cap, forever
    for _ in 0..2 {
        app.clock.advance(9 * day);
        let r = app.refresh(&refresh).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        refresh = r.body["refresh_token"]
            .as_str()
            .expect("rotated")
            .to_owned();
    }
    // the token issued on day 18 expires on day 25, the session's end, not on day 28
    app.clock.advance(7 * day + 1);
    let r = app.refresh(&refresh).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");
}

#[tokio::test]
async fn reusing_a_refresh_token_revokes_its_whole_family() {
    let app = TestApp::new().await;
    let (_, refresh) = app.user_tokens("alice").await;
    let rotated = app.refresh(&refresh).await.body["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    // an attacker replays the old token
    assert_error(
        &app.refresh(&refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    // the legitimate holder's newer token is dead too
    assert_error(
        &app.refresh(&rotated).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_uses_of_one_refresh_token_let_one_win_and_revoke_the_family() {
    let app = std::sync::Arc::new(TestApp::new().await);
    let (_, refresh) = app.user_tokens("alice").await;
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(6));
    let racers: Vec<_> = (0..6)
        .map(|_| {
            let (app, refresh, start) = (app.clone(), refresh.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                app.refresh(&refresh).await
            })
        })
        .collect();
    let mut results = Vec::new();
    for r in racers {
        results.push(r.await.expect("join"));
    }
    let winners: Vec<_> = results
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .collect();
    assert_eq!(winners.len(), 1, "{results:#?}");
    for r in results.iter().filter(|r| r.status != StatusCode::OK) {
        assert_error(r, StatusCode::BAD_REQUEST, "invalid_grant");
    }
    // The losers count as a replay: the family, including the winner's new token, is dead.
    let next = winners[0].body["refresh_token"].as_str().expect("rotated");
    assert_error(
        &app.refresh(next).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
}

#[tokio::test]
async fn refresh_cannot_widen_the_scope_and_a_refused_refresh_consumes_nothing() {
    let app = TestApp::new().await;
    app.register("alice", PASSWORD).await;
    let t = app.login_scoped("alice", PASSWORD, "documents:read").await;
    let refresh = t.body["refresh_token"].as_str().expect("refresh");
    let wider = app
        .token_form(&format!(
            "grant_type=refresh_token&refresh_token={refresh}&scope=documents:write"
        ))
        .await;
    assert_error(&wider, StatusCode::BAD_REQUEST, "invalid_scope");
    let ok = app.refresh(refresh).await;
    assert_eq!(ok.status, StatusCode::OK, "{ok:?}");
    assert_eq!(ok.body["scope"], "documents:read");
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused() {
    let app = TestApp::new().await;
    let (_, refresh) = app.user_tokens("alice").await;
    app.clock.advance(14 * 24 * 3600 + 1);
    assert_error(
        &app.refresh(&refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
}

#[tokio::test]
async fn revoke_kills_the_refresh_family_and_answers_200_even_for_unknown_tokens() {
    let app = TestApp::new().await;
    let (_, refresh) = app.user_tokens("alice").await;
    let rotated = app.refresh(&refresh).await.body["refresh_token"]
        .as_str()
        .expect("r")
        .to_owned();
    let req = Request::post("/v1/auth/revoke")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "token={refresh}&token_type_hint=refresh_token"
        )))
        .expect("req");
    assert_eq!(app.send(req).await.status, StatusCode::OK);
    assert_error(
        &app.refresh(&rotated).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    let unknown = app
        .call(
            Method::POST,
            "/v1/auth/revoke",
            None,
            Some(json!({"token": "nope"})),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::OK);
}

#[tokio::test]
async fn logout_all_rejects_every_earlier_access_and_refresh_token() {
    let app = TestApp::new().await;
    let (access, refresh) = app.user_tokens("alice").await;
    let r = app
        .call(Method::POST, "/v1/auth/logout-all", Some(&access), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_error(
        &app.get("/v1/me", &access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_error(
        &app.refresh(&refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    // a new login works again
    let fresh = app.login("alice", PASSWORD).await.body["access_token"]
        .as_str()
        .expect("a")
        .to_owned();
    assert_eq!(app.get("/v1/me", &fresh).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_disabled_user_can_neither_log_in_nor_use_earlier_tokens() {
    let app = TestApp::new().await;
    let (access, refresh) = app.user_tokens("alice").await;
    let user = warden::store::users::find_by_username(&app.state.db, "alice")
        .await
        .expect("db")
        .expect("user");
    warden::store::users::set_disabled(&app.state.db, user.id, true, 0)
        .await
        .expect("disable");
    assert_error(
        &app.get("/v1/me", &access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_error(
        &app.refresh(&refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    assert_error(
        &app.login("alice", PASSWORD).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
}

#[tokio::test]
async fn a_disabled_account_answers_the_right_password_like_a_wrong_one() {
    let app = TestApp::new().await;
    app.register("alice", PASSWORD).await;
    patch_user(&app, "alice", json!({"disabled": true})).await;
    let right = app.login("alice", PASSWORD).await;
    let wrong = app.login("alice", "wrong-password").await;
    assert_error(&right, StatusCode::BAD_REQUEST, "invalid_grant");
    assert_eq!((right.status, &right.body), (wrong.status, &wrong.body));
}

/// Admin `PATCH /v1/admin/users/{name}`.
async fn patch_user(app: &TestApp, name: &str, body: serde_json::Value) {
    let admin = app.admin_token().await;
    let r = app
        .call(
            Method::PATCH,
            &format!("/v1/admin/users/{name}"),
            Some(&admin),
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

#[tokio::test]
async fn refresh_grants_only_the_scopes_the_user_still_holds() {
    let app = TestApp::new().await;
    let (_, refresh) = app.user_tokens("alice").await;
    patch_user(&app, "alice", json!({"scopes": ["documents:read"]})).await;
    let asked = app
        .token_form(&format!(
            "grant_type=refresh_token&refresh_token={refresh}&scope=documents:write"
        ))
        .await;
    assert_error(&asked, StatusCode::BAD_REQUEST, "invalid_scope");
    let r = app.refresh(&refresh).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["scope"], "documents:read");
    let access = r.body["access_token"].as_str().expect("access");
    let claims = jsonwebtoken::dangerous::insecure_decode::<serde_json::Value>(access)
        .expect("decode")
        .claims;
    assert_eq!(claims["scope"], "documents:read");
}

#[tokio::test]
async fn a_scope_removed_from_a_user_stops_working_on_their_existing_access_tokens() {
    let app = TestApp::new().await;
    let (access, _) = app.user_tokens("alice").await;
    assert_eq!(
        app.get("/api/documents", &access).await.status,
        StatusCode::OK
    );
    patch_user(&app, "alice", json!({"scopes": ["documents:write"]})).await;
    assert_error(
        &app.get("/api/documents", &access).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let me = app.get("/v1/me", &access).await;
    assert_eq!(
        me.body["token_scopes"],
        json!(["documents:write"]),
        "{me:?}"
    );
}

#[tokio::test]
async fn re_enabling_a_user_does_not_revive_their_earlier_tokens() {
    let app = TestApp::new().await;
    let (access, refresh) = app.user_tokens("alice").await;
    patch_user(&app, "alice", json!({"disabled": true})).await;
    patch_user(&app, "alice", json!({"disabled": false})).await;
    assert_error(
        &app.get("/v1/me", &access).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_error(
        &app.refresh(&refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    // the account itself works again
    assert_eq!(app.login("alice", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test]
async fn me_shows_roles_attributes_and_the_token_scopes() {
    let app = TestApp::new().await;
    app.register("alice", PASSWORD).await;
    let t = app.login_scoped("alice", PASSWORD, "documents:read").await;
    let me = app
        .get("/v1/me", t.body["access_token"].as_str().expect("a"))
        .await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    assert_eq!(me.body["username"], "alice");
    assert_eq!(me.body["roles"], json!(["user"]));
    assert_eq!(me.body["token_scopes"], json!(["documents:read"]));
    assert!(me.body["attributes"].is_object());
    let admin = app.get("/v1/me", &app.admin_token().await).await;
    assert_eq!(admin.body["roles"], json!(["admin", "user"]));
}

#[tokio::test]
async fn jwks_publishes_the_signing_key_by_kid() {
    let app = TestApp::new().await;
    let jwks = app
        .call(Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(jwks.status, StatusCode::OK);
    let key = &jwks.body["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["alg"], "EdDSA");
    let access = app.admin_token().await;
    let header = jsonwebtoken::decode_header(&access).expect("header");
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());
    // another service verifies offline with the published key
    let dk =
        jsonwebtoken::DecodingKey::from_ed_components(key["x"].as_str().expect("x")).expect("key");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    v.set_audience(&["warden"]);
    v.set_issuer(&["warden"]);
    jsonwebtoken::decode::<serde_json::Value>(&access, &dk, &v).expect("verifies offline");
}

#[tokio::test]
async fn logins_back_off_per_account_and_client_with_retry_after() {
    let app = TestApp::with_config(|c| c.login_limits.free_failures = 3).await;
    app.register("alice", PASSWORD).await;
    for _ in 0..3 {
        assert_error(
            &app.login("alice", "wrong-password").await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        );
    }
    let limited = app.login("alice", PASSWORD).await;
    assert_error(&limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(
        limited.headers[header::RETRY_AFTER]
            .to_str()
            .expect("text")
            .parse::<u64>()
            .expect("secs")
            > 0
    );
    app.clock.advance(301);
    assert_eq!(app.login("alice", PASSWORD).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_wrong_passwords_cannot_overtake_the_per_account_and_client_limit() {
    let app = std::sync::Arc::new(TestApp::with_config(|c| c.login_limits.free_failures = 3).await);
    app.register("alice", PASSWORD).await;
    let burst: Vec<_> = (0..30)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.login("alice", "wrong-password").await })
        })
        .collect();
    let mut evaluated = 0;
    for b in burst {
        let r = b.await.expect("join");
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
            assert!(r.headers.contains_key(header::RETRY_AFTER), "{r:?}");
        } else {
            assert_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");
            evaluated += 1;
        }
    }
    assert!(evaluated <= 3, "{evaluated} passwords were checked");
}

#[tokio::test]
async fn an_invalid_username_gets_the_wrong_password_answer() {
    let app = TestApp::new().await;
    app.register("alice", PASSWORD).await;
    let wrong = app.login("alice", "wrong-password").await;
    for name in ["a", "not a name", &"x".repeat(10_000)] {
        let r = app.login(name, "wrong-password").await;
        assert_eq!(
            (r.status, &r.body),
            (wrong.status, &wrong.body),
            "{name:.20}"
        );
    }
}

#[tokio::test]
async fn logins_are_rate_limited_per_client_address() {
    let app = TestApp::with_config(|c| c.login_limits.failures_per_client = 2).await;
    for user in ["u1", "u2"] {
        assert_eq!(
            app.login(user, "wrong-password").await.status,
            StatusCode::BAD_REQUEST
        );
    }
    assert_error(
        &app.login("u3", "wrong-password").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
}

#[tokio::test]
async fn the_bootstrap_admin_survives_a_restart_with_its_keys() {
    let dir = tempfile::tempdir().expect("dir");
    let url = crate::helpers::fresh_database_url(dir.path()).await;
    let start = |pw: &'static str| {
        let url = url.clone();
        async move {
            let mut c = warden::config::Config::for_database(&url);
            c.admin_password = Some(pw.to_owned().into());
            warden::bootstrap::start(c, std::sync::Arc::new(warden::clock::SystemClock))
                .await
                .expect("start")
        }
    };
    let first = start("first-password").await;
    let keys_before = first.state.keys.jwks().clone();
    drop(first);
    // the second start ignores a changed WARDEN_ADMIN_PASSWORD: the admin already exists
    let second = start("second-password").await;
    assert_eq!(second.state.keys.jwks(), &keys_before);
    assert!(!second.seeded);
    let user = warden::store::users::find_by_username(&second.state.db, "admin")
        .await
        .expect("db")
        .expect("admin");
    assert!(
        second
            .state
            .hasher
            .verify("first-password".into(), Some(user.password_hash))
            .await
            .expect("verify")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_logins_does_not_stall_other_requests() {
    let app = std::sync::Arc::new(
        TestApp::with_config(|c| c.login_limits.failures_per_client = 1000).await,
    );
    let started = std::time::Instant::now();
    let burst: Vec<_> = (0..24)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.login(&format!("user{i}"), "wrong-password")
                    .await
                    .status
            })
        })
        .collect();
    // The probe runs on the same worker threads as the logins: if hashing ran on them, it
    // would wait for the burst to drain.
    let probe = {
        let app = app.clone();
        tokio::spawn(async move {
            let mut worst = std::time::Duration::ZERO;
            for _ in 0..5 {
                let t = std::time::Instant::now();
                assert_eq!(
                    app.call(Method::GET, "/healthz", None, None).await.status,
                    StatusCode::OK
                );
                worst = worst.max(t.elapsed());
            }
            worst
        })
    };
    let worst = probe.await.expect("probe");
    let mut statuses = Vec::new();
    for b in burst {
        statuses.push(b.await.expect("login"));
    }
    let burst_took = started.elapsed();
    assert!(statuses.iter().all(|s| *s == StatusCode::BAD_REQUEST));
    assert!(
        worst * 4 < burst_took,
        "healthz took {worst:?} while the login burst took {burst_took:?}"
    );
    assert!(
        app.state.hasher.peak_concurrency()
            <= std::thread::available_parallelism().map_or(2, |n| n.get())
    );
}

#[tokio::test]
async fn a_registration_is_in_force_at_once_without_reading_the_policy_again() {
    let app = TestApp::new().await;
    let v0 = app.state.engine.snapshot().expect("snapshot").version();
    // Any load of the next version from the database fails: the new account's role can only
    // reach the engine by the incremental path (the policy plus the one assignment).
    app.state.engine.refuse_loads_from_for_tests(v0 + 1);
    let r = app.register("zoe", "zoe-password-1").await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(
        app.state.engine.snapshot().expect("snapshot").version(),
        v0 + 1
    );
    let token = app.login("zoe", "zoe-password-1").await.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let me = app.get("/v1/me", &token).await;
    assert_eq!(me.status, StatusCode::OK, "role:user is in force: {me:?}");
}
