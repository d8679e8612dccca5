//! Conditions that cannot be evaluated (an attribute missing or of the wrong type), through
//! every decision point: an allow rule then grants nothing (another rule may still allow), a
//! deny rule denies, and `/v1/check` and the decision log name the rule and the attribute.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

async fn demo_app_with_decision_log(dir: &tempfile::TempDir) -> (TestApp, std::path::PathBuf) {
    let path = dir.path().join("decisions.jsonl");
    let sink = path.clone();
    let app = TestApp::with_config(|c| {
        c.demo = true;
        c.decision_log.sink = Some(warden::decisions::Sink::File(sink));
    })
    .await;
    (app, path)
}

/// The id of the one rule an admin just added.
fn rule_id(r: &TestResponse) -> i64 {
    r.body["rule_ids"][0].as_i64().expect("rule id")
}

/// Rules named as unevaluated: `(rule_id, [attributes])`.
type Named = Vec<(i64, Vec<String>)>;

/// The rules a result's or a log record's `unevaluated` names.
fn unevaluated(v: &Value) -> Named {
    v["unevaluated"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|u| {
                    let attrs = u["attributes"]
                        .as_array()
                        .expect("attributes")
                        .iter()
                        .map(|a| a.as_str().expect("name").to_owned())
                        .collect();
                    (u["rule_id"].as_i64().expect("rule id"), attrs)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn check_allows_through_a_rule_that_does_not_read_a_missing_attribute_and_names_what_to_send()
{
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    // reports: owners read theirs; editors read every report (no owner needed); nobody
    // reads above their clearance
    let owner = rule_id(
        &app.add_rule(
            &admin,
            json!({"subject": "role:user", "object": "report", "action": "read",
            "condition": "r.obj.owner == r.sub.name", "effect": "allow"}),
        )
        .await,
    );
    app.add_rule(
        &admin,
        json!({"subject": "role:editor", "object": "report", "action": "read",
        "condition": "r.sub.department == \"eng\"", "effect": "allow"}),
    )
    .await;
    let clearance = rule_id(
        &app.add_rule(
            &admin,
            json!({"subject": "*", "object": "report", "action": "read",
            "condition": "r.obj.classification > r.sub.clearance", "effect": "deny"}),
        )
        .await,
    );
    let objects = [
        ("no-owner", json!({"classification": 1})),
        ("alices", json!({"owner": "alice", "classification": 1})),
        ("unlabelled", json!({"owner": "alice"})),
        ("owner-mistyped", json!({"owner": 5, "classification": 1})),
        (
            "class-mistyped",
            json!({"owner": "alice", "classification": "1"}),
        ),
        ("secret", json!({"owner": "alice", "classification": 3})),
    ];
    let (owner_missing, owner_mistyped) = (
        (owner, vec!["r.obj.owner".to_owned()]),
        (
            owner,
            vec!["r.obj.owner".to_owned(), "r.sub.name".to_owned()],
        ),
    );
    let class = (clearance, vec!["r.obj.classification".to_owned()]);
    // a text classification against an int clearance: both named, either may be wrong
    let class_mistyped = (
        clearance,
        vec![
            "r.obj.classification".to_owned(),
            "r.sub.clearance".to_owned(),
        ],
    );
    // bob: editor in eng, clearance 3; alice: viewer in eng, clearance 2; carol: viewer in
    // sales, clearance 1. (subject, object) -> (allowed, unevaluated, error?)
    type Cell = (
        &'static str,
        &'static str,
        bool,
        Vec<(i64, Vec<String>)>,
        bool,
    );
    let cells: Vec<Cell> = vec![
        // the trap: no owner sent, and the editors' rule (which does not read it) allows
        ("bob", "no-owner", true, vec![owner_missing.clone()], false),
        ("bob", "alices", true, vec![], false),
        // a deny rule that cannot be evaluated denies, over the allow that matched
        ("bob", "unlabelled", false, vec![class.clone()], true),
        (
            "bob",
            "owner-mistyped",
            true,
            vec![owner_mistyped.clone()],
            false,
        ),
        (
            "bob",
            "class-mistyped",
            false,
            vec![class_mistyped.clone()],
            true,
        ),
        ("bob", "secret", true, vec![], false),
        // alice has only the owner rule: without an owner nothing can allow
        (
            "alice",
            "no-owner",
            false,
            vec![owner_missing.clone()],
            true,
        ),
        ("alice", "alices", true, vec![], false),
        ("alice", "unlabelled", false, vec![class.clone()], true),
        ("alice", "owner-mistyped", false, vec![owner_mistyped], true),
        ("alice", "class-mistyped", false, vec![class_mistyped], true),
        // a deny that matched: a plain deny, nothing to send
        ("alice", "secret", false, vec![], false),
        ("carol", "no-owner", false, vec![owner_missing], true),
        ("carol", "alices", false, vec![], false),
        ("carol", "secret", false, vec![], false),
    ];
    let checks: Vec<Value> = cells
        .iter()
        .map(|(s, o, ..)| {
            let attrs = &objects
                .iter()
                .find(|(name, _)| name == o)
                .expect("object")
                .1;
            json!({"subject": {"name": s}, "object": {"type": "report", "attributes": attrs},
                   "action": "read"})
        })
        .collect();
    let r = app
        .call(
            Method::POST,
            "/v1/check",
            Some(&admin),
            Some(json!({"checks": checks})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let results = r.body["results"].as_array().expect("results");
    for ((s, o, allowed, names, error), got) in cells.iter().zip(results) {
        assert_eq!(
            (
                got["allowed"] == true,
                unevaluated(got),
                got["error"].is_string()
            ),
            (*allowed, names.clone(), *error),
            "subject={s} object={o} action=read expected allowed={allowed}: {got}"
        );
        // without explain: what to send, never the condition text or the matched rules
        assert!(got.get("conditions").is_none() && got.get("matched_rules").is_none());
        assert!(
            !got.to_string().contains("r.obj.owner == r.sub.name"),
            "{got}"
        );
    }
    let first = &results[0]["unevaluated"][0];
    assert_eq!(first["effect"], "allow");
    assert_eq!(first["reason"], "missing_attribute");
    assert_eq!(first["message"], "missing attribute `r.obj.owner`");
    let mistyped = &results[4]["unevaluated"][0];
    assert_eq!(mistyped["reason"], "type_mismatch");
    assert_eq!(
        results[2]["error"],
        format!(
            "rule {clearance} (deny) could not be evaluated: missing attribute `r.obj.classification`"
        )
    );
}

#[tokio::test]
async fn a_caller_asking_about_itself_sees_the_unevaluated_rules_with_and_without_explain() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    let owner = rule_id(
        &app.add_rule(
            &admin,
            json!({"subject": "role:user", "object": "report", "action": "read",
            "condition": "r.obj.owner == r.sub.name", "effect": "allow"}),
        )
        .await,
    );
    let alice = app.demo_token("alice").await;
    let q = |explain: bool| json!({"explain": explain, "checks": [{"object": {"type": "report"}, "action": "read"}]});
    let r = app
        .call(Method::POST, "/v1/check", Some(&alice), Some(q(false)))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let result = &r.body["results"][0];
    assert_eq!(result["allowed"], false);
    assert_eq!(
        unevaluated(result),
        vec![(owner, vec!["r.obj.owner".to_owned()])]
    );
    // with explain (an admin asks about alice): the same, plus the condition's result
    let r = app
        .call(
            Method::POST,
            "/v1/check",
            Some(&admin),
            Some(
                json!({"explain": true, "checks": [{"subject": {"name": "alice"},
                "object": {"type": "report"}, "action": "read"}]}),
            ),
        )
        .await;
    let result = &r.body["results"][0];
    assert_eq!(
        unevaluated(result),
        vec![(owner, vec!["r.obj.owner".to_owned()])]
    );
    let condition = result["conditions"]
        .as_array()
        .expect("conditions")
        .iter()
        .find(|c| c["rule_id"] == owner)
        .expect("the owner rule's condition");
    assert_eq!(
        condition["result"],
        "error: missing attribute `r.obj.owner`"
    );
    // sending the owner makes it evaluable: no longer named, and it allows
    let r = app
        .call(
            Method::POST,
            "/v1/check",
            Some(&alice),
            Some(
                json!({"checks": [{"object": {"type": "report", "attributes": {"owner": "alice"}},
                "action": "read"}]}),
            ),
        )
        .await;
    let result = &r.body["results"][0];
    assert_eq!(result["allowed"], true, "{result}");
    assert!(result.get("unevaluated").is_none() && result.get("error").is_none());
}

#[tokio::test]
async fn the_route_guard_and_the_decision_log_apply_the_same_rule_and_name_the_attribute() {
    let dir = tempfile::tempdir().expect("dir");
    let (app, path) = demo_app_with_decision_log(&dir).await;
    let admin = app.admin_token().await;
    let alice = app.demo_token("alice").await;
    // an extra allow on the route that reads a subject attribute alice does not have: it
    // grants nothing, and the seed's route rule still lets her in
    let team = rule_id(
        &app.add_rule(
            &admin,
            json!({"subject": "role:user", "object": "/api/documents/:id",
            "action": "GET", "condition": "r.sub.team == \"blue\"", "effect": "allow"}),
        )
        .await,
    );
    assert_eq!(
        app.get("/api/documents/1", &alice).await.status,
        StatusCode::OK
    );
    // a deny on the route that reads an attribute alice does not have denies her (fail
    // closed) until it can be evaluated, and then only if it holds
    let suspended = rule_id(
        &app.add_rule(
            &admin,
            json!({"subject": "*", "object": "/api/documents/:id",
            "action": "GET", "condition": "r.sub.suspended", "effect": "deny"}),
        )
        .await,
    );
    let denied = app.get("/api/documents/1", &alice).await;
    assert_error(&denied, StatusCode::FORBIDDEN, "forbidden");
    assert!(
        !denied.body.to_string().contains("suspended"),
        "a protected route never names policy details: {denied:?}"
    );
    for (value, want) in [
        (json!(false), StatusCode::OK),
        (json!(true), StatusCode::FORBIDDEN),
        (json!("no"), StatusCode::FORBIDDEN),
    ] {
        let r = app
            .call(
                Method::PATCH,
                "/v1/admin/users/alice",
                Some(&admin),
                Some(json!({"attributes": {"suspended": value}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(
            app.get("/api/documents/1", &alice).await.status,
            want,
            "suspended = {value}"
        );
    }
    app.state.decisions.settle(Duration::from_secs(5)).await;
    let routes: Vec<Value> = std::fs::read_to_string(&path)
        .expect("decision log")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("one JSON object per line"))
        .filter(|l| {
            l["point"] == "route" && l["subject"] == "alice" && l["resource"] == "/api/documents/1"
        })
        .collect();
    let team_missing = (team, vec!["r.sub.team".to_owned()]);
    // (allowed, error, unevaluated) of each of alice's route decisions, in order
    let got: Vec<(bool, bool, Named)> = routes
        .iter()
        .map(|l| (l["allowed"] == true, l["error"] == true, unevaluated(l)))
        .collect();
    assert_eq!(
        got,
        vec![
            (true, false, vec![team_missing.clone()]),
            (
                false,
                true,
                vec![
                    team_missing.clone(),
                    (suspended, vec!["r.sub.suspended".to_owned()])
                ]
            ),
            (true, false, vec![team_missing.clone()]),
            (false, false, vec![team_missing.clone()]),
            (
                false,
                true,
                vec![
                    team_missing,
                    (suspended, vec!["r.sub.suspended".to_owned()])
                ]
            ),
        ],
        "{routes:#?}"
    );
    let mistyped = &routes[4]["unevaluated"][1];
    assert_eq!(mistyped["reason"], "not_boolean");
    assert_eq!(
        mistyped["message"],
        "expected a boolean value in `r.sub.suspended`, found string"
    );
    let text = std::fs::read_to_string(&path).expect("log");
    assert!(!text.contains("\"no\""), "an attribute value was logged");
}

#[tokio::test]
async fn a_handlers_object_check_allows_past_a_rule_that_reads_an_attribute_documents_lack() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    let alice = app.demo_token("alice").await;
    // documents have no `project`: this rule can never be evaluated on one, and so grants
    // nothing, without taking away what the seed's viewer rule gives
    app.add_rule(
        &admin,
        json!({"subject": "role:user", "object": "document", "action": "read",
               "condition": "r.obj.project == \"apollo\"", "effect": "allow"}),
    )
    .await;
    assert_eq!(
        app.get("/api/documents/1", &alice).await.status,
        StatusCode::OK
    );
    // the same kind of rule as a deny denies every document (fail closed)
    app.add_rule(
        &admin,
        json!({"subject": "user:alice", "object": "document", "action": "read",
               "condition": "r.obj.project == \"apollo\"", "effect": "deny"}),
    )
    .await;
    assert_error(
        &app.get("/api/documents/1", &alice).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

#[tokio::test]
async fn the_openapi_document_describes_unevaluated_rules_as_optional_new_fields() {
    let app = TestApp::new().await;
    let r = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let schemas = &r.body["components"]["schemas"];
    let unevaluated_ref = json!({"$ref": "#/components/schemas/Unevaluated"});
    for (schema, existing) in [
        (
            "CheckResult",
            ["allowed", "error", "matched_rules", "conditions"],
        ),
        (
            "Record",
            ["allowed", "error", "matched_rules", "policy_version"],
        ),
    ] {
        let s = &schemas[schema];
        let field = &s["properties"]["unevaluated"];
        assert_eq!(field["items"], unevaluated_ref, "{schema}: {s}");
        let required = s["required"].as_array().expect("required");
        assert!(
            !required.contains(&json!("unevaluated")),
            "{schema}: a new field is optional, so older clients still validate"
        );
        for name in existing {
            assert!(s["properties"].get(name).is_some(), "{schema}: {name} kept");
        }
    }
    let u = &schemas["Unevaluated"];
    assert_eq!(
        u["required"],
        json!(["rule_id", "effect", "reason", "attributes", "message"])
    );
    assert_eq!(
        schemas["EvalErrorKind"]["enum"],
        json!(["missing_attribute", "type_mismatch", "not_boolean"])
    );
}
