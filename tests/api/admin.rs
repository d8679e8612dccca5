//! Runtime policy administration.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn demo() -> (TestApp, String) {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    (app, admin)
}

fn sales_rule() -> Value {
    json!({"subject": "user:alice", "object": "document", "action": "read", "scope": "documents:read",
           "condition": "r.obj.department == \"sales\"", "effect": "allow"})
}

#[tokio::test]
async fn an_admin_edit_changes_the_next_answer_and_a_rollback_changes_it_back() {
    let (app, admin) = demo().await;
    let alice = app.demo_token("alice").await;
    assert_eq!(
        app.get("/api/documents/2", &alice).await.status,
        StatusCode::FORBIDDEN
    );
    let before = app.policy_version(&admin).await;
    let added = app
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(sales_rule()),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    assert_eq!(added.body["policy_version"], before + 1);
    // same token, next request: the new rule applies
    assert_eq!(
        app.get("/api/documents/2", &alice).await.status,
        StatusCode::OK
    );
    let rolled = app
        .call(
            Method::POST,
            "/v1/admin/policy/rollback",
            Some(&admin),
            Some(json!({"version": before})),
        )
        .await;
    assert_eq!(rolled.status, StatusCode::CREATED, "{rolled:?}");
    assert_eq!(
        app.get("/api/documents/2", &alice).await.status,
        StatusCode::FORBIDDEN
    );
    // the rollback is itself a new, audited version and restores the rules exactly
    let versions = app.get("/v1/admin/policy/versions?limit=2", &admin).await;
    assert_eq!(versions.body["items"][0]["action"], "policy.rollback");
    assert_eq!(versions.body["items"][0]["actor"], "admin");
    assert_eq!(versions.body["items"][1]["action"], "rules.add");
    let rules_now = app.get("/v1/admin/rules?limit=500", &admin).await.body["items"].clone();
    let restored: Vec<i64> = rules_now
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    let added_id = added.body["rule_ids"][0].as_i64().expect("id");
    assert!(!restored.contains(&added_id));
}

#[tokio::test]
async fn rollback_restores_the_earlier_matrix_exactly() {
    let (app, admin) = demo().await;
    let v0 = app.policy_version(&admin).await;
    let rules_before = app.get("/v1/admin/rules?limit=500", &admin).await.body["items"].clone();
    let roles_before = app.get("/v1/admin/roles", &admin).await.body;
    let grid_before = matrix_cells(&app, &admin).await;
    let change = json!({"add": [sales_rule()], "delete": [rules_before[0]["id"]],
                        "assign": [{"member": "role:auditor", "role": "role:viewer"}]});
    let r = app
        .call(
            Method::POST,
            "/v1/admin/policy/changes",
            Some(&admin),
            Some(change),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let changed = matrix_cells(&app, &admin).await;
    assert_ne!(changed, grid_before, "the change must flip seed cells");
    let r = app
        .call(
            Method::POST,
            "/v1/admin/policy/rollback",
            Some(&admin),
            Some(json!({"version": v0})),
        )
        .await;
    assert!(r.status.is_success(), "{r:?}");
    assert_eq!(
        app.get("/v1/admin/rules?limit=500", &admin).await.body["items"],
        rules_before
    );
    assert_eq!(app.get("/v1/admin/roles", &admin).await.body, roles_before);
    assert_eq!(matrix_cells(&app, &admin).await, grid_before);
}

/// The seed matrix against the live policy: failing cells and coverage (everything but the
/// version), so two policies that answer alike compare equal.
async fn matrix_cells(app: &TestApp, admin: &str) -> Value {
    let r = app.get("/v1/admin/matrices/seed", admin).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    json!([r.body["failures"], r.body["coverage"]])
}

#[tokio::test]
async fn an_edit_that_breaks_an_invariant_is_refused_and_changes_nothing() {
    let (app, admin) = demo().await;
    let v0 = app.policy_version(&admin).await;
    let rules = app.get("/v1/admin/rules?subject=role:admin", &admin).await;
    let admin_rule = rules.body["items"][0]["id"].as_i64().expect("admin rule");
    let r = app
        .call(
            Method::DELETE,
            &format!("/v1/admin/rules/{admin_rule}"),
            Some(&admin),
            None,
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "invariant_violation");
    let cells = r.body["details"]["cells"].as_array().expect("cells");
    assert!(
        cells.iter().any(|c| c["subject"] == "root"
            && c["object"] == "admin-rules"
            && c["action"] == "GET"),
        "{r:?}"
    );
    assert_eq!(app.policy_version(&admin).await, v0);
    // an explicit allow for classification 3 below clearance 3 is refused too (the deny stays)
    let leak = json!({"subject": "role:auditor", "object": "document", "action": "read", "effect": "allow"});
    let bad_delete = app
        .get("/v1/admin/rules?effect=deny&subject=*", &admin)
        .await
        .body["items"][0]["id"]
        .clone();
    let r = app
        .call(
            Method::POST,
            "/v1/admin/policy/changes",
            Some(&admin),
            Some(json!({"add": [leak], "delete": [bad_delete]})),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "invariant_violation");
    assert_eq!(app.policy_version(&admin).await, v0);
    assert_eq!(
        app.get("/api/documents/3", &app.demo_token("dave").await)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn invalid_edits_are_refused_with_precise_errors() {
    let (app, admin) = demo().await;
    let v0 = app.policy_version(&admin).await;
    let post = |body: Value| app.call(Method::POST, "/v1/admin/rules", Some(&admin), Some(body));
    let mut typo = sales_rule();
    typo["efect"] = "allow".into();
    let r = post(typo.clone()).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        r.body["message"].as_str().unwrap_or("").contains("efect"),
        "{r:?}"
    );
    let r = post(json!({"rules": [sales_rule()], "dry": true})).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        r.body["message"].as_str().unwrap_or("").contains("dry"),
        "{r:?}"
    );
    let r = post(json!({"rules": [typo]})).await;
    assert!(
        r.body["message"].as_str().unwrap_or("").contains("efect"),
        "{r:?}"
    );
    for (field, value, why) in [
        ("subject", "user:nobody", "no account"),
        ("subject", "user:Alice", "lower-case"),
        (
            "condition",
            "r.obj.department == \"sales\" &&\nr.sub.clearance > 1",
            "line break",
        ),
    ] {
        let mut bad = sales_rule();
        bad[field] = value.into();
        let r = post(bad).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            r.body["message"].as_str().unwrap_or("").contains(why),
            "{value}: {r:?}"
        );
    }
    let mut hang = sales_rule();
    hang["condition"] = "loop {}".into();
    assert_error(
        &post(hang).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let mut bad_pattern = sales_rule();
    bad_pattern["object"] = "/docs/(".into();
    assert_error(
        &post(bad_pattern).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let mut unknown_attr_root = sales_rule();
    unknown_attr_root["condition"] = "p.sub == \"x\"".into();
    assert_error(
        &post(unknown_attr_root).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(post(sales_rule()).await.status, StatusCode::CREATED);
    assert_error(
        &post(sales_rule()).await,
        StatusCode::CONFLICT,
        "rule_exists",
    );
    let cycle = json!({"member": "role:user", "role": "role:editor"});
    let r = app
        .call(
            Method::POST,
            "/v1/admin/roles/assignments",
            Some(&admin),
            Some(cycle),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        r.body["message"].as_str().unwrap_or("").contains("cycle"),
        "{r:?}"
    );
    let unknown_role = json!({"member": "user:erin", "role": "role:brand-new"});
    assert_eq!(
        app.call(
            Method::POST,
            "/v1/admin/roles/assignments",
            Some(&admin),
            Some(unknown_role)
        )
        .await
        .status,
        StatusCode::CREATED
    );
    assert_error(
        &app.call(Method::DELETE, "/v1/admin/rules/999999", Some(&admin), None)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // a batch with one bad rule adds nothing
    let batch = json!({"rules": [json!({"subject": "role:x", "object": "document", "action": "read", "effect": "allow"}),
                                   json!({"subject": "role:x", "object": "document", "action": "read", "effect": "maybe"})]});
    assert_eq!(post(batch).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.policy_version(&admin).await, v0 + 2);
}

#[tokio::test]
async fn role_inheritance_deeper_than_the_limit_is_refused() {
    let (app, admin) = demo().await;
    // user:bob -> role:editor -> role:viewer -> role:user is 3 edges; role:user -> role:l1
    // -> ... -> role:l5 makes 8, which is fine; a 9th is not
    let mut last = "role:user".to_owned();
    for i in 1..=5 {
        let next = format!("role:l{i}");
        assert_eq!(
            app.assign(&admin, &last, &next).await.status,
            StatusCode::CREATED
        );
        last = next;
    }
    let r = app.assign(&admin, &last, "role:l6").await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        r.body["message"].as_str().unwrap_or("").contains("deeper"),
        "{r:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_whose_request_is_dropped_still_commits_and_swaps_together() {
    let (app, admin) = demo().await;
    let v0 = app.policy_version(&admin).await;
    // The client gives up (disconnect, timeout) long before validation ends.
    let dropped = tokio::time::timeout(
        std::time::Duration::from_millis(1),
        app.call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(sales_rule()),
        ),
    )
    .await;
    assert!(dropped.is_err(), "the request finished within 1 ms");
    // The change runs to its end anyway: committed, and the snapshot swapped with it.
    let settled = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        loop {
            let stored = warden::store::policy::version(&app.state.db)
                .await
                .expect("version");
            let served = app.state.engine.snapshot().expect("snapshot").version();
            if stored == v0 + 1 && served == stored {
                break;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(settled.is_ok(), "the dropped change never completed");
}

#[tokio::test]
async fn a_committed_change_that_cannot_be_loaded_fails_closed_until_it_can() {
    let (app, admin) = demo().await;
    let v0 = app.policy_version(&admin).await;
    // The database accepts the change but the policy cannot be read back afterwards.
    app.state.engine.refuse_loads_from_for_tests(v0 + 1);
    let r = app
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(sales_rule()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    // Serving the replaced policy would contradict the committed edit: deny everything.
    assert_error(
        &app.get("/v1/me", &admin).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
    app.state.engine.refuse_loads_from_for_tests(i64::MAX);
    assert_eq!(app.state.engine.reload().await.ok(), Some(v0 + 1));
    assert_eq!(app.get("/v1/me", &admin).await.status, StatusCode::OK);
}

#[tokio::test]
async fn no_change_may_lock_every_admin_out() {
    let (app, admin) = demo().await;
    let v0 = app.policy_version(&admin).await;
    let lockouts = [
        (
            Method::DELETE,
            "/v1/admin/roles/assignments",
            json!({"member": "user:admin", "role": "role:admin"}),
        ),
        (
            Method::POST,
            "/v1/admin/rules",
            json!({"subject": "user:admin", "object": "/v1/admin/*", "action": "*", "effect": "deny"}),
        ),
        (
            Method::PATCH,
            "/v1/admin/users/admin",
            json!({"disabled": true}),
        ),
    ];
    for (method, path, body) in &lockouts {
        let r = app
            .call(method.clone(), path, Some(&admin), Some(body.clone()))
            .await;
        assert_error(&r, StatusCode::CONFLICT, "lockout");
        assert!(
            r.body["details"]["routes"]
                .as_array()
                .is_some_and(|a| !a.is_empty()),
            "{r:?}"
        );
    }
    assert_eq!(app.policy_version(&admin).await, v0);
    assert_eq!(app.get("/v1/me", &admin).await.status, StatusCode::OK);
    // with a second admin, the first may step down
    let r = app.assign(&admin, "user:erin", "role:admin").await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let (method, path, body) = &lockouts[2];
    let r = app
        .call(method.clone(), path, Some(&admin), Some(body.clone()))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_account_edits_lose_nothing_and_are_each_audited() {
    let (app, admin) = demo().await;
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for i in 0..10 {
        let (app, admin) = (app.clone(), admin.clone());
        tasks.push(tokio::spawn(async move {
            app.call(
                Method::PATCH,
                "/v1/admin/users/erin",
                Some(&admin),
                Some(json!({"attributes": {format!("k{i}"): i}})),
            )
            .await
            .status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), StatusCode::OK);
    }
    let erin = app.get("/v1/admin/users/erin", &admin).await;
    for i in 0..10 {
        assert_eq!(
            erin.body["attributes"][format!("k{i}")],
            json!(i),
            "{erin:?}"
        );
    }
    let audit = app.get("/v1/admin/audit?limit=500", &admin).await;
    let patches = audit.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "users.patch")
        .count();
    assert_eq!(patches, 10, "{audit:?}");
}

#[tokio::test]
async fn if_match_gives_compare_and_swap() {
    let (app, admin) = demo().await;
    let v0 = app.policy_version(&admin).await;
    let with_if_match = |v: i64, body: Value| {
        let req = axum::http::Request::post("/v1/admin/rules")
            .header("authorization", format!("Bearer {admin}"))
            .header("content-type", "application/json")
            .header("if-match", format!("\"{v}\""))
            .body(axum::body::Body::from(body.to_string()))
            .expect("req");
        app.send(req)
    };
    assert_eq!(
        with_if_match(v0, sales_rule()).await.status,
        StatusCode::CREATED
    );
    let mut other = sales_rule();
    other["action"] = "update".into();
    assert_error(
        &with_if_match(v0, other).await,
        StatusCode::PRECONDITION_FAILED,
        "version_mismatch",
    );
    assert_eq!(app.policy_version(&admin).await, v0 + 1);
}

#[tokio::test]
async fn a_database_failure_mid_change_leaves_database_and_memory_unchanged() {
    let (app, admin) = demo().await;
    let v0 = app.policy_version(&admin).await;
    let rules_before = app.get("/v1/admin/rules?limit=500", &admin).await.body["items"].clone();
    let boom: &[&'static str] = match app.state.db.backend() {
        warden::store::Backend::Sqlite => &[
            "CREATE TRIGGER boom BEFORE INSERT ON policy_rules WHEN NEW.subject = 'role:boom' BEGIN SELECT RAISE(ABORT, 'boom'); END",
        ],
        warden::store::Backend::Postgres => &[
            "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF NEW.subject = 'role:boom' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER boom BEFORE INSERT ON policy_rules FOR EACH ROW EXECUTE FUNCTION boom()",
        ],
    };
    for sql in boom {
        warden::store::execute_for_tests(&app.state.db, sql)
            .await
            .expect("trigger");
    }
    let change = json!({"add": [sales_rule(), {"subject": "role:boom", "object": "document", "action": "read", "effect": "allow"}]});
    let r = app
        .call(
            Method::POST,
            "/v1/admin/policy/changes",
            Some(&admin),
            Some(change),
        )
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{r:?}");
    assert!(!r.body.to_string().contains("boom"), "no internals: {r:?}");
    assert_eq!(app.policy_version(&admin).await, v0);
    assert_eq!(
        app.get("/v1/admin/rules?limit=500", &admin).await.body["items"],
        rules_before
    );
    app.state.engine.reload().await.expect("reload");
    assert_eq!(
        app.state.engine.snapshot().expect("snap").version(),
        v0,
        "the database did not change either"
    );
    assert_eq!(
        app.get("/api/documents/2", &app.demo_token("alice").await)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn disabling_a_user_kills_their_live_token_on_the_next_request() {
    let (app, admin) = demo().await;
    let alice = app.demo_token("alice").await;
    assert_eq!(app.get("/v1/me", &alice).await.status, StatusCode::OK);
    let r = app
        .call(
            Method::PATCH,
            "/v1/admin/users/alice",
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_error(
        &app.get("/v1/me", &alice).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    let audit = app.get("/v1/admin/audit?limit=1", &admin).await;
    assert_eq!(audit.body["items"][0]["action"], "users.patch");
    assert_eq!(audit.body["items"][0]["after"]["disabled"], true);
    assert!(
        !audit.body.to_string().contains("argon2"),
        "no secrets in the audit"
    );
}

#[tokio::test]
async fn patching_attributes_and_roles_applies_to_the_next_request() {
    let (app, admin) = demo().await;
    let erin = app.demo_token("erin").await;
    assert_eq!(
        app.get("/api/documents/1", &erin).await.status,
        StatusCode::FORBIDDEN
    );
    let r = app.assign(&admin, "user:erin", "role:viewer").await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    // erin has clearance 0: still no
    assert_eq!(
        app.get("/api/documents/1", &erin).await.status,
        StatusCode::FORBIDDEN
    );
    let p = app
        .call(
            Method::PATCH,
            "/v1/admin/users/erin",
            Some(&admin),
            Some(json!({"attributes": {"clearance": 1}})),
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{p:?}");
    assert_eq!(
        app.get("/api/documents/1", &erin).await.status,
        StatusCode::OK
    );
    let roles = app.get("/v1/admin/users/erin/roles", &admin).await;
    assert_eq!(roles.body["direct"], json!(["role:user", "role:viewer"]));
    let bad = app
        .call(
            Method::PATCH,
            "/v1/admin/users/erin",
            Some(&admin),
            Some(json!({"attributes": {"name": "x"}})),
        )
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let unknown = app
        .call(
            Method::PATCH,
            "/v1/admin/users/erin",
            Some(&admin),
            Some(json!({"roles": ["admin"]})),
        )
        .await;
    assert_error(
        &unknown,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[tokio::test]
async fn dry_run_reports_flips_without_applying() {
    let (app, admin) = demo().await;
    let v0 = app.policy_version(&admin).await;
    let extra = "name: extra\nsubjects:\n  alice: {roles: [viewer], attributes: {department: eng, clearance: 2}, scopes: [documents:read]}\nobjects:\n  s: {type: document, attributes: {department: sales, owner: zed, classification: 0}}\nactions: [read]\ndeny:\n  - [alice, s, read]\n";
    let body = json!({"change": {"add": [sales_rule()]}, "matrices": [extra]});
    let r = app
        .call(
            Method::POST,
            "/v1/admin/policy/dry-run",
            Some(&admin),
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let flips = r.body["flips"].as_array().expect("flips");
    assert!(
        flips
            .iter()
            .any(|f| f["matrix"] == "extra" && f["before"] == false && f["after"] == true),
        "{r:?}"
    );
    assert!(
        flips.iter().any(|f| f["matrix"] == "seed"
            && f["subject"] == "alice"
            && f["object"] == "sales-0-zed"),
        "{r:?}"
    );
    assert_eq!(r.body["invariant_violations"], json!([]));
    assert_eq!(app.policy_version(&admin).await, v0);
}

#[tokio::test]
async fn non_admins_get_403_on_every_admin_route() {
    let (app, _) = demo().await;
    let routes: [(Method, &str); 23] = [
        (Method::GET, "/v1/admin/rules"),
        (Method::POST, "/v1/admin/rules"),
        (Method::PUT, "/v1/admin/rules/1"),
        (Method::DELETE, "/v1/admin/rules/1"),
        (Method::GET, "/v1/admin/roles"),
        (Method::POST, "/v1/admin/roles/assignments"),
        (Method::DELETE, "/v1/admin/roles/assignments"),
        (Method::GET, "/v1/admin/users"),
        (Method::GET, "/v1/admin/users/alice"),
        (Method::PATCH, "/v1/admin/users/alice"),
        (Method::GET, "/v1/admin/users/alice/roles"),
        (Method::GET, "/v1/admin/policy"),
        (Method::POST, "/v1/admin/policy/changes"),
        (Method::GET, "/v1/admin/policy/versions"),
        (Method::GET, "/v1/admin/policy/versions/1/diff"),
        (Method::POST, "/v1/admin/policy/rollback"),
        (Method::POST, "/v1/admin/policy/dry-run"),
        (Method::GET, "/v1/admin/audit"),
        (Method::GET, "/v1/admin/decisions?subject=alice"),
        (Method::GET, "/v1/admin/matrices"),
        (Method::GET, "/v1/admin/matrices/seed"),
        (Method::GET, "/v1/admin/matrices/seed.html"),
        (Method::POST, "/v1/admin/matrices/run"),
    ];
    for user in ["alice", "bob", "carol", "dave", "erin"] {
        let token = app.demo_token(user).await;
        for (method, path) in &routes {
            let r = app
                .call(method.clone(), path, Some(&token), Some(json!({})))
                .await;
            assert_eq!(
                r.status,
                StatusCode::FORBIDDEN,
                "{user} {method} {path}: {r:?}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_lose_no_update_and_use_every_version_once() {
    let (app, admin) = demo().await;
    let v0 = app.policy_version(&admin).await;
    let app = std::sync::Arc::new(app);
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (app, admin) = (app.clone(), admin.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let rule = json!({"subject": format!("role:w{w}"), "object": format!("kind{i}"), "action": "read", "effect": "allow"});
                let r = app.call(Method::POST, "/v1/admin/rules", Some(&admin), Some(rule)).await;
                assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
            }
        }));
    }
    let reader = {
        let app = app.clone();
        tokio::spawn(async move {
            let alice = app.demo_token("alice").await;
            for _ in 0..100 {
                assert_eq!(
                    app.get("/api/documents/1", &alice).await.status,
                    StatusCode::OK
                );
            }
        })
    };
    for t in tasks {
        t.await.expect("writer");
    }
    reader.await.expect("reader");
    assert_eq!(app.policy_version(&admin).await, v0 + 400);
    let db_rules = warden::store::policy::load_all(&app.state.db)
        .await
        .expect("db");
    let mem: Vec<i64> = app
        .state
        .engine
        .snapshot()
        .expect("snap")
        .rules()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(db_rules.rules.iter().map(|r| r.id).collect::<Vec<_>>(), mem);
    let versions = app.get("/v1/admin/policy/versions?limit=500", &admin).await;
    let mut seen: Vec<i64> = versions.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["version"].as_i64())
        .collect();
    seen.sort();
    let expected: Vec<i64> = ((v0 + 1)..=(v0 + 400)).collect();
    assert_eq!(
        seen.iter()
            .filter(|v| **v > v0)
            .copied()
            .collect::<Vec<_>>(),
        expected,
        "one audit entry per version, none skipped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_database_lose_no_update_and_if_match_lets_one_win() {
    let (a, admin) = demo().await;
    let b = a.another_instance().await;
    let v0 = a.policy_version(&admin).await;
    let seeded = warden::store::policy::load_all(&a.state.db)
        .await
        .expect("db")
        .rules
        .len();
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    let mut tasks = Vec::new();
    for w in 0..4 {
        for (n, app) in [(0, a.clone()), (1, b.clone())] {
            let admin = admin.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..10 {
                    let rule = json!({"subject": format!("role:i{n}w{w}"), "object": format!("kind{i}"), "action": "read", "effect": "allow"});
                    let r = app.call(Method::POST, "/v1/admin/rules", Some(&admin), Some(rule)).await;
                    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let db_rules: Vec<i64> = warden::store::policy::load_all(&a.state.db)
        .await
        .expect("db")
        .rules
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        db_rules.len(),
        seeded + 80,
        "every edit from both instances is stored"
    );
    for app in [&a, &b] {
        app.state.engine.reload().await.expect("reload");
        let snap = app.state.engine.snapshot().expect("snapshot");
        assert_eq!(snap.version(), v0 + 80);
        let mem: Vec<i64> = snap.rules().iter().map(|r| r.id).collect();
        assert_eq!(mem, db_rules);
    }
    // compare-and-swap across instances: both hold the same version, exactly one wins
    let v = a.policy_version(&admin).await;
    let edit = |app: std::sync::Arc<TestApp>, admin: String, subject: &'static str| async move {
        let req = axum::http::Request::builder()
            .method(Method::POST)
            .uri("/v1/admin/rules")
            .header("authorization", format!("Bearer {admin}"))
            .header("content-type", "application/json")
            .header("if-match", v.to_string())
            .body(axum::body::Body::from(
                json!({"subject": subject, "object": "kindx", "action": "read", "effect": "allow"})
                    .to_string(),
            ))
            .expect("request");
        app.send(req).await.status
    };
    let (x, y) = tokio::join!(
        edit(a.clone(), admin.clone(), "role:cas-a"),
        edit(b.clone(), admin.clone(), "role:cas-b")
    );
    let mut statuses = [x, y];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::PRECONDITION_FAILED]
    );
    // (instance a serves its snapshot until it reloads; the database has the truth)
    let stored = warden::store::policy::version(&a.state.db)
        .await
        .expect("version");
    assert_eq!(stored, v + 1);
}

#[tokio::test]
async fn shipped_matrices_run_against_the_live_policy_through_the_api() {
    let (app, admin) = demo().await;
    let list = app.get("/v1/admin/matrices", &admin).await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    let names: Vec<&str> = list
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(names, vec!["forward", "invariants", "seed"]);
    assert!(
        list.body
            .as_array()
            .expect("list")
            .iter()
            .all(|m| m["failures"] == json!([])),
        "{list:?}"
    );
    let html = app.get("/v1/admin/matrices/seed.html", &admin).await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(
        html.headers["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/html")
    );
    let page = html.body.as_str().expect("html");
    assert!(
        page.contains("<table>") && page.contains("class=\"allow\"") && !page.contains("http"),
        "self-contained"
    );
    assert_error(
        &app.get("/v1/admin/matrices/nope", &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

#[tokio::test]
async fn an_ad_hoc_matrix_runs_against_the_live_policy_or_a_proposed_change() {
    let (app, admin) = demo().await;
    let matrix = "name: adhoc\nsubjects:\n  alice: {roles: [viewer], attributes: {department: eng, clearance: 2}, scopes: [documents:read]}\nobjects:\n  s: {type: document, attributes: {department: sales, owner: zed, classification: 0}}\nactions: [read]\ndeny:\n  - [alice, s, read]\n";
    let live = app
        .call(
            Method::POST,
            "/v1/admin/matrices/run",
            Some(&admin),
            Some(json!({"matrix": matrix})),
        )
        .await;
    assert_eq!(live.status, StatusCode::OK, "{live:?}");
    assert_eq!(live.body["failures"], json!([]));
    // the subject is named alice; the rule targets the live user alice, but a matrix subject
    // gets only its own roles, so grant through the viewer role instead
    let grant = json!({"subject": "role:viewer", "object": "document", "action": "read", "scope": "documents:read",
                       "condition": "r.obj.department == \"sales\"", "effect": "allow"});
    let proposed = app
        .call(
            Method::POST,
            "/v1/admin/matrices/run",
            Some(&admin),
            Some(json!({"matrix": matrix, "change": {"add": [grant]}})),
        )
        .await;
    assert_eq!(proposed.status, StatusCode::OK, "{proposed:?}");
    assert_eq!(
        proposed.body["failures"][0]["subject"], "alice",
        "{proposed:?}"
    );
    assert_eq!(proposed.body["failures"][0]["actual"], true);
    let bad = app
        .call(
            Method::POST,
            "/v1/admin/matrices/run",
            Some(&admin),
            Some(json!({"matrix": "name: [\n"})),
        )
        .await;
    assert_error(&bad, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}
