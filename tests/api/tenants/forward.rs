//! Forward-auth in a named tenant (`X-Warden-Tenant`): by the rule of `/v1/check`'s `tenant`.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{create_tenant, forward, put_member, token_in};
use crate::helpers::{PASSWORD, TestApp, assert_error};

fn trusting_gateway() -> impl FnOnce(&mut warden::config::Config) {
    |c| {
        c.proxies.trusted = vec![warden::auth::client::Cidr::parse("10.0.0.0/8").expect("cidr")];
    }
}

/// (who, token, path, X-Warden-Tenant, expected status, expected error code)
type Case<'a> = (
    &'a str,
    &'a str,
    &'a str,
    Option<&'a str>,
    StatusCode,
    &'a str,
);

#[tokio::test]
async fn forward_auth_decides_in_the_named_tenant_only_for_its_own_token_or_an_installation_admin()
{
    let app = TestApp::with_config(trusting_gateway()).await;
    let admin = app.admin_token().await;
    create_tenant(&app, &admin, "acme").await;
    assert_eq!(
        app.register("carol", PASSWORD).await.status,
        StatusCode::CREATED
    );
    let r = put_member(&app, &admin, "acme", "carol", &["role:editor"]).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    // In acme, editors may open /app/reports; in acme, admins may not open /app/vault.
    for rule in [
        json!({"tenant": "acme", "subject": "role:editor", "object": "/app/reports", "action": "GET", "effect": "allow"}),
        json!({"tenant": "acme", "subject": "role:admin", "object": "/app/vault", "action": "GET", "effect": "deny"}),
    ] {
        let r = app
            .call(Method::POST, "/v1/admin/rules", Some(&admin), Some(rule))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    let carol_acme = token_in(&app, "carol", "acme").await;
    let carol_default = token_in(&app, "carol", "default").await;

    let cases: [Case; 12] = [
        (
            "carol in acme",
            &carol_acme,
            "/app/reports",
            None,
            StatusCode::NO_CONTENT,
            "",
        ),
        (
            "carol in acme, naming acme",
            &carol_acme,
            "/app/reports",
            Some("acme"),
            StatusCode::NO_CONTENT,
            "",
        ),
        (
            "carol in acme, naming default",
            &carol_acme,
            "/app/reports",
            Some("default"),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "carol in default",
            &carol_default,
            "/app/reports",
            None,
            StatusCode::NO_CONTENT,
            "",
        ),
        // a member of acme, but with a token of default: switching tenant is a new token
        (
            "carol in default, naming acme",
            &carol_default,
            "/app/reports",
            Some("acme"),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "carol naming a malformed tenant",
            &carol_acme,
            "/app/reports",
            Some("Not A Tenant"),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "the admin",
            &admin,
            "/app/vault",
            None,
            StatusCode::NO_CONTENT,
            "",
        ),
        (
            "the admin, naming default",
            &admin,
            "/app/vault",
            Some("default"),
            StatusCode::NO_CONTENT,
            "",
        ),
        (
            "the admin, naming acme",
            &admin,
            "/app/vault",
            Some("acme"),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "the admin, naming acme, another path",
            &admin,
            "/app/reports",
            Some("acme"),
            StatusCode::NO_CONTENT,
            "",
        ),
        (
            "the admin, naming a malformed tenant",
            &admin,
            "/app/vault",
            Some("Not A Tenant"),
            StatusCode::FORBIDDEN,
            "validation_failed",
        ),
        (
            "the admin, naming no tenant name",
            &admin,
            "/app/vault",
            Some(""),
            StatusCode::FORBIDDEN,
            "validation_failed",
        ),
    ];
    for (who, token, path, tenant, status, code) in cases {
        let r = forward(&app, token, "GET", path, tenant).await;
        assert_eq!(r.status, status, "{who}: {r:?}");
        if status == StatusCode::FORBIDDEN {
            assert_error(&r, status, code);
            assert_eq!(r.headers["x-warden-error"], code, "{who}: {r:?}");
        }
    }
    // The roles the gateway passes on are the named tenant's.
    let in_acme = forward(&app, &carol_acme, "GET", "/app/reports", Some("acme")).await;
    let roles = in_acme.headers["x-warden-roles"].to_str().expect("ascii");
    assert!(roles.split(',').any(|r| r == "editor"), "{roles}");
    let in_default = forward(&app, &carol_default, "GET", "/app/reports", None).await;
    let roles = in_default.headers["x-warden-roles"]
        .to_str()
        .expect("ascii");
    assert!(!roles.split(',').any(|r| r == "editor"), "{roles}");
}

#[tokio::test]
async fn forward_auth_refuses_a_tenant_header_sent_twice_as_a_gateway_misconfiguration() {
    let app = TestApp::with_config(trusting_gateway()).await;
    let admin = app.admin_token().await;
    let mut req = axum::http::Request::builder()
        .uri("/v1/authz/forward")
        .header("authorization", format!("Bearer {admin}"))
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-uri", "/app/a")
        .header("x-warden-tenant", "default")
        .header("x-warden-tenant", "default")
        .body(axum::body::Body::empty())
        .expect("request");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [10, 1, 2, 3],
            40_000,
        ))));
    let r = app.send(req).await;
    assert_error(&r, StatusCode::FORBIDDEN, "bad_forwarded_request");
}
