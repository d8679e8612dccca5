//! The decision engine through the HTTP surface.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::*;

async fn demo_app() -> TestApp {
    TestApp::with_config(|c| c.demo = true).await
}

#[tokio::test]
async fn the_readme_walkthrough_viewer_reads_own_department_but_not_others_or_secret() {
    let app = demo_app().await;
    let alice = app.demo_token("alice").await;
    // document 1: eng, classification 1; 2: sales; 3: eng classification 3
    let own = app.get("/api/documents/1", &alice).await;
    assert_eq!(own.status, StatusCode::OK, "{own:?}");
    assert!(own.headers.contains_key("warden-policy-version"));
    assert_error(
        &app.get("/api/documents/2", &alice).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let secret = app.get("/api/documents/3", &alice).await;
    assert_error(&secret, StatusCode::FORBIDDEN, "forbidden");
    assert!(
        !secret.body.to_string().contains("rule"),
        "no policy details: {secret:?}"
    );
    // bob (editor, clearance 3) reads the secret one
    assert_eq!(
        app.get("/api/documents/3", &app.demo_token("bob").await)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn listing_returns_only_readable_documents() {
    let app = demo_app().await;
    let list = app
        .get("/api/documents", &app.demo_token("alice").await)
        .await;
    assert_eq!(list.status, StatusCode::OK);
    let titles: Vec<&str> = list
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|d| d["title"].as_str())
        .collect();
    assert_eq!(titles, vec!["Eng roadmap", "Erin's notes", "Eng salaries"]);
    let erin = app
        .get("/api/documents", &app.demo_token("erin").await)
        .await;
    assert_eq!(
        erin.body.as_array().expect("list").len(),
        1,
        "erin sees only what she owns"
    );
}

#[tokio::test]
async fn listing_pages_follow_the_next_link_and_see_the_same_documents() {
    let app = demo_app().await;
    let bob = app.demo_token("bob").await;
    let all = app.get("/api/documents", &bob).await;
    assert!(all.headers.get("link").is_none(), "{all:?}");
    let all = all.body.as_array().expect("list").clone();
    assert!(all.len() >= 3, "{all:?}");
    let mut seen = Vec::new();
    let mut next = Some("/api/documents?limit=2".to_owned());
    while let Some(url) = next {
        let page = app.get(&url, &bob).await;
        assert_eq!(page.status, StatusCode::OK, "{page:?}");
        let items = page.body.as_array().expect("page");
        assert!(items.len() <= 2, "{page:?}");
        seen.extend(items.iter().cloned());
        next = page.headers.get("link").map(|l| {
            let l = l.to_str().expect("ascii");
            l[l.find('<').expect("<") + 1..l.find('>').expect(">")].to_owned()
        });
    }
    assert_eq!(seen, all);
    for bad in ["limit=0", "limit=501", "after=-1", "page=2"] {
        let r = app.get(&format!("/api/documents?{bad}"), &bob).await;
        assert!(r.status.is_client_error(), "{bad}: {r:?}");
        assert!(r.body["error"].is_string(), "{bad}: {r:?}");
    }
}

#[tokio::test]
async fn creating_outside_ones_department_is_forbidden() {
    let app = demo_app().await;
    let bob = app.demo_token("bob").await;
    let doc = json!({"title": "t", "body": "b", "department": "eng", "classification": 1});
    let created = app
        .call(Method::POST, "/api/documents", Some(&bob), Some(doc))
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["owner"], "bob");
    let sales = json!({"title": "t", "body": "b", "department": "sales", "classification": 1});
    assert_error(
        &app.call(Method::POST, "/api/documents", Some(&bob), Some(sales))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let bad = json!({"title": "t", "department": "eng", "classification": 7});
    assert_error(
        &app.call(Method::POST, "/api/documents", Some(&bob), Some(bad))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[tokio::test]
async fn a_username_equal_to_a_role_name_gets_none_of_the_roles_rights() {
    let app = demo_app().await;
    let (editor, _) = app.user_tokens("editor").await;
    let doc = json!({"title": "t", "body": "b", "department": "eng", "classification": 0});
    assert_error(
        &app.call(Method::POST, "/api/documents", Some(&editor), Some(doc))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let me = app.get("/v1/me", &editor).await;
    assert_eq!(me.body["roles"], json!(["user"]));
}

#[tokio::test]
async fn a_missing_attribute_can_never_switch_off_a_deny_rule() {
    // dave the auditor may read every department, but the deny rule hides classification 3
    // below clearance 3. Without a clearance attribute casbin's Rhai reads `()`, and
    // `() < 3` is false: the deny would not fire. Warden must still deny.
    let app = demo_app().await;
    let dave = warden::store::users::find_by_username(&app.state.db, "dave")
        .await
        .expect("db")
        .expect("dave");
    let mut attrs = dave.attributes.clone();
    attrs.remove("clearance");
    warden::store::users::set_attributes(&app.state.db, dave.id, &attrs, 0)
        .await
        .expect("attrs");
    let t = app.demo_token("dave").await;
    assert_error(
        &app.get("/api/documents/3", &t).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

#[tokio::test]
async fn attribute_changes_apply_on_the_next_request_without_a_new_token() {
    let app = demo_app().await;
    let alice = app.demo_token("alice").await;
    assert_eq!(
        app.get("/api/documents/1", &alice).await.status,
        StatusCode::OK
    );
    let row = warden::store::users::find_by_username(&app.state.db, "alice")
        .await
        .expect("db")
        .expect("alice");
    let mut attrs = row.attributes.clone();
    attrs.insert(
        "department".into(),
        warden::policy::AttrValue::Str("sales".into()),
    );
    warden::store::users::set_attributes(&app.state.db, row.id, &attrs, 0)
        .await
        .expect("attrs");
    assert_eq!(
        app.get("/api/documents/1", &alice).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.get("/api/documents/2", &alice).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn check_answers_for_the_caller_and_needs_permission_for_others_and_explain() {
    let app = demo_app().await;
    let alice = app.demo_token("alice").await;
    let own = json!({"checks": [
        {"object": {"type": "document", "attributes": {"department": "eng", "owner": "bob", "classification": 1}}, "action": "read"},
        {"object": {"type": "document", "attributes": {"department": "eng", "owner": "bob", "classification": 3}}, "action": "read"},
        {"object": {"path": "/v1/admin/rules"}, "action": "GET"}
    ]});
    let r = app
        .call(Method::POST, "/v1/check", Some(&alice), Some(own))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let allowed: Vec<bool> = r.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|c| c["allowed"].as_bool().expect("b"))
        .collect();
    assert_eq!(allowed, vec![true, false, false]);
    assert!(r.body["policy_version"].as_i64().is_some());
    assert!(
        r.body["results"][0].get("matched_rules").is_none(),
        "no explain for alice"
    );

    let for_bob = json!({"checks": [{"subject": {"name": "bob"}, "object": {"type": "document"}, "action": "read"}]});
    assert_error(
        &app.call(
            Method::POST,
            "/v1/check",
            Some(&alice),
            Some(for_bob.clone()),
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let explain =
        json!({"checks": [{"object": {"type": "document"}, "action": "read"}], "explain": true});
    assert_error(
        &app.call(Method::POST, "/v1/check", Some(&alice), Some(explain))
            .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );

    let admin = app.admin_token().await;
    let q = json!({"explain": true, "checks": [{"subject": {"name": "alice"},
        "object": {"type": "document", "attributes": {"department": "sales", "owner": "carol", "classification": 1}}, "action": "read"}]});
    let r = app
        .call(Method::POST, "/v1/check", Some(&admin), Some(q))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let result = &r.body["results"][0];
    assert_eq!(result["allowed"], false);
    let failed: Vec<&str> = result["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .filter(|c| c["result"] == "false")
        .filter_map(|c| c["condition"].as_str())
        .collect();
    assert!(
        failed
            .iter()
            .any(|c| c.contains("r.sub.department == r.obj.department")),
        "{result}"
    );
}

#[tokio::test]
async fn check_fails_closed_on_wrong_types_and_names_the_attribute_but_not_the_condition() {
    let app = demo_app().await;
    let admin = app.admin_token().await;
    let dave = app.demo_token("dave").await;
    // dave audits (reads every department) at clearance 2; the admin at clearance 3 is
    // asked about a clearance-1 colleague. A classification that is text, or above the
    // scale, must never slip past the clearance-3 deny.
    let doc = |classification: serde_json::Value| json!({"type": "document", "attributes": {"department": "eng", "owner": "bob", "classification": classification}});
    let q = json!({"checks": [
        {"object": doc(json!(1)), "action": "read"},
        {"object": doc(json!("3")), "action": "read"},
        {"object": doc(json!(4)), "action": "read"},
        {"object": doc(json!(true)), "action": "read"},
        {"object": {"type": "document", "attributes": {"department": "eng", "owner": "bob"}}, "action": "read"}
    ]});
    let r = app
        .call(Method::POST, "/v1/check", Some(&dave), Some(q))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let results = r.body["results"].as_array().expect("results");
    let allowed: Vec<bool> = results.iter().map(|c| c["allowed"] == true).collect();
    assert_eq!(allowed, vec![true, false, false, false, false], "{r:?}");
    // without explain rights the caller still learns what to send or fix (the deny rule that
    // could not be evaluated and the attribute), never the condition's text
    for c in [&results[1], &results[3], &results[4]] {
        let named = &c["unevaluated"][0];
        assert_eq!(named["effect"], "deny", "{c}");
        assert_eq!(
            named["attributes"],
            serde_json::json!(["r.obj.classification"]),
            "{c}"
        );
        assert!(c["error"].is_string(), "{c}");
        assert!(!c.to_string().contains("r.sub.clearance < 3"), "{c}");
    }
    // classification 4 is above the scale: the deny rule matches, a plain deny
    assert!(
        results[2].get("unevaluated").is_none() && results[2].get("error").is_none(),
        "{r:?}"
    );
    // with explain, the admin sees why
    let q = json!({"explain": true, "checks": [{"object": doc(json!("3")), "action": "read"}]});
    let r = app
        .call(Method::POST, "/v1/check", Some(&admin), Some(q))
        .await;
    assert!(
        r.body["results"][0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("type mismatch"),
        "{r:?}"
    );
}

#[tokio::test]
async fn check_about_another_user_counts_only_scopes_they_can_hold() {
    let app = demo_app().await;
    let admin = app.admin_token().await;
    let r = app
        .call(
            Method::PATCH,
            "/v1/admin/users/bob",
            Some(&admin),
            Some(json!({"scopes": ["documents:read"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let q = json!({"checks": [{"subject": {"name": "bob", "scopes": ["documents:read", "documents:write"]},
        "object": {"type": "document", "attributes": {"department": "eng", "owner": "bob", "classification": 1}},
        "action": "update"}]});
    let r = app
        .call(Method::POST, "/v1/check", Some(&admin), Some(q))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["results"][0]["allowed"], false, "{r:?}");
}

#[tokio::test]
async fn check_rejects_bad_batches_with_422() {
    let app = demo_app().await;
    let alice = app.demo_token("alice").await;
    let item = json!({"object": {"type": "document"}, "action": "read"});
    let most = json!({"checks": vec![item.clone(); 100]});
    let r = app
        .call(Method::POST, "/v1/check", Some(&alice), Some(most))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["results"].as_array().map(Vec::len), Some(100));
    let too_many = json!({"checks": vec![item.clone(); 101]});
    assert_error(
        &app.call(Method::POST, "/v1/check", Some(&alice), Some(too_many))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_error(
        &app.call(
            Method::POST,
            "/v1/check",
            Some(&alice),
            Some(json!({"checks": []})),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let typo =
        json!({"checks": [{"object": {"type": "document"}, "action": "read", "efect": "allow"}]});
    assert_error(
        &app.call(Method::POST, "/v1/check", Some(&alice), Some(typo))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let both =
        json!({"checks": [{"object": {"type": "document", "path": "/x"}, "action": "read"}]});
    assert_error(
        &app.call(Method::POST, "/v1/check", Some(&alice), Some(both))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[tokio::test]
async fn without_a_policy_every_protected_route_is_503_never_allowed() {
    let app = demo_app().await;
    let admin = app.admin_token().await;
    app.state.engine.unload_for_tests();
    for path in ["/v1/me", "/api/documents", "/api/documents/1"] {
        assert_error(
            &app.get(path, &admin).await,
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
        );
    }
    assert_eq!(
        app.call(Method::GET, "/readyz", None, None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn a_corrupted_rule_row_is_refused_at_load_and_decisions_fail_closed() {
    let dir = tempfile::tempdir().expect("dir");
    let url = crate::helpers::fresh_database_url(dir.path()).await;
    let config = || {
        let mut c = warden::config::Config::for_database(&url);
        c.admin_password = Some(ADMIN_PASSWORD.to_owned().into());
        c
    };
    let clock = std::sync::Arc::new(warden::clock::SystemClock);
    let first = warden::bootstrap::start(config(), clock.clone())
        .await
        .expect("start");
    let rule = first.state.engine.snapshot().expect("snapshot").rules()[0].id;
    // a condition that would hang Rhai (operation limits are off in casbin's build)
    warden::store::policy::corrupt_condition_for_tests(&first.state.db, rule, "loop {}")
        .await
        .expect("corrupt");
    // a running engine refuses the reload and keeps serving the last good snapshot
    let err = first.state.engine.reload().await.expect_err("refused");
    assert!(
        matches!(err, warden::engine::LoadError::Rule { id, .. } if id == rule),
        "{err}"
    );
    assert!(first.state.engine.snapshot().is_ok());
    drop(first);
    // a restart cannot load any policy: every decision is a 503
    let second = warden::bootstrap::start(config(), clock)
        .await
        .expect("start");
    assert!(second.state.engine.snapshot().is_err());
    let app = warden::router(second.state.clone());
    let tapp = TestApp {
        state: second.state,
        router: app,
        clock: warden::clock::ManualClock::new(0),
        url: url.clone(),
        _dir: dir.into(),
    };
    let t = tapp.login("admin", ADMIN_PASSWORD).await;
    let token = t.body["access_token"]
        .as_str()
        .expect("login still works")
        .to_owned();
    assert_error(
        &tapp.get("/v1/me", &token).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    );
}
