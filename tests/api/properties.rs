//! Properties of the invariant matrix proved before every admin edit: an edit that the listed
//! cells cannot see (it weakens a rule only for a department no invariant subject or object
//! has) is refused with 409 `property_violated` and a counterexample naming that department.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// The seed's classification deny (`*`, document, read).
async fn clearance_deny(app: &TestApp, admin: &str) -> Value {
    app.get("/v1/admin/rules?effect=deny&subject=*", admin)
        .await
        .body["items"][0]["id"]
        .clone()
}

/// The README's "Not yet" edit: the clearance deny replaced by one that spares finance.
fn spare_finance(deny_id: Value) -> Value {
    json!({
        "add": [{"subject": "*", "object": "document", "action": "read", "effect": "deny",
                 "condition": "r.obj.classification >= 3 && r.sub.clearance < 3 && r.obj.department != \"finance\""}],
        "delete": [deny_id]
    })
}

#[tokio::test]
async fn sparing_one_department_from_the_clearance_deny_is_refused_with_a_counterexample_in_it() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let v0 = app.policy_version(&admin).await;
    let change = spare_finance(clearance_deny(&app, &admin).await);
    let r = app
        .call(
            Method::POST,
            "/v1/admin/policy/changes",
            Some(&admin),
            Some(change.clone()),
        )
        .await;
    // the invariant matrix's cells (all in eng) pass: the property refuses it
    assert_error(&r, StatusCode::CONFLICT, "property_violated");
    let cx = &r.body["details"]["counterexample"];
    assert_eq!(r.body["details"]["matrix"], "invariants", "{r:?}");
    assert_eq!(cx["property"], "classified-needs-clearance", "{r:?}");
    assert_eq!(cx["object"], "document");
    assert_eq!(cx["action"], "read");
    assert_eq!(cx["object_attributes"]["department"], "finance", "{r:?}");
    assert!(
        cx["object_attributes"]["classification"].as_i64() >= Some(3),
        "{r:?}"
    );
    assert!(!cx["allowed_by"].as_array().expect("rules").is_empty());
    assert_eq!(app.policy_version(&admin).await, v0);

    // the dry run shows the same refusal and counterexample
    let dry = app
        .call(
            Method::POST,
            "/v1/admin/policy/dry-run",
            Some(&admin),
            Some(json!({ "change": change })),
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{dry:?}");
    assert_eq!(dry.body["accepted"], false);
    assert_eq!(dry.body["refusal"]["error"], "property_violated");
    assert_eq!(dry.body["refusal"]["details"]["counterexample"], *cx);
}

#[tokio::test]
async fn an_admin_route_opened_to_one_department_is_refused_naming_it() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let v0 = app.policy_version(&admin).await;
    let r = app
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(
                json!({"subject": "role:user", "object": "/v1/admin/*", "action": "*", "effect": "allow",
                       "condition": "r.sub.department == \"finance\""}),
            ),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "property_violated");
    let cx = &r.body["details"]["counterexample"];
    assert_eq!(cx["property"], "admin-api-for-admins-only", "{r:?}");
    assert_eq!(cx["subject_attributes"]["department"], "finance", "{r:?}");
    assert!(
        !cx["roles"]
            .as_array()
            .expect("roles")
            .contains(&json!("role:admin"))
    );
    assert_eq!(app.policy_version(&admin).await, v0);
}

#[tokio::test]
async fn an_edit_that_keeps_the_properties_is_accepted() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let v0 = app.policy_version(&admin).await;
    // a narrower deny: still every classification >= 3 below clearance 3, and more
    let r = app
        .add_rule(
            &admin,
            json!({"subject": "role:user", "object": "document", "action": "read", "effect": "allow",
                   "condition": "r.obj.department == \"finance\" && r.sub.department == \"finance\""}),
        )
        .await;
    assert!(r.status.is_success(), "{r:?}");
    assert!(app.policy_version(&admin).await > v0);
}

/// The allow property `admins-keep-the-admin-api`: a deny that shuts out only an admin who
/// does not exist yet (no invariant cell and no real account sees it) is refused, with a
/// counterexample that holds role:admin, is denied, and names the deny rule.
#[tokio::test]
async fn an_edit_that_would_deny_an_admin_an_admin_route_is_refused_naming_the_admin() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let v0 = app.policy_version(&admin).await;
    let r = app
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(
                json!({"subject": "*", "object": "/v1/admin/users/:name", "action": "DELETE", "effect": "deny",
                       "condition": "r.sub.name == \"zed\""}),
            ),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "property_violated");
    let cx = &r.body["details"]["counterexample"];
    assert_eq!(cx["property"], "admins-keep-the-admin-api", "{r:?}");
    assert_eq!(cx["expect"], "allow", "{r:?}");
    assert_eq!(cx["name"], "zed", "{r:?}");
    assert_eq!(
        (&cx["action"], &cx["object"]),
        (&json!("DELETE"), &json!("/v1/admin/users/1"))
    );
    assert!(
        cx["roles"]
            .as_array()
            .expect("roles")
            .contains(&json!("role:admin")),
        "{r:?}"
    );
    assert_eq!(cx["allowed_by"], json!([]), "{r:?}");
    assert_eq!(cx["denied_by"].as_array().map(Vec::len), Some(1), "{r:?}");
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("may not DELETE /v1/admin/users/1")),
        "{r:?}"
    );
    assert_eq!(app.policy_version(&admin).await, v0);
}
