//! Service accounts and the client_credentials grant: admin lifecycle (create, list, delete,
//! rotate with an overlap), RFC 6749 §4.4 with both client authentication methods, its
//! defences, and a policy that tells services from users (`r.sub.kind`).

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::service_accounts::{ServiceCredentials, url_encode};
use crate::helpers::*;

fn claims(token: &str) -> Value {
    jsonwebtoken::dangerous::insecure_decode::<Value>(token)
        .expect("decode")
        .claims
}

fn audited(audit: &TestResponse, action: &str) -> Vec<Value> {
    audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

fn assert_invalid_client(r: &TestResponse) {
    assert_error(r, StatusCode::UNAUTHORIZED, "invalid_client");
    let challenge = r.headers[header::WWW_AUTHENTICATE].to_str().expect("ascii");
    assert!(challenge.starts_with("Basic "), "{challenge}");
}

/// An app with an admin token and a service account `ci-bot` (role user, documents:read).
async fn with_bot() -> (TestApp, String, ServiceCredentials) {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let creds = app
        .service_account(&admin, "ci-bot", &["user"], &["documents:read"])
        .await;
    (app, admin, creds)
}

#[tokio::test]
async fn an_admin_creates_a_service_account_whose_secret_is_shown_once_and_never_again() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let v0 = app.policy_version(&admin).await;
    let r = app
        .create_service_account(
            &admin,
            json!({"name": "ci-bot", "roles": ["user"], "scopes": ["documents:read"],
                   "attributes": {"department": "eng"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let secret = r.body["client_secret"].as_str().expect("secret").to_owned();
    let client_id = r.body["client_id"].as_str().expect("client id").to_owned();
    assert!(
        secret.starts_with("wsec_") && secret.len() >= 43 + 7,
        "{secret}"
    );
    assert!(client_id.starts_with("svc-"), "{client_id}");
    assert_eq!(r.body["roles"], json!(["role:user"]));
    assert_eq!(r.body["scopes"], json!(["documents:read"]));
    assert_eq!(r.body["attributes"], json!({"department": "eng"}));
    // a policy version, audited with its actor
    let v1 = r.body["policy_version"].as_i64().expect("version");
    assert_eq!(v1, v0 + 1);
    assert_eq!(r.headers["warden-policy-version"], v1.to_string().as_str());
    let audit = app.get("/v1/admin/audit", &admin).await;
    let created = audited(&audit, "service_accounts.create");
    assert_eq!(created.len(), 1, "{audit:?}");
    assert_eq!(created[0]["actor"], "admin");
    assert_eq!(created[0]["version"], v1);
    assert!(!audit.body.to_string().contains(&secret[6..]));
    // listed and shown, never with the secret
    let list = app.get("/v1/admin/service-accounts", &admin).await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    assert_eq!(list.body["total"], 1);
    let item = &list.body["items"][0];
    assert_eq!(item["name"], "ci-bot");
    assert_eq!(item["client_id"], client_id.as_str());
    assert_eq!(item["secrets"].as_array().map(Vec::len), Some(1));
    assert!(item["secrets"][0]["expires_at"].is_null());
    let shown = app.get("/v1/admin/service-accounts/ci-bot", &admin).await;
    assert_eq!(shown.status, StatusCode::OK, "{shown:?}");
    for body in [&list.body, &shown.body] {
        let text = body.to_string();
        assert!(!text.contains(&secret[6..]), "{text}");
        assert!(
            !text.contains("client_secret") && !text.contains("hash"),
            "{text}"
        );
    }
    // it is an account: the user list shows it, marked as a service
    let users = app.get("/v1/admin/users", &admin).await;
    let kinds: Vec<(Value, Value)> = users.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| (u["username"].clone(), u["kind"].clone()))
        .collect();
    assert!(
        kinds.contains(&(json!("ci-bot"), json!("service"))),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&(json!("admin"), json!("user"))),
        "{kinds:?}"
    );
    // the service's roles are the policy's: the role list names it as a member
    let roles = app.get("/v1/admin/roles", &admin).await;
    let user_role = roles
        .body
        .as_array()
        .expect("roles")
        .iter()
        .find(|r| r["role"] == "role:user")
        .cloned()
        .expect("role:user");
    assert!(
        user_role["members"]
            .as_array()
            .expect("members")
            .contains(&json!("user:ci-bot"))
    );
}

#[tokio::test]
async fn a_service_gets_a_service_token_with_basic_or_post_and_no_refresh_token() {
    let (app, _admin, creds) = with_bot().await;
    let basic = app
        .client_token_basic(&creds.client_id, &creds.client_secret, "")
        .await;
    let post = app
        .client_token_post(&creds.client_id, &creds.client_secret, "")
        .await;
    for r in [&basic, &post] {
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(r.body["token_type"], "bearer");
        assert_eq!(r.body["scope"], "documents:read");
        assert!(
            r.body.get("refresh_token").is_none(),
            "RFC 6749 §4.4.3: {r:?}"
        );
        assert_eq!(r.headers[header::CACHE_CONTROL], "no-store");
        let token = r.body["access_token"].as_str().expect("token");
        let c = claims(token);
        assert_eq!(c["kind"], "service", "{c}");
        assert!(c["sid"].as_str().expect("sid").starts_with("svc:"), "{c}");
        // the token works on a route its role allows
        let me = app.get("/v1/me", token).await;
        assert_eq!(me.status, StatusCode::OK, "{me:?}");
        assert_eq!(me.body["username"], "ci-bot");
        assert_eq!(me.body["roles"], json!(["user"]));
    }
    // a user's token says what it is too
    let (alice, _) = app.user_tokens("alice").await;
    assert_eq!(claims(&alice)["kind"], "user");
}

#[tokio::test]
async fn basic_credentials_are_form_urldecoded_before_use() {
    let (app, _admin, creds) = with_bot().await;
    // RFC 6749 §2.3.1: the id and secret are form-urlencoded before Basic; a client that
    // escapes even unreserved characters must still authenticate.
    let escape_all = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();
    let raw = format!(
        "{}:{}",
        escape_all(&creds.client_id),
        escape_all(&creds.client_secret)
    );
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(raw);
    let r = app.client_token_with(&format!("Basic {basic}"), "").await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

#[tokio::test]
async fn every_client_authentication_failure_is_invalid_client_with_a_basic_challenge() {
    let (app, _admin, creds) = with_bot().await;
    let (id, secret) = (creds.client_id.as_str(), creds.client_secret.as_str());
    let (prefix, random) = secret.split_once('.').expect("shape");
    let wrong_random = format!("{prefix}.{}", "A".repeat(random.len()));
    let other_row = format!("wsec_999.{random}");
    let unknown_id = "svc-00000000000000000000000000000000";
    let cases: Vec<(&str, String, String)> = vec![
        (
            "unknown client id",
            unknown_id.to_owned(),
            secret.to_owned(),
        ),
        ("wrong secret", id.to_owned(), wrong_random.clone()),
        ("secret of no row", id.to_owned(), other_row),
        ("not a secret at all", id.to_owned(), "hunter2".to_owned()),
        ("empty secret", id.to_owned(), String::new()),
        ("overlong id", "x".repeat(5000), secret.to_owned()),
    ];
    for (why, id, secret) in &cases {
        // each case starts with a fresh login budget (throttling has its own test)
        app.clock.advance(3600);
        assert_invalid_client(&app.client_token_basic(id, secret, "").await);
        let post = app.client_token_post(id, secret, "").await;
        assert_invalid_client(&post);
        assert!(
            !post.body.to_string().contains(secret.as_str()) || secret.is_empty(),
            "{why}"
        );
    }
    app.clock.advance(3600);
    // no credentials, malformed Basic, a Bearer header instead
    assert_invalid_client(&app.token_form("grant_type=client_credentials").await);
    assert_invalid_client(&app.client_token_with("Basic !!!not-base64", "").await);
    assert_invalid_client(&app.client_token_with("Bearer abc", "").await);
    // a client id without a secret is no authentication
    let only_id = app
        .token_form(&format!("grant_type=client_credentials&client_id={id}"))
        .await;
    assert_invalid_client(&only_id);
    app.clock.advance(3600);
    // two methods at once is refused (RFC 6749 §2.3)
    let both = app
        .client_token_basic(
            id,
            secret,
            &format!("&client_secret={}", url_encode(secret)),
        )
        .await;
    assert_error(&both, StatusCode::BAD_REQUEST, "invalid_request");
    // and the credentials still work
    assert_eq!(
        app.client_token_basic(id, secret, "").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unknown_client_id_costs_exactly_the_verification_a_wrong_secret_costs() {
    let (app, _admin, creds) = with_bot().await;
    let (prefix, random) = creds.client_secret.split_once('.').expect("shape");
    let wrong = format!("{prefix}.{}", "B".repeat(random.len()));
    let unknown = "svc-ffffffffffffffffffffffffffffffff";
    let attempts = [
        (creds.client_id.as_str(), wrong.as_str()),
        (unknown, creds.client_secret.as_str()),
        (creds.client_id.as_str(), "malformed"),
        ("not a valid id!", "malformed"),
        (creds.client_id.as_str(), creds.client_secret.as_str()),
    ];
    for (id, secret) in attempts {
        let before = app.state.hasher.hashes_finished();
        let r = app.client_token_basic(id, secret, "").await;
        assert_eq!(
            app.state.hasher.hashes_finished() - before,
            1,
            "one argon2 verification for ({id}, {secret}): {r:?}"
        );
    }
}

#[tokio::test]
async fn failed_client_authentication_is_throttled_like_logins() {
    let (app, _admin, creds) = with_bot().await;
    let mut throttled = None;
    for _ in 0..10 {
        let r = app
            .client_token_basic(&creds.client_id, "wsec_1.wrong", "")
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            throttled = Some(r);
            break;
        }
        assert_invalid_client(&r);
    }
    let r = throttled.expect("throttled within 10 failures");
    assert_error(&r, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(r.headers.contains_key(header::RETRY_AFTER), "{r:?}");
    // while throttled, even the right secret waits, so guessing gains nothing
    let right = app
        .client_token_basic(&creds.client_id, &creds.client_secret, "")
        .await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS, "{right:?}");
    // when the back-off ends, the right secret works
    app.clock.advance(3600);
    let right = app
        .client_token_basic(&creds.client_id, &creds.client_secret, "")
        .await;
    assert_eq!(right.status, StatusCode::OK, "{right:?}");
}

#[tokio::test]
async fn a_requested_scope_narrows_the_token_and_asking_for_more_is_invalid_scope() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let creds = app
        .service_account(
            &admin,
            "ci-bot",
            &["user"],
            &["documents:read", "documents:write"],
        )
        .await;
    let (id, secret) = (&creds.client_id, &creds.client_secret);
    let all = app.client_token_basic(id, secret, "").await;
    assert_eq!(
        all.body["scope"], "documents:read documents:write",
        "{all:?}"
    );
    let narrow = app
        .client_token_basic(id, secret, "&scope=documents:read")
        .await;
    assert_eq!(narrow.status, StatusCode::OK, "{narrow:?}");
    assert_eq!(narrow.body["scope"], "documents:read");
    assert_eq!(
        claims(narrow.body["access_token"].as_str().expect("t"))["scope"],
        "documents:read"
    );
    for more in ["admin:all", "documents:read+admin:all", "bad%22scope"] {
        let r = app
            .client_token_post(id, secret, &format!("&scope={more}"))
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_scope");
    }
}

#[tokio::test]
async fn a_service_cannot_use_the_password_grant_and_a_user_cannot_use_client_credentials() {
    let (app, _admin, creds) = with_bot().await;
    // the service's name and secret (or anything) as a password: the wrong-password answer
    for password in [creds.client_secret.as_str(), "!service", "anything-at-all"] {
        let r = app.login("ci-bot", &url_encode(password)).await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");
        assert_eq!(r.body["message"], "invalid username or password");
    }
    // the same name through its client id is a different thing: the client id is required
    let r = app
        .login(&creds.client_id, &url_encode(&creds.client_secret))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");
    // a user's name and password as client credentials: no such client
    app.user_tokens("alice").await;
    assert_invalid_client(&app.client_token_basic("alice", PASSWORD, "").await);
    assert_invalid_client(&app.client_token_post("alice", PASSWORD, "").await);
}

#[tokio::test]
async fn rotation_keeps_the_previous_secret_for_the_overlap_then_neither_it_nor_its_tokens_work() {
    let (app, admin, old) = with_bot().await;
    let old_token = app.service_token(&old).await;
    let v0 = app.policy_version(&admin).await;
    let r = app
        .rotate_service_secret(&admin, "ci-bot", Some(json!({"overlap_secs": 600})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["policy_version"], v0 + 1);
    let now = app.state.now();
    assert_eq!(r.body["previous_secret_expires_at"], now + 600);
    let new = ServiceCredentials {
        client_id: r.body["client_id"].as_str().expect("id").to_owned(),
        client_secret: r.body["client_secret"].as_str().expect("secret").to_owned(),
    };
    assert_eq!(new.client_id, old.client_id, "the client id stays");
    assert_ne!(new.client_secret, old.client_secret);
    let audit = app.get("/v1/admin/audit", &admin).await;
    assert_eq!(
        audited(&audit, "service_accounts.rotate").len(),
        1,
        "{audit:?}"
    );
    // during the overlap: both secrets work; a token from the old one ends with the overlap
    let during = app
        .client_token_basic(&old.client_id, &old.client_secret, "")
        .await;
    assert_eq!(during.status, StatusCode::OK, "{during:?}");
    assert_eq!(during.body["expires_in"], 600);
    let during_token = during.body["access_token"].as_str().expect("t").to_owned();
    assert_eq!(claims(&during_token)["exp"], now + 600);
    let new_token = app.service_token(&new).await;
    for t in [&old_token, &during_token, &new_token] {
        assert_eq!(app.get("/v1/me", t).await.status, StatusCode::OK);
    }
    let shown = app.get("/v1/admin/service-accounts/ci-bot", &admin).await;
    assert_eq!(
        shown.body["secrets"].as_array().map(Vec::len),
        Some(2),
        "{shown:?}"
    );
    // past the overlap: the old secret and every token it obtained stop (the first one's
    // own expiry is 900 s away); the new secret and its tokens work
    app.clock.advance(601);
    assert_invalid_client(
        &app.client_token_basic(&old.client_id, &old.client_secret, "")
            .await,
    );
    let r = app.get("/v1/me", &old_token).await;
    assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    assert_eq!(
        app.get("/v1/me", &during_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get("/v1/me", &new_token).await.status, StatusCode::OK);
    app.service_token(&new).await;
    let shown = app.get("/v1/admin/service-accounts/ci-bot", &admin).await;
    assert_eq!(
        shown.body["secrets"].as_array().map(Vec::len),
        Some(1),
        "{shown:?}"
    );
}

#[tokio::test]
async fn a_second_rotation_ends_the_first_overlap_and_a_zero_overlap_ends_at_once() {
    let (app, admin, first) = with_bot().await;
    let first_token = app.service_token(&first).await;
    let r = app.rotate_service_secret(&admin, "ci-bot", None).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "no body is the default overlap: {r:?}"
    );
    assert_eq!(r.body["previous_secret_expires_at"], app.state.now() + 3600);
    let second = ServiceCredentials {
        client_id: first.client_id.clone(),
        client_secret: r.body["client_secret"].as_str().expect("s").to_owned(),
    };
    assert_eq!(app.get("/v1/me", &first_token).await.status, StatusCode::OK);
    let second_token = app.service_token(&second).await;
    // rotating again: the first secret (in its overlap) stops now, the second gets one
    let r = app
        .rotate_service_secret(&admin, "ci-bot", Some(json!({"overlap_secs": 0})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let third = ServiceCredentials {
        client_id: first.client_id.clone(),
        client_secret: r.body["client_secret"].as_str().expect("s").to_owned(),
    };
    for (creds, token) in [(&first, &first_token), (&second, &second_token)] {
        assert_invalid_client(
            &app.client_token_basic(&creds.client_id, &creds.client_secret, "")
                .await,
        );
        assert_eq!(
            app.get("/v1/me", token).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    app.service_token(&third).await;
    // an overlap outside 0..=7 days, an unknown field or a bad body is a 422
    for body in [
        json!({"overlap_secs": -1}),
        json!({"overlap_secs": 604_801}),
        json!({"overlap": 5}),
    ] {
        let r = app
            .rotate_service_secret(&admin, "ci-bot", Some(body))
            .await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let r = app.rotate_service_secret(&admin, "nobody", None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn deleting_a_service_account_stops_its_tokens_and_secret_at_once() {
    let (app, admin, creds) = with_bot().await;
    let token = app.service_token(&creds).await;
    assert_eq!(app.get("/v1/me", &token).await.status, StatusCode::OK);
    let v0 = app.policy_version(&admin).await;
    let r = app.delete_service_account(&admin, "CI-Bot").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(
        r.headers["warden-policy-version"],
        (v0 + 1).to_string().as_str()
    );
    let me = app.get("/v1/me", &token).await;
    assert_error(&me, StatusCode::UNAUTHORIZED, "invalid_token");
    assert_invalid_client(
        &app.client_token_basic(&creds.client_id, &creds.client_secret, "")
            .await,
    );
    // its role assignment went with it, in the same audited version
    let roles = app.get("/v1/admin/roles", &admin).await;
    assert!(!roles.body.to_string().contains("user:ci-bot"), "{roles:?}");
    let audit = app.get("/v1/admin/audit", &admin).await;
    let deleted = audited(&audit, "service_accounts.delete");
    assert_eq!(deleted.len(), 1, "{audit:?}");
    assert_eq!(
        deleted[0]["before"],
        json!([{"assignment": ["user:ci-bot", "role:user"]}])
    );
    let list = app.get("/v1/admin/service-accounts", &admin).await;
    assert_eq!(list.body["total"], 0, "{list:?}");
    assert_error(
        &app.delete_service_account(&admin, "ci-bot").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // a user is not deleted through this route
    app.user_tokens("alice").await;
    assert_error(
        &app.delete_service_account(&admin, "alice").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // and the name is retired, as a deleted user's is: nobody inherits a rule naming it
    let again = app
        .call(
            Method::POST,
            "/v1/admin/service-accounts",
            Some(&admin),
            Some(json!({ "name": "CI-BOT", "roles": [], "scopes": [] })),
        )
        .await;
    assert_error(&again, StatusCode::CONFLICT, "name_taken");
    assert_error(
        &app.register("ci-bot", PASSWORD).await,
        StatusCode::CONFLICT,
        "username_taken",
    );
}

#[tokio::test]
async fn deleting_the_last_account_that_administers_the_policy_is_a_lockout() {
    let (app, admin, _) = with_bot().await;
    let ops = app
        .service_account(&admin, "ops-bot", &["admin"], &[])
        .await;
    let ops_token = app.service_token(&ops).await;
    // the bootstrap admin loses the role: the service is the only administrator left
    let r = app
        .call(
            Method::DELETE,
            "/v1/admin/roles/assignments",
            Some(&ops_token),
            Some(json!({"member": "user:admin", "role": "role:admin"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = app.delete_service_account(&ops_token, "ops-bot").await;
    assert_error(&r, StatusCode::CONFLICT, "lockout");
    assert_eq!(
        app.get("/v1/admin/service-accounts/ops-bot", &ops_token)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn creation_validates_the_name_roles_scopes_and_attributes() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    app.user_tokens("alice").await;
    app.service_account(&admin, "ci-bot", &[], &[]).await;
    let v0 = app.policy_version(&admin).await;
    let cases = [
        (
            json!({"name": "a b"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": "bot2", "roles": ["no-such-role"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": "bot2", "roles": ["role:"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": "bot2", "scopes": ["a b"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": "bot2", "scopes": ["*"]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": "bot2", "attributes": {"kind": "user"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": "bot2", "attributes": {"name": "x"}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"name": "bot2", "secret": "mine"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            json!({"roles": []}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (json!({"name": "Alice"}), StatusCode::CONFLICT, "name_taken"),
        (
            json!({"name": "CI-BOT"}),
            StatusCode::CONFLICT,
            "name_taken",
        ),
        (
            json!({"name": "admin", "roles": ["admin"]}),
            StatusCode::CONFLICT,
            "name_taken",
        ),
    ];
    for (body, status, code) in cases {
        let r = app.create_service_account(&admin, body.clone()).await;
        assert_eq!((r.status, r.error_code()), (status, code), "{body}: {r:?}");
    }
    assert_eq!(app.policy_version(&admin).await, v0, "nothing was written");
    // a role is known by a rule naming it or an assignment; `role:` may be omitted or given
    let r = app
        .create_service_account(
            &admin,
            json!({"name": "bot2", "roles": ["role:viewer", "auditor"]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["roles"], json!(["role:auditor", "role:viewer"]));
    // a user cannot take the name of a service account either
    let taken = app.register("bot2", PASSWORD).await;
    assert_error(&taken, StatusCode::CONFLICT, "username_taken");
}

#[tokio::test]
async fn service_account_routes_are_governed_by_the_policy() {
    let (app, _admin, creds) = with_bot().await;
    let (alice, _) = app.user_tokens("alice").await;
    let bot = app.service_token(&creds).await;
    let routes = [
        (Method::GET, "/v1/admin/service-accounts", None),
        (
            Method::POST,
            "/v1/admin/service-accounts",
            Some(json!({"name": "x-bot"})),
        ),
        (Method::GET, "/v1/admin/service-accounts/ci-bot", None),
        (Method::DELETE, "/v1/admin/service-accounts/ci-bot", None),
        (
            Method::POST,
            "/v1/admin/service-accounts/ci-bot/secret",
            None,
        ),
    ];
    for (method, path, body) in routes {
        for who in [&alice, &bot] {
            let r = app
                .call(method.clone(), path, Some(who), body.clone())
                .await;
            assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
        }
        let r = app.call(method.clone(), path, None, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}: {r:?}");
    }
    // a service with role admin administers like any admin
    let admin = app.admin_token().await;
    let ops = app
        .service_account(&admin, "ops-bot", &["admin"], &[])
        .await;
    let ops = app.service_token(&ops).await;
    let r = app.get("/v1/admin/service-accounts", &ops).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["total"], 2);
}

/// `r.sub.kind` in conditions: the same role allows one thing to services and another to
/// people, asked through /v1/check by the service itself and by an admin naming each.
#[tokio::test]
async fn a_rule_on_r_sub_kind_tells_a_service_from_a_user_with_the_same_role() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    for (action, kind) in [("ingest", "service"), ("review", "user")] {
        app.add_rule(
            &admin,
            json!({"subject": "role:reporter", "object": "report", "action": action,
            "condition": format!("r.sub.kind == \"{kind}\""), "effect": "allow"}),
        )
        .await;
    }
    app.add_rule(&admin, json!({"subject": "role:reporter", "object": "/v1/check", "action": "POST", "effect": "allow"})).await;
    app.user_tokens("alice").await;
    assert_eq!(
        app.assign(&admin, "user:alice", "role:reporter")
            .await
            .status,
        StatusCode::CREATED
    );
    let creds = app
        .service_account(&admin, "ingest-bot", &["reporter"], &[])
        .await;
    let bot = app.service_token(&creds).await;
    // the matrix: subject x action -> allowed
    let matrix = [
        ("alice", "ingest", false),
        ("alice", "review", true),
        ("ingest-bot", "ingest", true),
        ("ingest-bot", "review", false),
    ];
    let checks: Vec<Value> = matrix
        .iter()
        .map(|(s, a, _)| json!({"subject": {"name": s}, "object": {"type": "report"}, "action": a}))
        .collect();
    let r = app
        .call(
            Method::POST,
            "/v1/check",
            Some(&admin),
            Some(json!({"checks": checks, "explain": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    for (i, (subject, action, expected)) in matrix.iter().enumerate() {
        let got = &r.body["results"][i];
        assert_eq!(got["allowed"], *expected, "{subject} {action}: {got}");
        assert!(got.get("error").is_none(), "{subject} {action}: {got}");
    }
    // the service asks about itself with its own token
    let own = app
        .call(
            Method::POST,
            "/v1/check",
            Some(&bot),
            Some(json!({"checks": [
            {"object": {"type": "report"}, "action": "ingest"},
            {"object": {"type": "report"}, "action": "review"}]})),
        )
        .await;
    assert_eq!(own.status, StatusCode::OK, "{own:?}");
    assert_eq!(own.body["results"][0]["allowed"], true, "{own:?}");
    assert_eq!(own.body["results"][1]["allowed"], false, "{own:?}");
    // a user cannot make themself a service: `kind` is not an attribute an admin may set
    let r = app
        .call(
            Method::PATCH,
            "/v1/admin/users/alice",
            Some(&admin),
            Some(json!({"attributes": {"kind": "service"}})),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test]
async fn a_token_whose_kind_disagrees_with_its_account_is_rejected() {
    let (app, _admin, creds) = with_bot().await;
    let bot = app.service_token(&creds).await;
    let (alice, _) = app.user_tokens("alice").await;
    // re-sign each token with the other kind, with the server's own key
    for (token, kind) in [(&bot, "user"), (&alice, "service")] {
        let mut c: warden::auth::keys::Claims =
            serde_json::from_value(claims(token)).expect("claims");
        c.kind = serde_json::from_value(json!(kind)).expect("kind");
        let forged = app.state.keys.sign(&c).expect("sign");
        let r = app.get("/v1/me", &forged).await;
        assert_error(&r, StatusCode::UNAUTHORIZED, "invalid_token");
    }
}

/// Deleting or rotating (past the overlap) on one instance stops the service on another
/// that had its account and secret cached: within milliseconds on Postgres (announced), and
/// within the account cache's bound (2 s) on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_or_rotating_on_one_instance_stops_the_service_on_every_instance() {
    let a = TestApp::new().await;
    let b = a.another_instance().await;
    let followers = follow(&[&a, &b]);
    let admin = a.admin_token().await;
    let bound = match std::env::var(BACKEND_VAR).as_deref() {
        Ok("postgres") => Duration::from_millis(1000),
        _ => Duration::from_millis(3000),
    };
    // B answers `want` for `token` within the bound (a new account reaches B's policy by
    // announcement or heartbeat, like any version)
    let until = |token: String, want: StatusCode| {
        let b = &b;
        async move {
            let start = Instant::now();
            loop {
                let got = b.get("/v1/me", &token).await.status;
                if got == want {
                    return start.elapsed();
                }
                assert!(
                    start.elapsed() < bound,
                    "B still answers {got} after {bound:?}"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    let until_refused = |token: String| until(token, StatusCode::UNAUTHORIZED);
    // rotation with no overlap: the old secret's token stops on B
    let creds = a.service_account(&admin, "ci-bot", &["user"], &[]).await;
    let old = a.service_token(&creds).await;
    until(old.clone(), StatusCode::OK).await;
    assert_eq!(
        b.get("/v1/me", &old).await.status,
        StatusCode::OK,
        "B has it cached"
    );
    let r = a
        .rotate_service_secret(&admin, "ci-bot", Some(json!({"overlap_secs": 0})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    until_refused(old).await;
    let new = ServiceCredentials {
        client_id: creds.client_id.clone(),
        client_secret: r.body["client_secret"].as_str().expect("s").to_owned(),
    };
    assert_invalid_client(
        &b.client_token_basic(&creds.client_id, &creds.client_secret, "")
            .await,
    );
    // delete: the new secret's token stops on B, and B issues no more
    let token = b.service_token(&new).await;
    assert_eq!(b.get("/v1/me", &token).await.status, StatusCode::OK);
    let r = a.delete_service_account(&admin, "ci-bot").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    until_refused(token).await;
    assert_invalid_client(
        &b.client_token_basic(&new.client_id, &new.client_secret, "")
            .await,
    );
    followers.iter().for_each(|f| f.abort());
}

#[tokio::test]
async fn the_openapi_documents_the_service_account_routes_and_the_grant() {
    let app = TestApp::new().await;
    let spec = app
        .call(Method::GET, "/openapi.json", None, None)
        .await
        .body;
    let paths = &spec["paths"];
    for (path, methods) in [
        ("/v1/admin/service-accounts", &["get", "post"][..]),
        ("/v1/admin/service-accounts/{name}", &["get", "delete"][..]),
        ("/v1/admin/service-accounts/{name}/secret", &["post"][..]),
    ] {
        for m in methods {
            assert!(paths[path][m].is_object(), "{m} {path} undocumented");
        }
    }
    assert!(paths["/v1/admin/service-accounts"]["post"]["responses"]["201"].is_object());
    assert!(paths["/v1/admin/service-accounts/{name}"]["delete"]["responses"]["204"].is_object());
    assert!(
        paths["/v1/admin/service-accounts/{name}/secret"]["post"]["responses"]["201"].is_object()
    );
    let token = &paths["/v1/auth/token"]["post"];
    assert!(
        token["responses"]["401"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("invalid_client"))
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["client_secret_basic"]["scheme"],
        "basic"
    );
    let request = &spec["components"]["schemas"]["TokenRequest"]["properties"];
    assert!(request["client_id"].is_object() && request["client_secret"].is_object());
    let response = &spec["components"]["schemas"]["TokenResponse"];
    let required = response["required"].as_array().expect("required");
    assert!(
        !required.contains(&json!("refresh_token")),
        "client_credentials has none"
    );
}

#[tokio::test]
async fn a_disabled_service_account_gets_no_token_and_its_tokens_stop() {
    let (app, admin, creds) = with_bot().await;
    let token = app.service_token(&creds).await;
    let r = app
        .call(
            Method::PATCH,
            "/v1/admin/users/ci-bot",
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        app.get("/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_invalid_client(
        &app.client_token_basic(&creds.client_id, &creds.client_secret, "")
            .await,
    );
    let r = app
        .call(
            Method::PATCH,
            "/v1/admin/users/ci-bot",
            Some(&admin),
            Some(json!({"disabled": false})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        app.get("/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED,
        "re-enabling does not bring old tokens back"
    );
    app.service_token(&creds).await;
}
