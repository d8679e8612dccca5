//! The admin console (`/console`): its pages and their headers, its CSRF defence, and the
//! whole admin workflow driven in headless Chromium through ChromeDriver (WebDriver).
//!
//! The browser tests need Debian's `chromium` and `chromium-driver` packages (`.ci/run`
//! installs them; `WARDEN_CHROMIUM` / `WARDEN_CHROMEDRIVER` point elsewhere). Without them they
//! are skipped with a printed reason, except in CI (`CI` set), where they fail. They save
//! screenshots of the main pages to `target/console-screenshots/`, or to `docs/console/` (the
//! README's) with `WARDEN_REFRESH_SCREENSHOTS=1`. The browser itself is
//! `helpers::browser`.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use fantoccini::Locator;
use serde_json::{Value, json};

use crate::helpers::browser::{Browser, WAIT, browser_or_skip};
use crate::helpers::{ADMIN_PASSWORD, PASSWORD, TestApp, assert_error, served, served_with_clock};

// ---------------------------------------------------------------------------------------------
// Without a browser: the pages, their headers, and why a cross-site request gets nowhere.

#[tokio::test]
async fn console_pages_are_served_with_a_strict_content_security_policy() {
    let app = TestApp::new().await;
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/", "text/html"),
        ("/console/console.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        let res = app
            .send(Request::get(path).body(Body::empty()).expect("request"))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{path}");
        let h = |name: header::HeaderName| {
            res.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        assert!(h(header::CONTENT_TYPE).starts_with(kind), "{path}");
        let csp = h(header::CONTENT_SECURITY_POLICY);
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(h(header::X_FRAME_OPTIONS), "DENY", "{path}");
        assert_eq!(h(header::X_CONTENT_TYPE_OPTIONS), "nosniff", "{path}");
        assert!(res.headers.get(header::SET_COOKIE).is_none(), "{path}");
        // revalidation: the same ETag answers 304 without a body
        let etag = h(header::ETAG);
        let again = app
            .send(
                Request::get(path)
                    .header(header::IF_NONE_MATCH, &etag)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(again.status, StatusCode::NOT_MODIFIED, "{path}");
    }
    let missing = app
        .send(
            Request::get("/console/missing.js")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "not_found");
}

/// The console's CSRF defence is that there is no ambient credential: signing in sets no
/// cookie, the API never authenticates by cookie, and it sends no CORS grant, so a page on
/// another site can neither act as the admin nor read an answer.
#[tokio::test]
async fn a_cross_site_request_carries_no_credentials_the_api_accepts() {
    let app = TestApp::new().await;
    let login = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.headers.get(header::SET_COOKIE).is_none(), "{login:?}");
    let token = login.body["access_token"].as_str().expect("token");
    // What a forged cross-site form or fetch can carry: cookies (whatever their names, even
    // one holding a valid token) and an Origin, but never the Authorization header.
    for cookie in [
        format!("access_token={token}"),
        format!("Authorization=Bearer {token}"),
        format!("token={token}; session={token}"),
    ] {
        let forged = app
            .send(
                Request::post("/v1/admin/rules")
                    .header(header::COOKIE, &cookie)
                    .header(header::ORIGIN, "http://evil.example")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(
                        json!({"subject": "user:mallory", "object": "*", "action": "*",
                               "effect": "allow"})
                        .to_string(),
                    ))
                    .expect("request"),
            )
            .await;
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{forged:?}");
        assert!(
            forged
                .headers
                .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
                .is_none()
        );
    }
    // A CORS preflight from another origin gets no grant either.
    let preflight = app
        .send(
            Request::builder()
                .method(Method::OPTIONS)
                .uri("/v1/admin/rules")
                .header(header::ORIGIN, "http://evil.example")
                .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
                .header(header::ACCESS_CONTROL_REQUEST_HEADERS, "authorization")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert!(
        preflight
            .headers
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none(),
        "{preflight:?}"
    );
    let rules = app.get("/v1/admin/rules?subject=user:mallory", token).await;
    assert_eq!(rules.body["total"], 0, "nothing was added");
}

// ---------------------------------------------------------------------------------------------
// The API the console is built on (tested here without a browser, so on every machine).

async fn post(app: &TestApp, admin: &str, path: &str, body: Value) -> crate::helpers::TestResponse {
    app.call(Method::POST, path, Some(admin), Some(body)).await
}

#[tokio::test]
async fn a_refused_rule_names_its_field_and_a_condition_error_its_column() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let rule = |subject: &str, condition: &str| {
        json!({"subject": subject, "object": "document", "action": "read",
               "condition": condition, "effect": "allow"})
    };
    // (subject, condition) -> (details.field, details.column)
    let cases = [
        (
            "role:viewer",
            "r.sub.department = r.obj.department",
            "condition",
            Some(18),
        ),
        ("role:viewer", "r.sub.level >> 2", "condition", Some(14)),
        ("role:viewer", "r.sub.x == ", "condition", None),
        ("viewer", "", "subject", None),
        ("user:Alice", "", "subject", None),
    ];
    for (subject, condition, field, column) in cases {
        for path in ["/v1/admin/rules", "/v1/admin/policy/changes"] {
            let body = if path.ends_with("rules") {
                rule(subject, condition)
            } else {
                json!({"add": [rule(subject, condition)]})
            };
            let r = post(&app, &admin, path, body).await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
            assert_eq!(r.error_code(), "validation_failed");
            assert_eq!(
                r.body["details"]["field"], field,
                "{subject} {condition}: {r:?}"
            );
            assert_eq!(
                r.body["details"]["column"].as_u64(),
                column,
                "{subject} {condition}: {r:?}"
            );
            assert!(
                r.body["message"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with(field),
                "{r:?}"
            );
        }
        // the dry run reports the same refusal, details included
        let dry = post(
            &app,
            &admin,
            "/v1/admin/policy/dry-run",
            json!({"change": {"add": [rule(subject, condition)]}}),
        )
        .await;
        assert_eq!(dry.status, StatusCode::OK, "{dry:?}");
        assert_eq!(dry.body["accepted"], false);
        assert_eq!(dry.body["refusal"]["details"]["field"], field);
        assert_eq!(dry.body["refusal"]["details"]["column"].as_u64(), column);
    }
    // other validation errors name their field too
    let r = app.get("/v1/admin/rules?limit=0", &admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(r.body["details"]["field"], "limit", "{r:?}");
}

#[tokio::test]
async fn the_rule_search_matches_any_column_case_insensitively() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    // query -> number of seed rules it matches
    for (query, total) in [
        ("q=department", 5),
        ("q=DEPARTMENT", 5),
        ("q=%20department%20", 5),
        ("q=documents:write", 7),
        ("q=/v1/authz", 1),
        ("q=auditor", 5),
        ("q=auditor&effect=deny", 4),
        ("q=department&subject=role:editor", 4),
        ("q=no-such-text", 0),
        ("q=", 26),
    ] {
        let r = app.get(&format!("/v1/admin/rules?{query}"), &admin).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {r:?}");
        assert_eq!(r.body["total"], total, "{query}");
    }
    let long = "x".repeat(257);
    let r = app.get(&format!("/v1/admin/rules?q={long}"), &admin).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(r.body["details"]["field"], "q");
}

#[tokio::test]
async fn the_grid_holds_every_cell_with_its_answer_and_why_explains_one() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let grid = app.get("/v1/admin/matrices/seed/grid", &admin).await;
    assert_eq!(grid.status, StatusCode::OK, "{grid:?}");
    let g = &grid.body;
    let (subjects, objects, actions) = (
        g["subjects"].as_array().expect("subjects").len(),
        g["objects"].as_array().expect("objects").len(),
        g["actions"].as_array().expect("actions").len(),
    );
    let cells = g["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), subjects * objects * actions);
    // the live policy meets every expectation of the seed matrix
    assert!(
        cells
            .iter()
            .all(|c| c["expected"].is_null() || c["expected"] == c["allowed"])
    );
    let cell = |s: &str, o: &str, a: &str| {
        cells
            .iter()
            .find(|c| c["subject"] == s && c["object"] == o && c["action"] == a)
            .unwrap_or_else(|| panic!("no cell {s} {o} {a}"))
    };
    // subject x object x action -> allowed, and what the reason starts with
    for (s, o, a, allowed, reason) in [
        ("alice", "eng-1-bob", "read", true, "allow by rule"),
        ("alice", "eng-3-bob", "read", false, "deny by rule"),
        ("alice", "sales-0-zed", "read", false, "no rule matched"),
        ("frank", "eng-1-bob", "update", false, "route PUT"),
        ("dave", "audit-0-zed", "update", false, "deny by rule"),
        ("root", "sales-3-carol", "delete", true, "allow by rule"),
    ] {
        let c = cell(s, o, a);
        assert_eq!(c["allowed"], allowed, "{c}");
        assert!(
            c["reason"].as_str().expect("reason").starts_with(reason),
            "{c}"
        );
    }

    // The list without coverage (what the console's Grid page asks): the same matrices and
    // failures, no coverage key.
    let full = app.get("/v1/admin/matrices", &admin).await;
    let light = app.get("/v1/admin/matrices?coverage=false", &admin).await;
    assert_eq!(light.status, StatusCode::OK, "{light:?}");
    let (full, light) = (
        full.body.as_array().expect("list").clone(),
        light.body.as_array().expect("list").clone(),
    );
    assert_eq!(full.len(), light.len());
    for (f, l) in full.iter().zip(&light) {
        assert_eq!(f["name"], l["name"]);
        assert_eq!(f["failures"], l["failures"]);
        assert_eq!(f["checked"], l["checked"]);
        assert!(
            f["coverage"].is_object() && l.get("coverage").is_none(),
            "{l}"
        );
    }
    assert_error(
        &app.get("/v1/admin/matrices?coverage=maybe", &admin).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );

    let why = app
        .get(
            "/v1/admin/matrices/seed/why?subject=alice&object=eng-3-bob&action=read",
            &admin,
        )
        .await;
    assert_eq!(why.status, StatusCode::OK, "{why:?}");
    assert_eq!(why.body["cell"]["allowed"], false);
    assert_eq!(why.body["cell"]["expected"], false);
    assert_eq!(why.body["subject"]["attributes"]["department"], "eng");
    assert_eq!(why.body["object"]["attributes"]["classification"], 3);
    let conditions = why.body["conditions"].as_array().expect("conditions");
    // the viewer rule's condition fails (clearance 2 < classification 3), the deny's holds
    let result = |fragment: &str| {
        conditions
            .iter()
            .find(|c| {
                c["condition"]
                    .as_str()
                    .is_some_and(|t| t.contains(fragment))
            })
            .map(|c| c["result"].clone())
    };
    assert_eq!(
        result("r.sub.clearance >= r.obj.classification"),
        Some(json!("false"))
    );
    assert_eq!(result("r.obj.classification >= 3"), Some(json!("true")));

    for (path, status) in [
        ("/v1/admin/matrices/nope/grid", StatusCode::NOT_FOUND),
        (
            "/v1/admin/matrices/nope/why?subject=a&object=b&action=c",
            StatusCode::NOT_FOUND,
        ),
        (
            "/v1/admin/matrices/seed/why?subject=mallory&object=eng-3-bob&action=read",
            StatusCode::NOT_FOUND,
        ),
        (
            "/v1/admin/matrices/seed/why?subject=alice",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        assert_eq!(app.get(path, &admin).await.status, status, "{path}");
    }
    // a non-admin may use neither
    let (eve, _) = app.user_tokens("eve").await;
    for path in [
        "/v1/admin/matrices/seed/grid",
        "/v1/admin/matrices/seed/why?subject=alice&object=eng-3-bob&action=read",
    ] {
        assert_eq!(
            app.get(path, &eve).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
}

/// A comparison that found the rules and inheritance of both versions the same.
fn assert_no_difference(compared: &Value) {
    for key in [
        "only_then",
        "only_now",
        "changed",
        "inheritance_only_then",
        "inheritance_only_now",
    ] {
        assert_eq!(compared[key], json!([]), "{key}: {compared}");
    }
}

#[tokio::test]
async fn compare_lists_what_differs_and_a_rollback_is_previewed_like_any_change() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let v0 = app.policy_version(&admin).await;
    let same = app
        .get(&format!("/v1/admin/policy/versions/{v0}/compare"), &admin)
        .await;
    assert_eq!(same.status, StatusCode::OK, "{same:?}");
    assert_no_difference(&same.body);
    // add a rule, change one, delete one, and add an inheritance
    let auditors = app
        .get("/v1/admin/rules?subject=role:auditor&action=read", &admin)
        .await;
    let read_id = auditors.body["items"][0]["id"].as_i64().expect("id");
    let delete_id = app
        .get("/v1/admin/rules?subject=role:auditor&action=delete", &admin)
        .await
        .body["items"][0]["id"]
        .as_i64()
        .expect("id");
    let change = json!({
        "add": [{"subject": "role:viewer", "object": "document", "action": "delete",
                 "effect": "allow"}],
        "update": [{"id": read_id, "rule": {"subject": "role:auditor", "object": "document",
                    "action": "read", "scope": "documents:read",
                    "condition": "r.obj.classification < 3", "effect": "allow"}}],
        "delete": [delete_id],
        "assign": [{"member": "role:contractor", "role": "role:user"}],
    });
    let applied = post(&app, &admin, "/v1/admin/policy/changes", change).await;
    assert_eq!(applied.status, StatusCode::CREATED, "{applied:?}");
    let c = app
        .get(&format!("/v1/admin/policy/versions/{v0}/compare"), &admin)
        .await
        .body;
    assert_eq!(c["version"], v0);
    assert_eq!(c["current_version"], v0 + 1);
    assert_eq!(c["only_now"].as_array().map(Vec::len), Some(1), "{c}");
    assert_eq!(c["only_now"][0]["action"], "delete");
    assert_eq!(c["only_now"][0]["subject"], "role:viewer");
    assert_eq!(c["only_then"].as_array().map(Vec::len), Some(1), "{c}");
    assert_eq!(c["only_then"][0]["id"], delete_id);
    assert_eq!(c["changed"].as_array().map(Vec::len), Some(1), "{c}");
    assert_eq!(c["changed"][0]["then"]["condition"], "");
    assert_eq!(
        c["changed"][0]["now"]["condition"],
        "r.obj.classification < 3"
    );
    assert_eq!(
        c["inheritance_only_now"],
        json!([["role:contractor", "role:user"]])
    );
    assert_eq!(c["inheritance_only_then"], json!([]));

    // The rollback's dry run: accepted, flips the viewers' delete back, applies nothing.
    let dry = post(
        &app,
        &admin,
        "/v1/admin/policy/dry-run",
        json!({"rollback_to": v0}),
    )
    .await;
    assert_eq!(dry.status, StatusCode::OK, "{dry:?}");
    assert_eq!(dry.body["accepted"], true, "{dry:?}");
    let flips = dry.body["flips"].as_array().expect("flips");
    assert!(
        flips.iter().any(|f| f["matrix"] == "seed"
            && f["subject"] == "alice"
            && f["object"] == "eng-1-bob"
            && f["action"] == "delete"
            && f["before"] == true
            && f["after"] == false),
        "{flips:?}"
    );
    assert_eq!(app.policy_version(&admin).await, v0 + 1);
    // what the rollback then does is what the dry run said
    let rolled = post(
        &app,
        &admin,
        "/v1/admin/policy/rollback",
        json!({"version": v0}),
    )
    .await;
    assert_eq!(rolled.status, StatusCode::CREATED, "{rolled:?}");
    let after = app
        .get(&format!("/v1/admin/policy/versions/{v0}/compare"), &admin)
        .await
        .body;
    assert_no_difference(&after);

    for (body, status) in [
        (json!({}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"rollback_to": v0, "change": {"delete": [1]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"rollback_to": 999_999}), StatusCode::NOT_FOUND),
    ] {
        let r = post(&app, &admin, "/v1/admin/policy/dry-run", body.clone()).await;
        assert_eq!(r.status, status, "{body}: {r:?}");
    }
    assert_eq!(
        app.get("/v1/admin/policy/versions/999999/compare", &admin)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

/// The live decision for demo user alice deleting an eng document, asked through the
/// console's "Check a decision" form.
async fn alice_may_delete(b: &Browser) -> bool {
    b.section("people", "#check-form").await;
    b.fill("#check-user", "alice").await;
    b.fill("#check-object", "document").await;
    b.fill("#check-action", "delete").await;
    b.fill(
        "#check-attributes",
        r#"{"department": "eng", "owner": "bob", "classification": 1}"#,
    )
    .await;
    b.click("#check-submit").await;
    let allowed = b.attr("#check-answer", "data-allowed").await;
    match allowed.as_deref() {
        Some("true") => true,
        Some("false") => false,
        other => panic!("no decision shown: {other:?}"),
    }
}

/// The whole admin workflow in a real browser: sign in, a field error at its column, a
/// preview that flips the expected cells, apply and see a user's decision change, a
/// concurrent edit reported as 412, compare and roll back with a preview, the live grid with
/// "why", people and roles, and the narrow layout. Saves the README's screenshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_previews_applies_and_rolls_back_a_rule_in_the_browser() {
    let server = served(|c| c.demo = true).await;
    let Some(b) = browser_or_skip(
        "an_admin_previews_applies_and_rolls_back_a_rule_in_the_browser",
        &server,
    )
    .await
    else {
        return;
    };
    let app = server.app();
    // Markup in data the console shows (a display name anyone may choose at registration)
    // is shown as text, never run: checked on the People page below.
    let hostile = app
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"username": "mallory", "password": PASSWORD,
                        "display_name": "<img src=x onerror=\"window.pwned=1\"><b>bold</b>"})),
        )
        .await;
    assert_eq!(hostile.status, StatusCode::CREATED, "{hostile:?}");
    let admin = app.admin_token().await;
    // 30 more rules: the rule list takes two pages of 50.
    let extra: Vec<Value> = (0..30)
        .map(|i| {
            json!({"subject": "role:contractor", "object": "document",
                        "action": format!("task-{i}"), "effect": "allow"})
        })
        .collect();
    let added = app
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(json!({"rules": extra})),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{added:?}");
    let v0 = app.policy_version(&admin).await;

    b.sign_in("admin", ADMIN_PASSWORD).await;
    // The token lives in the page's memory only: no cookie, nothing in web storage.
    let stored = b
        .js("return [document.cookie, localStorage.length, sessionStorage.length];")
        .await;
    assert_eq!(stored, json!(["", 0, 0]));
    b.find("#rules-table tbody tr").await;
    b.screenshot("rules").await;
    b.wait_text("#rules-count", "1–50 of 56 rule(s)").await;
    b.click("#rules-count-next").await;
    b.wait_text("#rules-count", "51–56 of 56 rule(s)").await;
    assert_eq!(
        b.js("return document.querySelectorAll('#rules-table tbody tr').length;")
            .await,
        json!(6)
    );
    b.click("#rules-count-prev").await;
    b.wait_text("#rules-count", "1–50 of 56 rule(s)").await;

    // Filters: only alice's rules... by subject, exact.
    b.fill("#f-subject", "role:auditor").await;
    b.click("#filter-apply").await;
    b.client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//span[@id='rules-count' and contains(., 'of 5 rule')]",
        ))
        .await
        .expect("the auditor's 5 rules");
    b.click("#filter-clear").await;
    // "Contains" searches every column, case-insensitively: the 5 seed rules whose condition
    // reads a department.
    b.fill("#f-q", "DEPARTMENT").await;
    b.click("#filter-apply").await;
    b.wait_text("#rules-count", "1–5 of 5 rule(s)").await;
    b.click("#filter-clear").await;

    // Before: alice may not delete an eng document.
    assert!(!alice_may_delete(&b).await);

    // A condition with a syntax error: the server's message is shown at the field, with a
    // caret under the column it names.
    b.section("rules", "#add-rule").await;
    b.click("#add-rule").await;
    b.fill("#rule-subject", "role:viewer").await;
    b.fill("#rule-object", "document").await;
    b.fill("#rule-action", "delete").await;
    b.fill("#rule-condition", "r.sub.department = r.obj.department")
        .await;
    b.click("#preview-rule").await;
    b.wait_text("#err-rule-condition", "column 18").await;
    assert_eq!(
        b.attr("#err-rule-condition", "data-column")
            .await
            .as_deref(),
        Some("18")
    );
    assert_eq!(
        b.attr("#rule-condition", "aria-invalid").await.as_deref(),
        Some("true")
    );
    assert_eq!(b.attr("#apply", "disabled").await.as_deref(), Some("true"));
    b.screenshot("rule-error").await;

    // Fixed: the preview flips exactly the viewers' deletes in their own department.
    b.fill("#rule-condition", "r.sub.department == r.obj.department")
        .await;
    b.click("#preview-rule").await;
    b.find("#preview[data-accepted='true']").await;
    let flip = "table.flips[data-matrix='seed'] td[data-subject='alice'][data-object='eng-1-bob'][data-action='delete']";
    assert_eq!(b.attr(flip, "data-before").await.as_deref(), Some("deny"));
    assert_eq!(b.attr(flip, "data-after").await.as_deref(), Some("allow"));
    let flipped: Vec<(String, String, String)> = serde_json::from_value(
        b.js(
            "return [...document.querySelectorAll('table.flips[data-matrix=\"seed\"] td.flip')]
                .map(c => [c.dataset.subject, c.dataset.object, c.dataset.action]);",
        )
        .await,
    )
    .expect("cells");
    assert!(!flipped.is_empty());
    for (s, o, a) in &flipped {
        assert_eq!(a, "delete", "{s} {o} {a}");
        // viewers (alice, carol; gina's token lacks documents:write... she has it: write
        // only) and bob (an editor inherits viewer), each in their own department
        let dept = match s.as_str() {
            "alice" | "bob" | "gina" => "eng-",
            "carol" => "sales-",
            other => panic!("{other} should not be affected"),
        };
        assert!(o.starts_with(dept), "{s} {o}");
    }
    assert!(flipped.iter().any(|(s, _, _)| s == "carol"));
    // The real accounts the rule reaches: viewers, and editors through inheritance.
    b.wait_text("#affected", "alice, bob, carol.").await;
    // Nothing was applied by the preview.
    assert_eq!(app.policy_version(&admin).await, v0);
    b.screenshot("preview").await;

    b.click("#apply").await;
    b.wait_text("#notice", &format!("now version {}", v0 + 1))
        .await;
    assert_eq!(app.policy_version(&admin).await, v0 + 1);
    // After: alice may.
    assert!(alice_may_delete(&b).await);

    // A concurrent edit between preview and apply is reported, not overwritten.
    b.section("rules", "#add-rule").await;
    b.click("#add-rule").await;
    b.fill("#rule-subject", "role:auditor").await;
    b.fill("#rule-object", "document").await;
    b.fill("#rule-action", "archive").await;
    b.click("#preview-rule").await;
    b.find("#preview[data-accepted='true']").await;
    let other = app
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(
                json!({"subject": "role:editor", "object": "document", "action": "archive",
                        "effect": "allow"}),
            ),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{other:?}");
    b.click("#apply").await;
    let conflict = b.text("#conflict").await;
    assert!(
        conflict.contains(&format!("version {}", v0 + 1))
            && conflict.contains(&format!("now version {}", v0 + 2)),
        "{conflict}"
    );
    b.screenshot("conflict").await;
    // Escape closes the editor.
    b.find("#rule-subject")
        .await
        .send_keys("\u{E00C}")
        .await
        .expect("Escape");
    b.wait_gone("#rule-form").await;
    assert_eq!(app.policy_version(&admin).await, v0 + 2);
    let archived = app
        .get(
            "/v1/admin/rules?subject=role:auditor&action=archive",
            &admin,
        )
        .await;
    assert_eq!(
        archived.body["total"], 0,
        "the stale change was not applied"
    );

    // History: compare v0 with now, then roll back to it with a preview.
    b.section("history", &format!("#compare-{v0}")).await;
    b.click(&format!("#compare-{v0}")).await;
    let compared = b.text("#compare").await;
    assert!(
        compared.contains("role:viewer · document · delete")
            && compared.contains("role:editor · document · archive"),
        "{compared}"
    );
    b.screenshot("history").await;
    b.click(&format!("#rollback-{v0}")).await;
    b.find("#preview[data-accepted='true']").await;
    assert_eq!(
        b.attr(flip, "data-after").await.as_deref(),
        Some("deny"),
        "the rollback preview shows alice losing delete"
    );
    b.click("#apply").await;
    b.wait_text("#notice", &format!("now version {}", v0 + 3))
        .await;
    assert!(!alice_may_delete(&b).await);

    // The live grid, filtered, and "why" for a cell, opened with the keyboard.
    b.section("grid", "#matrix-select").await;
    b.find("#matrix-select")
        .await
        .select_by_value("seed")
        .await
        .expect("choose the seed matrix");
    b.find("#grid[data-matrix='seed']").await;
    b.fill("#grid-subject", "alice").await;
    let rows = b
        .js("return document.querySelectorAll('#grid tbody tr').length;")
        .await;
    assert_eq!(rows, json!(1));
    let cell = b
        .find("#grid button[data-subject='alice'][data-object='eng-3-bob'][data-action='read']")
        .await;
    assert_eq!(
        cell.attr("data-allowed").await.expect("attr").as_deref(),
        Some("false")
    );
    cell.send_keys("\u{E007}").await.expect("Enter on a cell");
    let reason = b.text("#why-reason").await;
    assert!(reason.contains("deny by rule"), "{reason}");
    let conditions = b.text("#why-card table.conditions").await;
    assert!(
        conditions.contains("r.obj.classification >= 3"),
        "{conditions}"
    );
    b.set_value("#grid-subject", "").await;
    b.find("#grid tbody tr:nth-child(3)").await;
    b.screenshot("grid").await;

    // People: assign a role through the same preview; the accounts it reaches are named.
    b.section("people", "#assign-form").await;
    b.fill("#assign-member", "user:erin").await;
    b.fill("#assign-role", "role:viewer").await;
    b.click("#assign-preview-btn").await;
    b.find("#assign-preview #preview[data-accepted='true']")
        .await;
    b.wait_text("#assign-preview #affected", "erin.").await;
    b.click("#assign-preview #apply").await;
    b.wait_text("#notice", &format!("now version {}", v0 + 4))
        .await;
    b.wait_text("#users-table tr[data-user='erin']", "viewer")
        .await;
    // An account edit the server refuses is reported: the only admin cannot be disabled.
    b.click("#users-table tr[data-user='admin'] .edit-user")
        .await;
    b.click("#user-disabled").await;
    b.click("#user-save").await;
    b.wait_text("#user-error", "lockout").await;
    let admins = app.get("/v1/admin/users/admin", &admin).await;
    assert_eq!(admins.body["disabled"], false);

    // People: users with their roles, and the role tree.
    b.section("people", "#users-table").await;
    let users = b.text("#users-table").await;
    assert!(
        users.contains("alice") && users.contains("department=eng"),
        "{users}"
    );
    let tree = b.text("#roles-tree").await;
    for role in ["role:user", "role:viewer", "role:editor", "role:admin"] {
        assert!(tree.contains(role), "{tree}");
    }
    // role:editor sits under role:viewer, which sits under role:user
    let nested = b
        .js("return !!document.querySelector(\"#roles-tree li[data-role='role:user'] li[data-role='role:viewer'] li[data-role='role:editor']\");")
        .await;
    assert_eq!(nested, json!(true));
    let mallory = b.text("#users-table tr[data-user='mallory']").await;
    assert!(mallory.contains("<img src=x"), "{mallory}");
    let injected = b
        .js("return [document.querySelectorAll('#users-table img, #users-table b').length, window.pwned === undefined];")
        .await;
    assert_eq!(injected, json!([0, true]));
    b.screenshot("people").await;
    b.assert_fits_width("people at 1280 px").await;

    // Narrow screens: the page reflows instead of scrolling sideways.
    b.client.set_window_size(420, 900).await.expect("resize");
    b.section("rules", "#rules-table").await;
    b.assert_fits_width("rules at 420 px").await;
    b.screenshot("rules-narrow").await;
    b.close().await;
}

/// A non-admin signs in to the same console and every admin action is refused by the API
/// (the console has no rights of its own): nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_admin_sees_every_admin_action_refused() {
    let server = served_with_clock(|_| {}).await;
    let Some(b) = browser_or_skip("a_non_admin_sees_every_admin_action_refused", &server).await
    else {
        return;
    };
    let app = server.app();
    let admin = app.admin_token().await;
    assert_eq!(
        app.register("eve", PASSWORD).await.status,
        StatusCode::CREATED
    );
    let before = app.policy_version(&admin).await;
    // A wrong password is refused without saying whether the account exists.
    b.open("/console").await;
    b.fill("#username", "eve").await;
    b.fill("#password", "not-her-password").await;
    b.click("#signin-submit").await;
    b.wait_text("#signin-error", "Wrong username or password.")
        .await;
    b.sign_in("eve", PASSWORD).await;

    let refused = b.wait_text("#rules-list #refused", "403").await;
    assert!(
        refused.contains("403") && refused.contains("eve"),
        "{refused}"
    );
    b.screenshot("refused").await;
    b.click("#add-rule").await;
    b.fill("#rule-subject", "user:eve").await;
    b.fill("#rule-object", "*").await;
    b.fill("#rule-action", "*").await;
    b.click("#preview-rule").await;
    b.wait_text("#preview-error", "403").await;
    assert!(
        b.client.find(Locator::Css("#apply")).await.is_err(),
        "nothing to apply"
    );

    for (section, ready) in [
        ("people", "#refused"),
        ("history", "#refused"),
        ("grid", "#refused"),
    ] {
        b.section(section, ready).await;
        b.wait_text(ready, "403").await;
    }
    // The forms that render without data are refused when used.
    b.section("people", "#assign-form").await;
    b.fill("#assign-member", "user:eve").await;
    b.fill("#assign-role", "role:admin").await;
    b.click("#assign-preview-btn").await;
    b.wait_text("#assign-preview #preview-error", "403").await;

    assert_eq!(app.policy_version(&admin).await, before);
    let roles = app.get("/v1/admin/users/eve/roles", &admin).await;
    assert_eq!(roles.body["direct"], json!(["role:user"]), "{roles:?}");

    // The access token expires; the console renews it with the refresh token and goes on
    // (the next page is the policy's refusal again, not the sign-in form).
    let clock = server.clock.as_ref().expect("a manual clock");
    clock.advance(server.state.config.access_ttl + 120);
    b.section("history", "#refused").await;
    assert!(b.client.find(Locator::Css("#signin")).await.is_err());
    // Signing out revokes the session: none of eve's refresh tokens is left usable.
    const LIVE: &str = "SELECT COUNT(*) FROM refresh_tokens r JOIN users u ON u.id = r.user_id \
                        WHERE u.username = 'eve' AND r.revoked_at IS NULL AND r.used_at IS NULL";
    let live = || warden::store::count_for_tests(&server.state.db, LIVE);
    assert_eq!(live().await.expect("count"), 1);
    b.click("#signout").await;
    b.find("#signin").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while live().await.expect("count") != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session was not revoked"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.close().await;
}

/// The account pages: an admin creates an account without a password and hands over the
/// token it shows once, resets another account's password, and deletes an account (asked
/// twice); each reaches the API and each is refused the way the API refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_creates_resets_and_deletes_accounts_in_the_browser() {
    let server = served(|c| c.allow_registration = false).await;
    let Some(b) = browser_or_skip(
        "an_admin_creates_resets_and_deletes_accounts_in_the_browser",
        &server,
    )
    .await
    else {
        return;
    };
    let app = server.app();
    let admin = app.admin_token().await;
    b.sign_in("admin", ADMIN_PASSWORD).await;
    b.section("people", "#users-table").await;

    // Create without a password: the token is shown once and works.
    b.click("#new-user").await;
    b.fill("#new-username", "olga").await;
    b.click("#new-user-save").await;
    b.wait_text("#set-password-grant", "olga").await;
    let token = b.text("#set-password-token").await;
    assert!(token.len() >= 43, "{token}");
    b.screenshot("new-account").await;
    let r = app
        .call(
            Method::POST,
            "/v1/auth/set-password",
            None,
            Some(json!({ "token": token, "password": "olga-password-1" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(
        app.login("olga", "olga-password-1").await.status,
        StatusCode::OK
    );
    // A taken name is refused with the API's answer, next to the form.
    b.click("#new-user").await;
    b.fill("#new-username", "OLGA").await;
    b.fill("#new-password", "olga-password-9").await;
    b.click("#new-user-save").await;
    b.wait_text("#new-user-error", "username_taken").await;

    // Reset: olga's password and session end at once; a new token is shown.
    let session = app.login("olga", "olga-password-1").await;
    let olga = session.body["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    b.click("#users-table tr[data-user='olga'] .edit-user")
        .await;
    b.click("#user-reset").await;
    b.wait_text("#user-result #set-password-grant", "olga")
        .await;
    assert_eq!(
        app.get("/v1/me", &olga).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login("olga", "olga-password-1").await.status,
        StatusCode::BAD_REQUEST
    );

    // Delete asks twice, then the account is gone from the list and from the API.
    b.click("#user-delete").await;
    b.wait_text("#user-delete", "Really delete olga?").await;
    assert_eq!(
        app.get("/v1/admin/users/olga", &admin).await.status,
        StatusCode::OK,
        "one click deletes nothing"
    );
    b.click("#user-delete").await;
    b.wait_gone("#users-table tr[data-user='olga']").await;
    assert_eq!(
        app.get("/v1/admin/users/olga", &admin).await.status,
        StatusCode::NOT_FOUND
    );
    // The last admin cannot be deleted: the lock-out refusal is shown.
    b.click("#users-table tr[data-user='admin'] .edit-user")
        .await;
    b.click("#user-delete").await;
    b.click("#user-delete").await;
    b.wait_text("#user-error", "lockout").await;
    assert_eq!(app.get("/v1/me", &admin).await.status, StatusCode::OK);

    // A check that leaves out an attribute a rule reads is still decided by the other rules,
    // and the console says which rule could not be evaluated and what to send.
    b.fill("#check-user", "admin").await;
    b.fill("#check-object", "document").await;
    b.fill("#check-action", "read").await;
    b.fill(
        "#check-attributes",
        r#"{"department": "eng", "classification": 1}"#,
    )
    .await;
    b.click("#check-submit").await;
    assert_eq!(
        b.attr("#check-answer", "data-allowed").await.as_deref(),
        Some("true")
    );
    let unevaluated = b.wait_text("#check-unevaluated", "owner").await;
    assert!(unevaluated.contains("(allow)"), "{unevaluated}");
    b.close().await;
}

/// The service accounts on the People page: created with its secret shown once, rotated (a
/// new secret shown once), deleted (asked twice); each secret works for the client_credentials
/// grant exactly while the API says it should.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_creates_rotates_and_deletes_a_service_account_in_the_browser() {
    let server = served(|_| {}).await;
    let Some(b) = browser_or_skip(
        "an_admin_creates_rotates_and_deletes_a_service_account_in_the_browser",
        &server,
    )
    .await
    else {
        return;
    };
    let app = server.app();
    let grant = |id: String, secret: String| {
        let app = &app;
        async move {
            app.token_form(&format!(
                "grant_type=client_credentials&client_id={id}&client_secret={secret}"
            ))
            .await
            .status
        }
    };
    b.sign_in("admin", ADMIN_PASSWORD).await;
    b.section("people", "#services-table").await;
    b.fill("#service-name", "ci-bot").await;
    b.fill("#service-roles", "viewer").await;
    b.fill("#service-scopes", "documents:read").await;
    b.click("#service-save").await;
    b.wait_text("#service-secret", "ci-bot").await;
    b.find("#services-table tr[data-service='ci-bot']").await;
    let id = b.text("#service-client-id").await;
    let first = b.text("#service-client-secret").await;
    assert!(
        id.starts_with("svc-") && first.starts_with("wsec_"),
        "{id} {first}"
    );
    assert_eq!(grant(id.clone(), first.clone()).await, StatusCode::OK);

    b.click("#services-table tr[data-service='ci-bot'] .rotate-service")
        .await;
    b.wait_text("#service-secret", "New secret of ci-bot").await;
    let second = b.text("#service-client-secret").await;
    assert_ne!(first, second);
    assert_eq!(grant(id.clone(), second.clone()).await, StatusCode::OK);
    assert_eq!(
        grant(id.clone(), first).await,
        StatusCode::OK,
        "the old secret works for the overlap"
    );

    b.click("#services-table tr[data-service='ci-bot'] .delete-service")
        .await;
    b.wait_text(
        "#services-table tr[data-service='ci-bot'] .delete-service",
        "Really delete?",
    )
    .await;
    b.click("#services-table tr[data-service='ci-bot'] .delete-service")
        .await;
    b.wait_gone("#services-table tr[data-service='ci-bot']")
        .await;
    assert_eq!(grant(id, second).await, StatusCode::UNAUTHORIZED);
    b.close().await;
}

/// The tenant picker: an installation admin switches tenant and edits the picked tenant's
/// rules through the scoped API; a tenant admin, signed in to their tenant, sees that tenant
/// only, edits its members, and is told why a rule reaching outside it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_installation_admin_switches_tenant_and_a_tenant_admin_sees_only_theirs() {
    let server = served(|_| {}).await;
    let Some(b) = browser_or_skip(
        "an_installation_admin_switches_tenant_and_a_tenant_admin_sees_only_theirs",
        &server,
    )
    .await
    else {
        return;
    };
    let app = server.app();
    let admin = app.admin_token().await;
    for t in ["acme", "globex"] {
        let r = post(&app, &admin, "/v1/admin/tenants", json!({"name": t})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    for u in ["alice", "bob", "dave"] {
        assert_eq!(app.register(u, PASSWORD).await.status, StatusCode::CREATED);
    }
    for (t, u, role) in [
        ("acme", "alice", "role:tenant-admin"),
        ("globex", "dave", "role:viewer"),
    ] {
        let r = app
            .call(
                Method::PUT,
                &format!("/v1/tenants/{t}/admin/members/{u}"),
                Some(&admin),
                Some(json!({"roles": [role]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
    }
    let options =
        "return [...document.querySelectorAll('#tenant-picker option')].map((o) => o.value);";

    // The installation admin picks acme, adds a rule there, then globex.
    b.sign_in("admin", ADMIN_PASSWORD).await;
    let all = b.js(options).await;
    for t in ["default", "acme", "globex"] {
        assert!(
            all.as_array().expect("options").contains(&json!(t)),
            "{all}"
        );
    }
    assert_eq!(b.attr("#tenant-picker", "disabled").await, None);
    b.click("#tenant-picker option[value='acme']").await;
    b.wait_text("#tenant-name", "acme").await;
    b.wait_text("#tenant-members-table", "alice").await;
    b.fill("#tenant-rule-subject", "role:editor").await;
    b.fill("#tenant-rule-object", "report").await;
    b.fill("#tenant-rule-action", "read").await;
    b.click("#tenant-rule-add").await;
    b.wait_text("#tenant-rules-table", "report").await;
    let acme_rules = app.get("/v1/tenants/acme/admin/rules", &admin).await;
    assert_eq!(acme_rules.body["total"], 1, "{acme_rules:?}");
    assert_eq!(
        acme_rules.body["items"][0]["tenant"], "acme",
        "{acme_rules:?}"
    );
    b.click("#tenant-picker option[value='globex']").await;
    b.wait_text("#tenant-name", "globex").await;
    let members = b.wait_text("#tenant-members-table", "dave").await;
    assert!(!members.contains("alice"), "{members}");
    b.wait_text("#tenant-rules-count", "0 rule(s) of globex")
        .await;
    b.screenshot("tenant-picker").await;
    b.click("#signout").await;
    b.find("#signin").await;

    // alice signs in to acme: acme only, its members and rules, nothing outside it.
    b.fill("#username", "alice").await;
    b.fill("#password", PASSWORD).await;
    b.fill("#signin-tenant", "acme").await;
    b.click("#signin-submit").await;
    b.wait_text("#whoami", "Signed in as alice").await;
    assert_eq!(b.js(options).await, json!(["acme"]));
    assert!(b.attr("#tenant-picker", "disabled").await.is_some());
    b.section("tenant", "#tenant-members-table").await;
    b.wait_text("#tenant-name", "acme").await;
    b.wait_text("#tenant-rules-table", "report").await;
    b.fill("#member-name", "bob").await;
    b.fill("#member-roles", "role:editor").await;
    b.click("#member-save").await;
    b.wait_text("#tenant-members-table", "bob").await;
    let acme_members = app.get("/v1/tenants/acme/admin/members", &admin).await;
    assert!(
        acme_members
            .body
            .as_array()
            .expect("members")
            .iter()
            .any(|m| m["name"] == "bob" && m["roles"] == json!(["role:editor"])),
        "{acme_members:?}"
    );
    let before = app.policy_version(&admin).await;
    b.fill("#tenant-rule-subject", "role:admin").await;
    b.fill("#tenant-rule-object", "report").await;
    b.fill("#tenant-rule-action", "read").await;
    b.click("#tenant-rule-add").await;
    b.wait_text("#tenant-rule-error", "outside_tenant").await;
    assert_eq!(app.policy_version(&admin).await, before);
    // The installation's sections are the policy's refusal, as for any non-admin.
    b.section("rules", "#refused").await;
    b.close().await;
}

/// The "Who can" box (issue 25): an admin asks who may read a document and sees exactly the
/// accounts `/v1/admin/analysis/who-can` names, each with the granting rule and its role
/// chain, and whether the answer is complete; without an id the answer is each account's
/// condition and says it is incomplete; a non-admin's question is refused by the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_asks_who_can_read_a_document_and_sees_the_rules_and_role_chains() {
    let server = served(|c| c.demo = true).await;
    let Some(b) = browser_or_skip(
        "an_admin_asks_who_can_read_a_document_and_sees_the_rules_and_role_chains",
        &server,
    )
    .await
    else {
        return;
    };
    let app = server.app();
    let admin = app.admin_token().await;
    let api = app
        .get(
            "/v1/admin/analysis/who-can?object_type=document&object_id=1&action=read",
            &admin,
        )
        .await;
    assert_eq!(api.status, StatusCode::OK, "{api:?}");
    b.sign_in("admin", ADMIN_PASSWORD).await;
    b.section("people", "#who-can-form").await;
    b.fill("#who-can-type", "document").await;
    b.fill("#who-can-id", "1").await;
    b.fill("#who-can-action", "read").await;
    b.click("#who-can-submit").await;
    let complete = b.wait_text("#who-can-complete", "complete").await;
    assert!(
        complete.contains("complete: this is everyone"),
        "{complete}"
    );
    assert_eq!(
        b.attr("#who-can-complete", "data-complete")
            .await
            .as_deref(),
        Some("true")
    );
    // One row per account the API names, in its order, each with its rules and chains.
    let rows = b
        .js(
            "return [...document.querySelectorAll('#who-can-table tbody tr')].map((tr) => \
             [tr.dataset.username, tr.querySelector('.rules').textContent])",
        )
        .await;
    let subjects = api.body["subjects"].as_array().expect("subjects");
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), subjects.len(), "{rows:?} vs {subjects:?}");
    for (row, s) in rows.iter().zip(subjects) {
        assert_eq!(row[0], s["username"], "{row:?}");
        let text = row[1].as_str().expect("text");
        for g in s["rules"].as_array().expect("rules") {
            assert!(
                text.contains(&format!(
                    "#{} {}",
                    g["id"],
                    g["subject"].as_str().expect("subject")
                )),
                "{text} lacks {g}"
            );
        }
    }
    // bob is an editor: the viewer rule reaches him through editor -> viewer.
    let bob = rows
        .iter()
        .find(|r| r[0] == "bob")
        .expect("bob can read document 1");
    assert!(
        bob[1]
            .as_str()
            .expect("text")
            .contains("via role:editor \u{2192} role:viewer"),
        "{bob:?}"
    );
    assert!(
        !rows.iter().any(|r| r[0] == "carol"),
        "carol is in sales: {rows:?}"
    );
    b.js("document.getElementById('who-can-table').scrollIntoView({block: 'end'}); return null")
        .await;
    b.screenshot("who-can").await;

    // Without an id: each account's condition, and the answer says it is incomplete.
    b.fill("#who-can-id", "").await;
    b.click("#who-can-submit").await;
    b.wait_text("#who-can-complete", "incomplete").await;
    let conditions = b
        .js(
            "return [...document.querySelectorAll('#who-can-table tbody tr')].map((tr) => \
             [tr.dataset.username, tr.querySelector('.cond').textContent])",
        )
        .await;
    let conditions = conditions.as_array().expect("rows");
    let erin = conditions
        .iter()
        .find(|r| r[0] == "erin")
        .expect("erin reads what she owns");
    assert!(
        erin[1]
            .as_str()
            .expect("cond")
            .contains("owner == \"erin\""),
        "{erin:?}"
    );
    // An id that is not a number is refused beside the field; an unknown one by the API.
    b.fill("#who-can-id", "seven").await;
    b.click("#who-can-submit").await;
    b.wait_text("#err-who-can-id", "number").await;
    b.fill("#who-can-id", "999999").await;
    b.click("#who-can-submit").await;
    b.wait_text("#who-can-error", "404").await;
    b.close().await;
}
