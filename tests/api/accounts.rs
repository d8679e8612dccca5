//! The account lifecycle an admin manages: create (with a password, or with a one-time
//! set-password token), reset, delete; and a user's own password change.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, PASSWORD, TestApp, TestResponse, assert_error};

async fn create(app: &TestApp, admin: &str, body: serde_json::Value) -> TestResponse {
    app.call(Method::POST, "/v1/admin/users", Some(admin), Some(body))
        .await
}

async fn set_password(app: &TestApp, token: &str, password: &str) -> TestResponse {
    app.call(
        Method::POST,
        "/v1/auth/set-password",
        None,
        Some(json!({ "token": token, "password": password })),
    )
    .await
}

async fn delete(app: &TestApp, token: &str, name: &str) -> TestResponse {
    app.call(
        Method::DELETE,
        &format!("/v1/admin/users/{name}"),
        Some(token),
        None,
    )
    .await
}

async fn reset(app: &TestApp, token: &str, name: &str, body: serde_json::Value) -> TestResponse {
    app.call(
        Method::POST,
        &format!("/v1/admin/users/{name}/reset-password"),
        Some(token),
        Some(body),
    )
    .await
}

fn access(r: &TestResponse) -> String {
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body["access_token"].as_str().expect("access").to_owned()
}

fn refresh_of(r: &TestResponse) -> String {
    r.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned()
}

#[tokio::test]
async fn with_registration_off_an_admin_creates_an_account_that_logs_in_at_once() {
    let app = TestApp::with_config(|c| c.allow_registration = false).await;
    let admin = app.admin_token().await;
    assert_error(
        &app.register("carol", PASSWORD).await,
        StatusCode::FORBIDDEN,
        "registration_disabled",
    );
    let before = app.policy_version(&admin).await;
    let r = create(
        &app,
        &admin,
        json!({ "username": "Carol", "password": PASSWORD, "attributes": { "department": "eng" } }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["username"], "Carol");
    assert_eq!(
        r.body["attributes"],
        json!({ "clearance": 0, "department": "eng" })
    );
    assert!(r.body.get("set_password_token").is_none(), "{r:?}");
    assert!(r.body.get("password").is_none() && !r.body.to_string().contains(PASSWORD));
    assert_eq!(r.headers["location"], "/v1/admin/users/carol");
    assert_eq!(r.headers["cache-control"], "no-store");
    let version: i64 = r.headers["warden-policy-version"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("version");
    assert!(
        version > before,
        "a policy version: {version} after {before}"
    );
    let carol = access(&app.login("carol", PASSWORD).await);
    let me = app.get("/v1/me", &carol).await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    assert_eq!(me.body["roles"], json!(["user"]));
    // audited, with the admin as the actor
    let audit = app.get("/v1/admin/audit?limit=5", &admin).await;
    let entry = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["version"] == version)
        .unwrap_or_else(|| panic!("no audit entry for {version}: {audit:?}"));
    assert_eq!(entry["actor"], "admin", "{entry}");
    assert_eq!(entry["action"], "users.create", "{entry}");
    // the same name, in any case, is taken
    assert_error(
        &create(
            &app,
            &admin,
            json!({ "username": "CAROL", "password": PASSWORD }),
        )
        .await,
        StatusCode::CONFLICT,
        "username_taken",
    );
}

#[tokio::test]
async fn what_an_admin_sends_when_creating_an_account_is_validated_like_a_registration() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let cases = [
        (json!({ "username": "x", "password": PASSWORD }), "username"),
        (
            json!({ "username": "dave", "password": "short" }),
            "password",
        ),
        (json!({ "username": "dave", "email": "nope" }), "email"),
        (
            json!({ "username": "dave", "display_name": "a\u{7}b" }),
            "display_name",
        ),
        (
            json!({ "username": "dave", "attributes": { "principal": "admin" } }),
            "attributes.principal",
        ),
        (
            json!({ "username": "dave", "password": PASSWORD, "set_password_ttl_secs": 600 }),
            "set_password_ttl_secs",
        ),
        (
            json!({ "username": "dave", "set_password_ttl_secs": 10 }),
            "set_password_ttl_secs",
        ),
        (
            json!({ "username": "dave", "set_password_ttl_secs": i64::MAX }),
            "set_password_ttl_secs",
        ),
    ];
    for (body, field) in cases {
        let r = create(&app, &admin, body.clone()).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            r.body["message"].as_str().expect("message").contains(field),
            "{body}: {r:?}"
        );
    }
    // roles cannot be granted this way: assignments go through the policy routes
    let r = create(
        &app,
        &admin,
        json!({ "username": "dave", "roles": ["admin"] }),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(
        app.get("/v1/admin/users/dave", &admin).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_account_created_without_a_password_is_entered_once_with_its_token_before_it_expires() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let r = create(
        &app,
        &admin,
        json!({ "username": "erin", "set_password_ttl_secs": 3600 }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let token = r.body["set_password_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert!(token.len() >= 43, "256 bits: {token}");
    let expires = r.body["set_password_expires_at"].as_i64().expect("expiry");
    assert!(
        (expires - warden::clock::Clock::now(&app.clock) - 3600).abs() <= 1,
        "{expires}"
    );
    // no password works meanwhile (not even an empty or a guessed one)
    for guess in ["", "password", PASSWORD, &token] {
        assert_eq!(
            app.login("erin", guess).await.status,
            StatusCode::BAD_REQUEST,
            "{guess:?}"
        );
    }
    // the token is not the only thing checked: the password follows the registration rules
    assert_error(
        &set_password(&app, &token, "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    for bad in ["", "x", &token[..token.len() - 1], &"a".repeat(600)] {
        assert_error(
            &set_password(&app, bad, "erin-password-1").await,
            StatusCode::BAD_REQUEST,
            "invalid_set_password_token",
        );
    }
    let done = set_password(&app, &token, "erin-password-1").await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{done:?}");
    access(&app.login("erin", "erin-password-1").await);
    // used once
    assert_error(
        &set_password(&app, &token, "erin-password-2").await,
        StatusCode::BAD_REQUEST,
        "invalid_set_password_token",
    );
    access(&app.login("erin", "erin-password-1").await);
    // an expired token, same answer
    let r = create(
        &app,
        &admin,
        json!({ "username": "frank", "set_password_ttl_secs": 300 }),
    )
    .await;
    let token = r.body["set_password_token"]
        .as_str()
        .expect("token")
        .to_owned();
    app.clock.advance(301);
    assert_error(
        &set_password(&app, &token, "frank-password-1").await,
        StatusCode::BAD_REQUEST,
        "invalid_set_password_token",
    );
    assert_eq!(
        app.login("frank", "frank-password-1").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn a_reset_ends_the_old_password_and_every_session_at_once() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (access_token, refresh) = app.user_tokens("gina").await;
    assert_eq!(
        app.get("/v1/me", &access_token).await.status,
        StatusCode::OK
    );
    let r = reset(&app, &admin, "GINA", json!({})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.headers["cache-control"], "no-store");
    let token = r.body["set_password_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(
        app.get("/v1/me", &access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.refresh(&refresh).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.login("gina", PASSWORD).await.status,
        StatusCode::BAD_REQUEST
    );
    // a second reset replaces the first token
    let again = reset(
        &app,
        &admin,
        "gina",
        json!({ "set_password_ttl_secs": 600 }),
    )
    .await;
    let newer = again.body["set_password_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_error(
        &set_password(&app, &token, "gina-password-2").await,
        StatusCode::BAD_REQUEST,
        "invalid_set_password_token",
    );
    assert_eq!(
        set_password(&app, &newer, "gina-password-2").await.status,
        StatusCode::NO_CONTENT
    );
    access(&app.login("gina", "gina-password-2").await);
    assert_error(
        &reset(&app, &admin, "nobody", json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn a_deleted_account_loses_its_sessions_and_roles_at_once_and_its_name_for_good() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (access_token, refresh) = app.user_tokens("hank").await;
    app.assign(&admin, "user:hank", "role:editor").await;
    let before = app.policy_version(&admin).await;
    let r = delete(&app, &admin, "Hank").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    let version: i64 = r.headers["warden-policy-version"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("version");
    assert_eq!(version, before + 1);
    assert_eq!(
        app.get("/v1/me", &access_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.refresh(&refresh).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.login("hank", PASSWORD).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_error(
        &app.get("/v1/admin/users/hank", &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let snapshot = app.state.engine.snapshot().expect("policy");
    assert!(
        snapshot
            .assignments()
            .iter()
            .all(|a| a.member != "user:hank"),
        "role assignments removed"
    );
    // the audit keeps the name
    let audit = app.get("/v1/admin/audit?limit=5", &admin).await;
    let entry = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["version"] == version)
        .unwrap_or_else(|| panic!("{audit:?}"));
    assert_eq!(entry["action"], "users.delete");
    assert!(entry.to_string().contains("hank"), "{entry}");
    assert!(entry["before"].to_string().contains("hank"), "{entry}");
    // nobody gets the name again, neither by registration nor from an admin
    for name in ["hank", "HANK"] {
        assert_error(
            &app.register(name, PASSWORD).await,
            StatusCode::CONFLICT,
            "username_taken",
        );
        assert_error(
            &create(
                &app,
                &admin,
                json!({ "username": name, "password": PASSWORD }),
            )
            .await,
            StatusCode::CONFLICT,
            "username_taken",
        );
    }
    // and a role assignment to the old name is refused as naming nobody
    let r = app
        .call(
            Method::POST,
            "/v1/admin/roles/assignments",
            Some(&admin),
            Some(json!({ "member": "user:hank", "role": "role:admin" })),
        )
        .await;
    assert!(r.status.is_client_error(), "{r:?}");
    assert_error(
        &delete(&app, &admin, "hank").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn the_last_admin_cannot_be_deleted_but_one_of_two_can() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    assert_error(
        &delete(&app, &admin, "admin").await,
        StatusCode::CONFLICT,
        "lockout",
    );
    assert_eq!(app.get("/v1/me", &admin).await.status, StatusCode::OK);
    let r = create(
        &app,
        &admin,
        json!({ "username": "ivy", "password": PASSWORD }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    app.assign(&admin, "user:ivy", "role:admin").await;
    let ivy = access(&app.login("ivy", PASSWORD).await);
    let r = delete(&app, &ivy, "admin").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(
        app.get("/v1/me", &admin).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("admin", ADMIN_PASSWORD).await.status,
        StatusCode::BAD_REQUEST
    );
    // now ivy is the last one
    assert_error(
        &delete(&app, &ivy, "ivy").await,
        StatusCode::CONFLICT,
        "lockout",
    );
}

#[tokio::test]
async fn a_user_changes_their_own_password_and_only_their_other_sessions_end() {
    let app = TestApp::new().await;
    let (a_access, a_refresh) = app.user_tokens("jack").await;
    let b = app.login("jack", PASSWORD).await;
    let (b_access, b_refresh) = (access(&b), refresh_of(&b));
    let change = |current: &str, new: &str| {
        let body = json!({ "current_password": current, "new_password": new });
        let token = a_access.clone();
        let app = &app;
        async move {
            app.call(Method::POST, "/v1/me/password", Some(&token), Some(body))
                .await
        }
    };
    assert_error(
        &change("not-the-password", "jack-password-2").await,
        StatusCode::FORBIDDEN,
        "wrong_password",
    );
    assert_error(
        &change(PASSWORD, "short").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        app.get("/v1/me", &b_access).await.status,
        StatusCode::OK,
        "nothing changed yet"
    );
    let r = change(PASSWORD, "jack-password-2").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    // this session goes on, the other one is over, and only the new password logs in
    assert_eq!(app.get("/v1/me", &a_access).await.status, StatusCode::OK);
    assert_eq!(app.refresh(&a_refresh).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/v1/me", &b_access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.refresh(&b_refresh).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.login("jack", PASSWORD).await.status,
        StatusCode::BAD_REQUEST
    );
    access(&app.login("jack", "jack-password-2").await);
}

#[tokio::test]
async fn guessing_the_current_password_with_a_stolen_token_is_throttled() {
    let app = TestApp::new().await;
    let (token, _) = app.user_tokens("kim").await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let r = app
            .call(
                Method::POST,
                "/v1/me/password",
                Some(&token),
                Some(json!({ "current_password": format!("guess-{i}-xx"), "new_password": "kim-password-2" })),
            )
            .await;
        statuses.push(r.status.as_u16());
    }
    assert!(statuses.starts_with(&[403, 403, 403]), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // throttled even with the right password until the wait is over
    let r = app
        .call(
            Method::POST,
            "/v1/me/password",
            Some(&token),
            Some(json!({ "current_password": PASSWORD, "new_password": "kim-password-2" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{r:?}");
    assert!(r.headers.contains_key("retry-after"));
}

/// Who may call each lifecycle route: subject x route -> status (a matrix, decided by the
/// shipped seed policy).
#[tokio::test]
async fn the_lifecycle_routes_are_governed_by_the_policy() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (user, _) = app.user_tokens("lena").await;
    app.user_tokens("target").await;
    let none = String::new();
    type Row<'a> = (&'a str, &'a str, Method, &'a str, serde_json::Value);
    let rows: [Row; 4] = [
        (
            "user",
            &user,
            Method::POST,
            "/v1/admin/users",
            json!({ "username": "made-by-user" }),
        ),
        (
            "user",
            &user,
            Method::POST,
            "/v1/admin/users/target/reset-password",
            json!({}),
        ),
        (
            "anonymous",
            &none,
            Method::POST,
            "/v1/admin/users",
            json!({ "username": "made-by-anon" }),
        ),
        (
            "anonymous",
            &none,
            Method::POST,
            "/v1/me/password",
            json!({ "current_password": PASSWORD, "new_password": "x-password-2" }),
        ),
    ];
    for (who, token, method, path, body) in rows {
        let token = (!token.is_empty()).then_some(token);
        let r = app.call(method.clone(), path, token, Some(body)).await;
        let expected = if token.is_some() {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(r.status, expected, "{who} {method} {path}: {r:?}");
    }
    for (who, token) in [("user", Some(user.as_str())), ("anonymous", None)] {
        let r = app
            .call(Method::DELETE, "/v1/admin/users/target", token, None)
            .await;
        let expected = if token.is_some() {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(r.status, expected, "{who}: {r:?}");
    }
    // nothing happened
    assert_eq!(
        app.get("/v1/admin/users/target", &admin).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/v1/admin/users/made-by-user", &admin).await.status,
        StatusCode::NOT_FOUND
    );
    // a deny rule takes a user's own password change away like any route
    app.add_rule(
        &admin,
        json!({ "subject": "user:lena", "object": "/v1/me/password", "action": "POST", "effect": "deny" }),
    )
    .await;
    let r = app
        .call(
            Method::POST,
            "/v1/me/password",
            Some(&user),
            Some(json!({ "current_password": PASSWORD, "new_password": "lena-password-2" })),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn a_service_account_is_neither_reset_nor_deleted_through_the_user_routes() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    app.service_account(&admin, "bot-x", &[], &[]).await;
    assert_error(
        &delete(&app, &admin, "bot-x").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &reset(&app, &admin, "bot-x", json!({})).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_eq!(
        app.get("/v1/admin/service-accounts/bot-x", &admin)
            .await
            .status,
        StatusCode::OK
    );
}
