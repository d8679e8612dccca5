//! Policy analysis through the server: `POST /v1/plan`, and `GET /api/documents` filtered in
//! the database by the plan (both backends: the suite runs on Postgres with
//! `WARDEN_TEST_BACKEND=postgres`).

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use serde_json::json;
use warden::policy::analysis::{self, PlanKind};
use warden::policy::decide::Policy;
use warden::policy::rule::{Assignment, Rule};
use warden::policy::{AttrValue, Object, Subject};
use warden::store::documents::{self, DocumentFields};

use crate::helpers::*;

/// A small deterministic generator (xorshift64*), so a failure reproduces from its seed.
struct Gen(u64);

impl Gen {
    fn new(seed: u64) -> Gen {
        Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Strings whose byte order differs from most collations' order (case, accents, digits).
const STRINGS: &[&str] = &[
    "eng", "Eng", "éng", "sales", "alice", "bob", "z", "10", "9", "",
];

fn literal(g: &mut Gen) -> String {
    if g.below(3) == 0 {
        g.below(5).to_string()
    } else {
        format!("\"{}\"", g.pick(STRINGS))
    }
}

fn atom(g: &mut Gen) -> String {
    let obj = ["r.obj.department", "r.obj.owner", "r.obj.classification"];
    let sub = [
        "r.sub.department",
        "r.sub.clearance",
        "r.sub.name",
        "r.sub.missing",
    ];
    let op = g.pick(&["==", "!=", "<", "<=", ">", ">="]);
    let right = match g.below(3) {
        0 => g.pick(&sub).to_owned(),
        1 => g.pick(&obj).to_owned(),
        _ => literal(g),
    };
    match g.below(4) {
        0 => format!("r.obj.department in [\"eng\", \"{}\"]", g.pick(STRINGS)),
        _ => format!("{} {op} {right}", g.pick(&obj)),
    }
}

fn condition(g: &mut Gen) -> String {
    match g.below(6) {
        0 => String::new(),
        1 => format!("{} && {}", atom(g), atom(g)),
        2 => format!("{} || !({})", atom(g), atom(g)),
        _ => atom(g),
    }
}

fn random_policy(g: &mut Gen) -> Policy {
    let rules = (0..1 + g.below(4))
        .map(|i| {
            Rule::parse(
                i as i64 + 1,
                g.pick(&["role:r", "user:alice", "*"]),
                "document",
                "read",
                "*",
                &condition(g),
                g.pick(&["allow", "allow", "deny"]),
            )
            .expect("rule")
        })
        .collect();
    let assignments = [Assignment::parse(0, "user:alice", "role:r").expect("assignment")];
    Policy::from_rows(warden::policy::model::MODEL, rules, &assignments).expect("policy")
}

fn object(d: &documents::DocumentRow) -> Object {
    warden::http::documents::object(&d.department, &d.owner, d.classification)
}

#[tokio::test]
async fn plan_rows_equal_the_rows_the_decision_function_allows_on_random_policies() {
    let app = TestApp::new().await;
    let mut g = Gen::new(2025);
    for _ in 0..60 {
        let department = g.pick(STRINGS);
        let owner = g.pick(STRINGS);
        let fields = DocumentFields {
            title: "t",
            body: "",
            department,
            owner,
            classification: g.below(5) as i32,
        };
        // Two tenants' documents: a plan's rows are those of the subject's tenant only.
        documents::insert(&app.state.db, &fields, g.pick(&["default", "acme"]), 0)
            .await
            .expect("insert");
    }
    let all = documents::list_after(&app.state.db, 0, 1000)
        .await
        .expect("all");
    let mut conditional = 0;
    for case in 0..250 {
        let policy = random_policy(&mut g);
        let mut attributes = BTreeMap::new();
        if g.below(4) > 0 {
            attributes.insert("department".into(), AttrValue::Str(g.pick(STRINGS).into()));
        }
        if g.below(4) > 0 {
            attributes.insert("clearance".into(), AttrValue::Int(g.below(5) as i32));
        }
        let alice = Subject {
            principal: "user:alice".into(),
            name: g.pick(&["alice", "bob", "Eng"]).into(),
            scopes: vec![],
            attributes,
            tenant: g.pick(&["default", "acme"]).into(),
            roles: Vec::new(),
        };
        let plan = analysis::plan(
            &policy,
            &alice,
            "read",
            "document",
            Some(&documents::schema()),
        );
        conditional += usize::from(plan.kind == PlanKind::Conditional);
        let rows = documents::list_matching(&app.state.db, &alice.tenant, &plan.condition, 0, 1000)
            .await
            .expect("query")
            .expect("every plan here has an SQL translation");
        let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
        let allowed: Vec<i64> = all
            .iter()
            .filter(|d| {
                d.tenant == alice.tenant && policy.decide(&alice, &object(d), "read").allowed
            })
            .map(|d| d.id)
            .collect();
        let rules: Vec<String> = policy
            .rules()
            .iter()
            .map(|r| format!("{} [{}] {}", r.subject, r.condition, r.effect.as_str()))
            .collect();
        assert_eq!(
            ids, allowed,
            "case {case}: plan `{}` for {alice:?}, rules {rules:?}",
            plan.text
        );
    }
    assert!(conditional > 50, "only {conditional} conditional plans");
}

#[tokio::test]
async fn the_document_list_is_filtered_in_the_database_so_a_page_is_never_cut_short() {
    // 2,500 documents alice may not read before the ones she may: deciding row by row gave
    // up after 2,000 with an empty page and a `next` link; the plan's WHERE finds them.
    let app = TestApp::with_config(|c| c.demo = true).await;
    let alice = app.demo_token("alice").await;
    for i in 0..2_500 {
        let fields = DocumentFields {
            title: "sales",
            body: "",
            department: if i % 2 == 0 { "sales" } else { "eng" },
            owner: "carol",
            classification: if i % 2 == 0 { 0 } else { 3 },
        };
        documents::insert(&app.state.db, &fields, "default", 0)
            .await
            .expect("insert");
    }
    let after = documents::list_after(&app.state.db, 0, 10_000)
        .await
        .expect("all")
        .last()
        .expect("some")
        .id;
    let first = app
        .get(&format!("/api/documents?after={}", 5), &alice)
        .await;
    assert_eq!(first.status, StatusCode::OK, "{first:?}");
    assert_eq!(
        first.body,
        json!([]),
        "nothing readable after the demo documents"
    );
    assert!(first.headers.get("link").is_none(), "{first:?}");
    for title in ["mine", "eng"] {
        let alice_owns = title == "mine";
        let fields = DocumentFields {
            title,
            body: "",
            department: if alice_owns { "sales" } else { "eng" },
            owner: if alice_owns { "alice" } else { "bob" },
            classification: 1,
        };
        documents::insert(&app.state.db, &fields, "default", 0)
            .await
            .expect("insert");
    }
    let page = app.get("/api/documents?after=5&limit=1", &alice).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    assert_eq!(page.body.as_array().expect("list").len(), 1, "{page:?}");
    assert_eq!(page.body[0]["title"], "mine");
    assert_eq!(page.body[0]["id"], after + 1);
    let link = page
        .headers
        .get("link")
        .expect("next")
        .to_str()
        .expect("ascii");
    assert_eq!(
        link,
        format!("</api/documents?limit=1&after={}>; rel=\"next\"", after + 1)
    );
    let last = app
        .get(
            &format!("/api/documents?after={}&limit=1", after + 1),
            &alice,
        )
        .await;
    assert_eq!(last.body.as_array().expect("list").len(), 1, "{last:?}");
    assert_eq!(last.body[0]["title"], "eng");
    assert!(
        last.headers.get("link").is_none(),
        "a full last page: {last:?}"
    );
}

#[tokio::test]
async fn the_document_list_equals_a_decision_on_every_document_for_every_demo_user() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    for user in ["alice", "bob", "carol", "dave", "erin"] {
        let token = app.demo_token(user).await;
        let listed: Vec<i64> = app
            .get("/api/documents", &token)
            .await
            .body
            .as_array()
            .expect("list")
            .iter()
            .map(|d| d["id"].as_i64().expect("id"))
            .collect();
        let mut readable = Vec::new();
        for id in 1..=5 {
            if app
                .get(&format!("/api/documents/{id}"), &token)
                .await
                .status
                == StatusCode::OK
            {
                readable.push(id);
            }
        }
        assert_eq!(listed, readable, "{user}");
    }
}

async fn plan(app: &TestApp, token: &str, body: serde_json::Value) -> TestResponse {
    app.call(Method::POST, "/v1/plan", Some(token), Some(body))
        .await
}

#[tokio::test]
async fn a_user_gets_their_own_plan_as_a_typed_condition_and_readable_text() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let alice = app.demo_token("alice").await;
    let r = plan(
        &app,
        &alice,
        json!({"action": "read", "object_type": "document"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["kind"], "conditional");
    assert_eq!(
        r.body["text"],
        "(department == \"eng\" && classification <= 2 || owner == \"alice\") && classification < 3"
    );
    assert_eq!(r.body["condition"]["op"], "and");
    assert_eq!(
        r.body["condition"]["items"][1],
        json!({"op": "compare", "attribute": "classification", "cmp": "<", "value": 3})
    );
    let never = plan(
        &app,
        &alice,
        json!({"action": "delete", "object_type": "document"}),
    )
    .await;
    assert_eq!(
        (never.body["kind"].as_str(), never.body["text"].as_str()),
        (Some("never"), Some("false"))
    );
    // A closed schema of the caller's own: objects without these attributes satisfy no
    // comparison on them.
    let open = plan(
        &app,
        &alice,
        json!({"action": "read", "object_type": "document", "attributes": {}}),
    )
    .await;
    assert_eq!(open.body["kind"], "never", "{open:?}");
}

#[tokio::test]
async fn another_subjects_plan_needs_check_any_like_v1_check() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let alice = app.demo_token("alice").await;
    let about_bob = json!({"action": "read", "object_type": "document", "subject": "user:bob"});
    assert_error(
        &plan(&app, &alice, about_bob.clone()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    let admin = app.admin_token().await;
    let r = plan(&app, &admin, about_bob).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        r.body["text"],
        "department == \"eng\" && classification <= 3 || owner == \"bob\""
    );
    assert_error(
        &plan(
            &app,
            &admin,
            json!({"action": "read", "object_type": "document", "subject": "user:nobody"}),
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    for bad in [
        json!({"action": "read", "object_type": "document", "subject": "bob"}),
        json!({"action": "read", "object_type": "/api/documents"}),
        json!({"action": "", "object_type": "document"}),
        json!({"action": "read", "object_type": "document", "efect": "allow"}),
        json!({"action": "read", "object_type": "document", "attributes": {"a": "float"}}),
    ] {
        assert_error(
            &plan(&app, &admin, bad.clone()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    let anonymous = app
        .call(
            Method::POST,
            "/v1/plan",
            None,
            Some(json!({"action": "read", "object_type": "document"})),
        )
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

/// Usernames `/v1/check` (asked by an admin about each account) allows: the brute force.
async fn allowed_by_check(
    app: &TestApp,
    admin: &str,
    users: &[&str],
    object: serde_json::Value,
    action: &str,
) -> Vec<String> {
    let mut out = Vec::new();
    for user in users {
        let r = app
            .call(
                Method::POST,
                "/v1/check",
                Some(admin),
                Some(json!({"checks": [{"subject": {"name": user}, "object": object, "action": action}]})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        if r.body["results"][0]["allowed"] == json!(true) {
            out.push(user.to_string());
        }
    }
    out.sort();
    out
}

const ACCOUNTS: [&str; 6] = ["admin", "alice", "bob", "carol", "dave", "erin"];

#[tokio::test]
async fn who_can_equals_a_check_of_every_account_and_names_rules_and_role_chains() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    for (id, department, owner, classification) in [
        (1, "eng", "bob", 1),
        (2, "sales", "carol", 1),
        (3, "eng", "bob", 3),
        (4, "eng", "erin", 0),
    ] {
        for action in ["read", "update", "delete"] {
            let r = app
                .get(
                    &format!("/v1/admin/analysis/who-can?object_type=document&object_id={id}&action={action}"),
                    &admin,
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            assert_eq!(r.body["complete"], true);
            let names: Vec<String> = r.body["subjects"]
                .as_array()
                .expect("subjects")
                .iter()
                .map(|s| s["username"].as_str().expect("name").to_owned())
                .collect();
            let object = json!({"type": "document", "attributes":
                {"department": department, "owner": owner, "classification": classification}});
            assert_eq!(
                names,
                allowed_by_check(&app, &admin, &ACCOUNTS, object, action).await,
                "document {id} {action}"
            );
        }
    }
    let r = app
        .get(
            "/v1/admin/analysis/who-can?object_type=document&object_id=1&action=read",
            &admin,
        )
        .await;
    let bob = r.body["subjects"]
        .as_array()
        .expect("subjects")
        .iter()
        .find(|s| s["username"] == "bob")
        .expect("bob reads document 1")
        .clone();
    assert_eq!(
        bob["rules"][0]["chain"],
        json!(["role:editor", "role:viewer"]),
        "{bob}"
    );
    assert_eq!(bob["rules"][0]["subject"], "role:viewer");
    assert!(
        bob["roles"]
            .as_array()
            .expect("roles")
            .contains(&json!("role:editor"))
    );
}

#[tokio::test]
async fn who_can_without_an_object_says_on_which_objects_and_that_it_is_incomplete() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    let r = app
        .get(
            "/v1/admin/analysis/who-can?object_type=document&action=read",
            &admin,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["complete"], false);
    let alice = r.body["subjects"]
        .as_array()
        .expect("subjects")
        .iter()
        .find(|s| s["username"] == "alice")
        .expect("alice")
        .clone();
    assert_eq!(
        alice["condition"],
        "(department == \"eng\" && classification <= 2 || owner == \"alice\") && classification < 3"
    );
    let admin_entry = r.body["subjects"]
        .as_array()
        .expect("subjects")
        .iter()
        .find(|s| s["username"] == "admin")
        .expect("admin")
        .clone();
    assert!(admin_entry.get("condition").is_none(), "{admin_entry}");
    let route = app
        .get(
            "/v1/admin/analysis/who-can?object_type=/v1/admin/users&action=GET",
            &admin,
        )
        .await;
    assert_eq!(route.body["complete"], true, "{route:?}");
    assert_eq!(
        route.body["subjects"].as_array().expect("subjects").len(),
        1,
        "{route:?}"
    );
    assert_eq!(route.body["subjects"][0]["username"], "admin");
}

#[tokio::test]
async fn what_can_lists_actions_and_conditions_that_decide_like_the_engine() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    let r = app
        .get("/v1/admin/analysis/what-can?subject=user:alice", &admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["complete"], false);
    let caps = r.body["capabilities"].as_array().expect("capabilities");
    let find = |object: &str, action: &str| {
        caps.iter()
            .find(|c| c["object"] == object && c["action"] == action)
            .cloned()
    };
    assert_eq!(
        find("document", "read").expect("read")["plan"]["text"],
        "(department == \"eng\" && classification <= 2 || owner == \"alice\") && classification < 3"
    );
    assert_eq!(find("/v1/me", "GET").expect("me")["plan"]["kind"], "always");
    assert!(
        find("document", "delete").is_none(),
        "alice deletes nothing"
    );
    assert!(find("/v1/admin/*", "GET").is_none());
    // The conditions decide like the engine on every demo document.
    let alice = app.demo_token("alice").await;
    for (id, department, owner, classification) in [
        (1, "eng", "bob", 1),
        (2, "sales", "carol", 1),
        (3, "eng", "bob", 3),
        (4, "eng", "erin", 0),
        (5, "eng", "bob", 2),
    ] {
        let cond: warden::policy::analysis::Cond = serde_json::from_value(
            find("document", "read").expect("read")["plan"]["condition"].clone(),
        )
        .expect("cond");
        let attrs = BTreeMap::from([
            ("department".to_owned(), AttrValue::Str(department.into())),
            ("owner".to_owned(), AttrValue::Str(owner.into())),
            ("classification".to_owned(), AttrValue::Int(classification)),
        ]);
        let read = app
            .get(&format!("/api/documents/{id}"), &alice)
            .await
            .status
            == StatusCode::OK;
        assert_eq!(cond.eval(&attrs), read, "document {id}");
    }
}

#[tokio::test]
async fn analysis_is_admin_only_and_refuses_bad_queries() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let alice = app.demo_token("alice").await;
    for path in [
        "/v1/admin/analysis/who-can?object_type=document&object_id=1&action=read",
        "/v1/admin/analysis/what-can?subject=user:alice",
    ] {
        assert_error(
            &app.get(path, &alice).await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    let admin = app.admin_token().await;
    assert_error(
        &app.get(
            "/v1/admin/analysis/who-can?object_type=document&object_id=999&action=read",
            &admin,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.get("/v1/admin/analysis/what-can?subject=user:nobody", &admin)
            .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    for bad in [
        "/v1/admin/analysis/who-can?object_type=folder&object_id=1&action=read",
        "/v1/admin/analysis/who-can?object_type=document&action=",
        "/v1/admin/analysis/who-can?object_type=document&action=read&x=1",
        "/v1/admin/analysis/what-can?subject=alice",
    ] {
        let r = app.get(bad, &admin).await;
        assert!(r.status.is_client_error(), "{bad}: {r:?}");
        assert!(r.body["error"].is_string(), "{bad}: {r:?}");
    }
}

#[tokio::test]
async fn an_access_review_lists_every_account_and_diffs_two_versions_in_json_and_csv() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    let before = app.policy_version(&admin).await;
    let r = app.get("/v1/admin/analysis/review", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["policy_version"], before);
    let rows = r.body["rows"].as_array().expect("rows");
    let erin_read = rows
        .iter()
        .find(|x| x["username"] == "erin" && x["object"] == "document" && x["action"] == "read")
        .expect("erin reads what she owns");
    assert_eq!(
        erin_read["condition"],
        "owner == \"erin\" && classification < 3"
    );
    let csv = app
        .get("/v1/admin/analysis/review?format=csv", &admin)
        .await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers["content-type"], "text/csv; charset=utf-8");
    let text = csv.body.as_str().expect("text");
    assert!(
        text.starts_with("username,object,action,kind,condition\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "\nerin,document,read,conditional,\"owner == \"\"erin\"\" && classification < 3\"\n"
        ),
        "{text}"
    );
    // Rule 13 (everyone reads what they own) goes: erin loses her only document permission.
    let deleted = app
        .call(Method::DELETE, "/v1/admin/rules/13", Some(&admin), None)
        .await;
    assert!(deleted.status.is_success(), "{deleted:?}");
    let after = app.policy_version(&admin).await;
    let d = app
        .get(
            &format!("/v1/admin/analysis/review?from={before}&to={after}"),
            &admin,
        )
        .await;
    assert_eq!(d.status, StatusCode::OK, "{d:?}");
    assert_eq!(
        (d.body["from"].as_i64(), d.body["to"].as_i64()),
        (Some(before), Some(after))
    );
    let lost: Vec<String> = d.body["lost"]
        .as_array()
        .expect("lost")
        .iter()
        .filter(|x| x["object"] == "document")
        .map(|x| {
            format!(
                "{} {}",
                x["username"].as_str().unwrap_or(""),
                x["action"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(lost.contains(&"erin read".to_owned()), "{lost:?}");
    assert!(
        lost.contains(&"alice read".to_owned()),
        "her condition changed: {lost:?}"
    );
    let gained_alice = d.body["gained"]
        .as_array()
        .expect("gained")
        .iter()
        .find(|x| x["username"] == "alice" && x["action"] == "read")
        .expect("alice's new condition")
        .clone();
    assert_eq!(
        gained_alice["condition"],
        "department == \"eng\" && classification <= 2 && classification < 3"
    );
    let csv = app
        .get(
            &format!("/v1/admin/analysis/review?from={before}&format=csv"),
            &admin,
        )
        .await;
    let text = csv.body.as_str().expect("text");
    assert!(
        text.starts_with("change,username,object,action,kind,condition\n"),
        "{text}"
    );
    assert!(text.contains("\nlost,erin,document,read,"), "{text}");
    assert_error(
        &app.get("/v1/admin/analysis/review?from=999", &admin).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.get("/v1/admin/analysis/review?format=xml", &admin)
            .await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
    let alice = app.demo_token("alice").await;
    assert_error(
        &app.get("/v1/admin/analysis/review", &alice).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
}

fn analyze(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .env_clear()
        .arg("analyze")
        .args(args)
        .output()
        .expect("run warden");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_cli_answers_who_can_what_can_and_review_on_a_live_database_like_the_api() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    let db = app.url.as_str();
    let (code, out, err) = analyze(&[
        "who-can",
        "--database-url",
        db,
        "--object-type",
        "document",
        "--object-id",
        "1",
        "--action",
        "read",
    ]);
    assert_eq!(code, 0, "{err}");
    let cli: serde_json::Value = serde_json::from_str(&out).expect("json");
    let api = app
        .get(
            "/v1/admin/analysis/who-can?object_type=document&object_id=1&action=read",
            &admin,
        )
        .await;
    assert_eq!(cli["subjects"], api.body["subjects"]);
    assert_eq!(cli["complete"], true);
    let (code, out, err) = analyze(&["what-can", "--database-url", db, "--subject", "user:alice"]);
    assert_eq!(code, 0, "{err}");
    let cli: serde_json::Value = serde_json::from_str(&out).expect("json");
    let api = app
        .get("/v1/admin/analysis/what-can?subject=user:alice", &admin)
        .await;
    assert_eq!(cli["capabilities"], api.body["capabilities"]);
    let v1 = app.policy_version(&admin).await;
    let deleted = app
        .call(Method::DELETE, "/v1/admin/rules/13", Some(&admin), None)
        .await;
    assert!(deleted.status.is_success(), "{deleted:?}");
    let v2 = app.policy_version(&admin).await;
    let (code, out, err) = analyze(&[
        "review",
        "--database-url",
        db,
        "--diff",
        &v1.to_string(),
        &v2.to_string(),
        "--format",
        "csv",
    ]);
    assert_eq!(code, 0, "{err}");
    let api = app
        .get(
            &format!("/v1/admin/analysis/review?from={v1}&to={v2}&format=csv"),
            &admin,
        )
        .await;
    assert_eq!(Some(out.as_str()), api.body.as_str());
    assert!(out.contains("\nlost,erin,document,read,"), "{out}");
    let (code, _, err) = analyze(&["review", "--database-url", db, "--diff", "1", "999"]);
    assert_eq!(code, 2);
    assert!(err.contains("no policy version 999"), "{err}");
}

#[test]
fn the_cli_analyses_a_policy_file_with_the_members_it_names() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("policy.csv");
    std::fs::write(
        &file,
        "p, role:reader, document, read, *, r.obj.open == true, allow\n\
         p, user:zed, document, read, *, , allow\n\
         g, user:amy, role:reader\n",
    )
    .expect("write");
    let path = file.to_str().expect("utf-8");
    let (code, out, err) = analyze(&[
        "who-can",
        "--policy",
        path,
        "--object-type",
        "document",
        "--action",
        "read",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["complete"], false);
    assert_eq!(v["subjects"][0]["username"], "amy");
    assert_eq!(v["subjects"][0]["condition"], "open == true");
    assert_eq!(v["subjects"][1]["username"], "zed");
    let (code, out, _) = analyze(&[
        "who-can",
        "--policy",
        path,
        "--object-type",
        "document",
        "--attr",
        "open=false",
        "--action",
        "read",
    ]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["subjects"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["subjects"][0]["rules"][0]["id"], 2);
    let (code, out, _) = analyze(&["review", "--policy", path, "--format", "csv"]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "username,object,action,kind,condition\n\
         amy,document,read,conditional,open == true\n\
         zed,document,read,always,true\n"
    );
    let (code, _, err) = analyze(&["review", "--policy", path, "--diff", "1", "2"]);
    assert_eq!(code, 2);
    assert!(err.contains("needs a database"), "{err}");
}

#[tokio::test]
async fn a_dry_run_shows_who_would_gain_and_lose_what_among_the_real_accounts() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    let v0 = app.policy_version(&admin).await;
    let r = app
        .call(
            Method::POST,
            "/v1/admin/policy/dry-run",
            Some(&admin),
            Some(json!({"change": {"delete": [13], "assign": [{"member": "user:erin", "role": "role:auditor"}]}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let rows = |side: &str| -> Vec<String> {
        r.body["access"][side]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|x| x["username"] == "erin" && x["object"] == "document")
            .map(|x| {
                format!(
                    "{}: {}",
                    x["action"].as_str().unwrap_or(""),
                    x["condition"].as_str().unwrap_or("")
                )
            })
            .collect()
    };
    // Rule 13 goes (owners read their own), and as an auditor she may never update.
    assert_eq!(
        rows("lost"),
        [
            "read: owner == \"erin\" && classification < 3",
            "update: owner == \"erin\""
        ],
        "{r:?}"
    );
    assert_eq!(rows("gained"), ["read: classification < 3"], "{r:?}");
    assert_eq!(app.policy_version(&admin).await, v0, "nothing applied");
}
