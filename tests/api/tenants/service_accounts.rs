//! `client_credentials` with `tenant`: a service account is made a member of a tenant like a
//! person (`PUT /v1/tenants/{tenant}/admin/members/{name}`), and gets tokens there by the
//! password grant's rule.

use axum::http::{Method, StatusCode};
use serde_json::json;

use super::{create_tenant, put_member, tid, token_in, two_tenants};
use crate::helpers::{TestApp, assert_error};

#[tokio::test]
async fn a_service_account_gets_tokens_in_the_tenants_it_is_a_member_of_and_no_other() {
    let app = TestApp::new().await;
    let admin = two_tenants(&app).await;
    let alice = token_in(&app, "alice", "acme").await;
    let bot = app
        .service_account(&admin, "ci-bot", &["user"], &["documents:read"])
        .await;
    let grant = |tenant: Option<&str>, secret: &str| {
        let extra = tenant.map(|t| format!("&tenant={t}")).unwrap_or_default();
        let (app, id, secret) = (&app, bot.client_id.clone(), secret.to_owned());
        async move { app.client_token_basic(&id, &secret, &extra).await }
    };
    let secret = bot.client_secret.as_str();

    // Without `tenant`: its only tenant, default. Named: only where it is a member.
    let plain = grant(None, secret).await;
    assert_eq!(plain.status, StatusCode::OK, "{plain:?}");
    assert_eq!(
        tid(plain.body["access_token"].as_str().expect("token")),
        "default"
    );
    assert_error(
        &grant(Some("acme"), secret).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    assert_error(
        &grant(Some("nowhere"), secret).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    assert_error(
        &grant(Some("Not_A_Name"), secret).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    // A wrong secret learns nothing about tenants.
    let wrong = format!("{secret}x");
    assert_error(
        &grant(Some("acme"), &wrong).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    );

    // acme's tenant admin makes it an editor of acme, as a person would be.
    let r = put_member(&app, &alice, "acme", "ci-bot", &["role:editor"]).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let members = app.get("/v1/tenants/acme/admin/members", &alice).await;
    assert!(
        members
            .body
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["name"] == "ci-bot" && m["roles"] == json!(["role:editor"])),
        "{members:?}"
    );
    let rule =
        json!({"subject": "role:editor", "object": "report", "action": "read", "effect": "allow"});
    let added = app
        .call(
            Method::POST,
            "/v1/tenants/acme/admin/rules",
            Some(&alice),
            Some(rule),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");

    let in_acme = grant(Some("acme"), secret).await;
    assert_eq!(in_acme.status, StatusCode::OK, "{in_acme:?}");
    let acme_token = in_acme.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert_eq!(tid(&acme_token), "acme");
    assert_error(
        &grant(Some("globex"), secret).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
    let reads = |token: String| {
        let app = &app;
        async move {
            let check = json!({"checks": [{"object": {"type": "report"}, "action": "read"}]});
            let r = app
                .call(Method::POST, "/v1/check", Some(&token), Some(check))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            r.body["results"][0]["allowed"].as_bool().expect("allowed")
        }
    };
    assert!(
        reads(acme_token.clone()).await,
        "an editor of acme, in acme"
    );
    let default_token = grant(None, secret).await.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    assert!(
        !reads(default_token).await,
        "acme's role does not reach default"
    );

    // Removed from acme: its acme token stops working and no new one is issued there.
    let gone = app
        .call(
            Method::DELETE,
            "/v1/tenants/acme/admin/members/ci-bot",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{gone:?}");
    assert_eq!(
        app.get("/v1/me", &acme_token).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_error(
        &grant(Some("acme"), secret).await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
}

#[tokio::test]
async fn a_service_account_of_one_tenant_only_gets_its_tokens_there_without_naming_it() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    create_tenant(&app, &admin, "acme").await;
    let bot = app
        .service_account(&admin, "acme-bot", &["user"], &["documents:read"])
        .await;
    let r = put_member(&app, &admin, "acme", "acme-bot", &["role:viewer"]).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let left = app
        .call(
            Method::DELETE,
            "/v1/tenants/default/admin/members/acme-bot",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(left.status, StatusCode::OK, "{left:?}");
    let r = app
        .client_token_basic(&bot.client_id, &bot.client_secret, "")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(tid(r.body["access_token"].as_str().expect("token")), "acme");
    assert_error(
        &app.client_token_basic(&bot.client_id, &bot.client_secret, "&tenant=default")
            .await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
}
