//! A tenant's own matrices (`/v1/tenants/{tenant}/admin/matrices`): stored, read and deleted
//! by the tenant's admin and never another's, decided in the tenant, refused when they reach
//! outside it, and, as invariants, guarding every edit by anyone.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::{tenant_history, token_in, two_tenants};
use crate::helpers::{TestApp, assert_error};

/// A matrix in JSON: `ed` (an editor of the tenant) may read `report`s and not delete them.
fn editors_read_reports(name: &str, invariant: bool) -> Value {
    json!({
        "name": name,
        "invariant": invariant,
        "subjects": {"ed": {"roles": ["editor"]}},
        "objects": {"r": {"type": "report"}},
        "actions": ["read", "delete"],
        "allow": [["ed", "r", "read"]],
        "deny": [["ed", "r", "delete"]],
    })
}

fn names(r: &crate::helpers::TestResponse) -> Vec<(String, Option<String>)> {
    r.body
        .as_array()
        .unwrap_or_else(|| panic!("a list: {r:?}"))
        .iter()
        .map(|m| {
            (
                m["name"].as_str().expect("name").to_owned(),
                m["tenant"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

/// acme's tenant rule letting its editors read reports (what the matrices above state).
async fn acme_editors_read_reports(app: &TestApp, alice: &str) -> i64 {
    let r = app
        .call(
            Method::POST,
            "/v1/tenants/acme/admin/rules",
            Some(alice),
            Some(json!({"subject": "role:editor", "object": "report", "action": "read", "effect": "allow"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.body["rule_ids"][0].as_i64().expect("the rule's id")
}

#[tokio::test]
async fn a_tenant_admin_keeps_their_tenants_matrices_and_sees_no_one_elses() {
    let app = TestApp::new().await;
    let admin = two_tenants(&app).await;
    let alice = token_in(&app, "alice", "acme").await;
    let bob = token_in(&app, "bob", "globex").await;
    acme_editors_read_reports(&app, &alice).await;
    let acme = "/v1/tenants/acme/admin/matrices";

    let before = app.policy_version(&admin).await;
    let put = app
        .call(
            Method::PUT,
            &format!("{acme}/editors"),
            Some(&alice),
            Some(editors_read_reports("editors", false)),
        )
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{put:?}");
    assert_eq!(app.policy_version(&admin).await, before + 1);
    let (_, history) = tenant_history(&app, &alice, "acme", "policy/versions").await;
    assert!(
        history.contains("tenants.matrices.put"),
        "the edit is in acme's history: {history}"
    );

    // Listed and shown to acme's admin, decided in acme (its tenant rule makes the cell pass).
    let list = app.get(acme, &alice).await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    assert_eq!(names(&list), [("editors".into(), Some("acme".into()))]);
    assert_eq!(list.body[0]["failures"], json!([]), "{list:?}");
    let shown = app.get(&format!("{acme}/editors"), &alice).await;
    assert_eq!(shown.status, StatusCode::OK, "{shown:?}");
    assert_eq!(shown.body["definition"]["subjects"]["ed"]["tenant"], "acme");
    assert_eq!(shown.body["checked"], 2, "{shown:?}");

    // Never the installation's matrices, never through the installation's routes.
    for path in [
        format!("{acme}/invariants"),
        format!("{acme}/seed"),
        "/v1/admin/matrices".to_owned(),
        "/v1/admin/matrices/invariants".to_owned(),
    ] {
        let r = app.get(&path, &alice).await;
        assert!(
            matches!(r.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN),
            "{path}: {r:?}"
        );
    }
    // Another tenant's admin reaches none of it, and has a namespace of their own.
    for (method, path) in [
        (Method::GET, acme.to_owned()),
        (Method::GET, format!("{acme}/editors")),
        (Method::DELETE, format!("{acme}/editors")),
    ] {
        let r = app.call(method.clone(), &path, Some(&bob), None).await;
        assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    }
    let globex = "/v1/tenants/globex/admin/matrices";
    assert_eq!(names(&app.get(globex, &bob).await), []);
    let theirs = app
        .call(
            Method::PUT,
            &format!("{globex}/editors"),
            Some(&bob),
            Some(editors_read_reports("editors", false)),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{theirs:?}");
    let in_globex = app.get(&format!("{globex}/editors"), &bob).await;
    assert_eq!(
        in_globex.body["failures"].as_array().map(Vec::len),
        Some(1),
        "globex has no rule for reports: its cell fails there, and only there: {in_globex:?}"
    );

    // The installation admin sees every tenant's, each naming its tenant, and reads them
    // through the scoped route; `/v1/admin/matrices/{name}` is the installation's own.
    let all = names(&app.get("/v1/admin/matrices?coverage=false", &admin).await);
    for m in [
        ("editors".to_owned(), Some("acme".to_owned())),
        ("editors".to_owned(), Some("globex".to_owned())),
        ("invariants".to_owned(), None),
    ] {
        assert!(all.contains(&m), "{m:?} in {all:?}");
    }
    assert_eq!(
        app.get("/v1/admin/matrices/editors", &admin).await.status,
        StatusCode::NOT_FOUND
    );
    let yaml = app
        .send(
            axum::http::Request::builder()
                .uri(format!("{acme}/editors"))
                .header("authorization", format!("Bearer {admin}"))
                .header("accept", "application/yaml")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(yaml.status, StatusCode::OK, "{yaml:?}");
    assert!(
        yaml.body
            .as_str()
            .is_some_and(|t| t.contains("name: editors")),
        "{yaml:?}"
    );

    // Deleted by its tenant's admin: gone from acme, globex's untouched.
    let gone = app
        .call(
            Method::DELETE,
            &format!("{acme}/editors"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{gone:?}");
    assert_eq!(
        app.get(&format!("{acme}/editors"), &alice).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("{globex}/editors"), &bob).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_tenants_matrix_reaching_outside_the_tenant_is_refused_and_the_version_does_not_move() {
    let app = TestApp::new().await;
    let admin = two_tenants(&app).await;
    let alice = token_in(&app, "alice", "acme").await;
    let with = |f: &dyn Fn(&mut Value)| {
        let mut m = editors_read_reports("m", false);
        f(&mut m);
        m
    };
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "a subject of another tenant",
            with(&|m| m["subjects"]["ed"]["tenant"] = json!("globex")),
            StatusCode::FORBIDDEN,
            "outside_tenant",
        ),
        (
            "the installation's role",
            with(&|m| m["subjects"]["ed"]["roles"] = json!(["admin"])),
            StatusCode::FORBIDDEN,
            "outside_tenant",
        ),
        (
            "another tenant's admin API",
            with(&|m| m["objects"]["r"]["type"] = json!("/v1/tenants/globex/admin/members")),
            StatusCode::FORBIDDEN,
            "outside_tenant",
        ),
        (
            "the installation's admin API",
            with(&|m| m["objects"]["r"]["type"] = json!("/v1/admin/users")),
            StatusCode::FORBIDDEN,
            "outside_tenant",
        ),
        (
            "a route outside the tenant",
            with(&|m| m["routes"] = json!({"read": "GET /v1/admin/rules"})),
            StatusCode::FORBIDDEN,
            "outside_tenant",
        ),
        (
            "properties (they range over every tenant)",
            with(&|m| {
                m["properties"] =
                    json!([{"name": "p", "objects": ["report"], "actions": ["read"]}]);
            }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "a name other than the path's",
            with(&|m| m["name"] = json!("other")),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ];
    let before = app.policy_version(&admin).await;
    for (what, body, status, code) in cases {
        let r = app
            .call(
                Method::PUT,
                "/v1/tenants/acme/admin/matrices/m",
                Some(&alice),
                Some(body),
            )
            .await;
        assert_eq!(r.status, status, "{what}: {r:?}");
        assert_eq!(r.error_code(), code, "{what}: {r:?}");
    }
    for bad in ["Bad", "run", "a.b"] {
        let r = app
            .call(
                Method::PUT,
                &format!("/v1/tenants/acme/admin/matrices/{bad}"),
                Some(&alice),
                Some(editors_read_reports(bad, false)),
            )
            .await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    assert_eq!(app.policy_version(&admin).await, before);
    assert_eq!(
        names(&app.get("/v1/tenants/acme/admin/matrices", &alice).await),
        []
    );
}

#[tokio::test]
async fn a_tenants_invariant_refuses_any_edit_that_breaks_it_whoever_makes_it() {
    let app = TestApp::new().await;
    let admin = two_tenants(&app).await;
    let alice = token_in(&app, "alice", "acme").await;
    let bob = token_in(&app, "bob", "globex").await;
    let path = "/v1/tenants/acme/admin/matrices/editors-read";

    // An invariant that does not hold yet cannot be stated.
    let early = app
        .call(
            Method::PUT,
            path,
            Some(&alice),
            Some(editors_read_reports("editors-read", true)),
        )
        .await;
    assert_error(&early, StatusCode::UNPROCESSABLE_ENTITY, "invariant_fails");

    let rule = acme_editors_read_reports(&app, &alice).await;
    let stated = app
        .call(
            Method::PUT,
            path,
            Some(&alice),
            Some(editors_read_reports("editors-read", true)),
        )
        .await;
    assert_eq!(stated.status, StatusCode::CREATED, "{stated:?}");

    let deny =
        json!({"subject": "role:editor", "object": "report", "action": "read", "effect": "deny"});
    let refused: [(&str, &str, Method, String, Option<Value>); 3] = [
        (
            "acme's admin deletes the rule",
            &alice,
            Method::DELETE,
            format!("/v1/tenants/acme/admin/rules/{rule}"),
            None,
        ),
        (
            "acme's admin denies it in acme",
            &alice,
            Method::POST,
            "/v1/tenants/acme/admin/rules".to_owned(),
            Some(deny.clone()),
        ),
        (
            "the installation admin denies it everywhere",
            &admin,
            Method::POST,
            "/v1/admin/rules".to_owned(),
            Some(deny.clone()),
        ),
    ];
    for (what, token, method, path, body) in refused {
        let before = app.policy_version(&admin).await;
        let r = app.call(method, &path, Some(token), body).await;
        assert_error(&r, StatusCode::CONFLICT, "invariant_violation");
        let said = r.body.to_string();
        assert!(
            said.contains("editors-read") && said.contains("\"ed\""),
            "{what}: the refusal names the failing cell: {said}"
        );
        assert_eq!(app.policy_version(&admin).await, before, "{what}");
    }
    // The same deny in another tenant breaks nothing of acme's.
    let elsewhere = app
        .call(
            Method::POST,
            "/v1/tenants/globex/admin/rules",
            Some(&bob),
            Some(deny),
        )
        .await;
    assert_eq!(elsewhere.status, StatusCode::CREATED, "{elsewhere:?}");
    // Deleting the invariant lets the edit through.
    let dropped = app.call(Method::DELETE, path, Some(&alice), None).await;
    assert_eq!(dropped.status, StatusCode::OK, "{dropped:?}");
    let now = app
        .call(
            Method::DELETE,
            &format!("/v1/tenants/acme/admin/rules/{rule}"),
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(now.status, StatusCode::OK, "{now:?}");
}

#[tokio::test]
async fn a_tenant_holds_its_share_of_matrices_and_cells_and_no_more() {
    let app = TestApp::new().await;
    let admin = two_tenants(&app).await;
    let alice = token_in(&app, "alice", "acme").await;
    let put = |name: String, body: Value| {
        let (app, alice) = (&app, alice.clone());
        async move {
            app.call(
                Method::PUT,
                &format!("/v1/tenants/acme/admin/matrices/{name}"),
                Some(&alice),
                Some(body),
            )
            .await
        }
    };
    for i in 0..8 {
        let name = format!("m{i}");
        let r = put(name.clone(), editors_read_reports(&name, false)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    let ninth = put("m8".into(), editors_read_reports("m8", false)).await;
    assert_error(
        &ninth,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert!(
        ninth.body["message"].to_string().contains("at most 8"),
        "{ninth:?}"
    );
    // Replacing one of the eight is no ninth; another tenant has a share of its own.
    let again = put("m0".into(), editors_read_reports("m0", false)).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    let bob = token_in(&app, "bob", "globex").await;
    let theirs = app
        .call(
            Method::PUT,
            "/v1/tenants/globex/admin/matrices/m8",
            Some(&bob),
            Some(editors_read_reports("m8", false)),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{theirs:?}");

    // 101 subjects x 100 objects x 1 action: past a tenant's 10,000 cells.
    let subjects: serde_json::Map<String, Value> = (0..101)
        .map(|i| (format!("s{i}"), json!({"roles": ["editor"]})))
        .collect();
    let objects: serde_json::Map<String, Value> = (0..100)
        .map(|i| (format!("o{i}"), json!({"type": "report"})))
        .collect();
    let big = json!({"name": "m0", "subjects": subjects, "objects": objects,
                     "actions": ["read"], "allow": [["*", "*", "read"]]});
    let before = app.policy_version(&admin).await;
    let r = put("m0".into(), big).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        r.body["message"].to_string().contains("10000 cells"),
        "{r:?}"
    );
    assert_eq!(app.policy_version(&admin).await, before);
}
