//! `GET /v1/admin/users/{name}/roles` with tenants: `direct` and `effective` in one tenant
//! (default `default`, as before tenants), every assignment apart in `by_tenant`.

use axum::http::StatusCode;
use serde_json::json;

use super::two_tenants;
use crate::helpers::{TestApp, assert_error};

#[tokio::test]
async fn a_users_roles_are_shown_per_tenant_and_default_is_what_it_was() {
    let app = TestApp::new().await;
    let admin = two_tenants(&app).await;
    let roles = |query: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move { app.get(&format!("/v1/admin/users/{query}"), &admin).await }
    };
    // alice: role:user in default (registered), role:tenant-admin in acme.
    let plain = roles("alice/roles").await;
    assert_eq!(plain.status, StatusCode::OK, "{plain:?}");
    assert_eq!(plain.body["tenant"], "default");
    assert_eq!(
        plain.body["direct"],
        json!(["role:user"]),
        "acme's role is not default's"
    );
    assert_eq!(plain.body["effective"], json!(["role:user"]));
    assert_eq!(
        plain.body["by_tenant"],
        json!({"acme": ["role:tenant-admin"], "default": ["role:user"]})
    );
    let acme = roles("alice/roles?tenant=acme").await;
    assert_eq!(acme.body["tenant"], "acme", "{acme:?}");
    assert_eq!(acme.body["direct"], json!(["role:tenant-admin"]));
    let effective = acme.body["effective"].as_array().expect("effective");
    assert!(effective.contains(&json!("role:tenant-admin")), "{acme:?}");
    assert!(!effective.contains(&json!("role:editor")), "{acme:?}");
    let globex = roles("alice/roles?tenant=globex").await;
    assert_eq!(globex.body["direct"], json!([]), "{globex:?}");
    assert_eq!(globex.body["effective"], json!([]), "{globex:?}");

    // A global role holds in every tenant, and says so under `*`.
    let root = roles("admin/roles?tenant=acme").await;
    assert_eq!(root.body["direct"], json!(["role:admin"]), "{root:?}");
    assert_eq!(
        root.body["by_tenant"]["*"],
        json!(["role:admin"]),
        "{root:?}"
    );

    assert_error(
        &roles("alice/roles?tenant=nowhere").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &roles("alice/roles?tenant=Not_A_Name").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}
