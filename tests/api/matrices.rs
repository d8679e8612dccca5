//! Every matrix under policies/matrices runs twice: against the engine directly and through
//! HTTP (real router, real users, real tokens, real documents). The two must agree cell for
//! cell, and both must match the expectations.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use serde_json::json;
use warden::matrix::{Cell, Matrix, report_failures};
use warden::policy::AttrValue;
use warden::policy::seed::{SEED_POLICY, parse_policy};
use warden::store::{self, documents::DocumentFields};

use crate::helpers::*;

pub(crate) fn seed_matrix() -> Matrix {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/matrices/seed.yaml"
    ))
    .expect("read");
    Matrix::from_yaml(&text).expect("seed.yaml is valid")
}

pub(crate) async fn engine_cells(m: &Matrix) -> Vec<Cell> {
    let policy = parse_policy(SEED_POLICY).expect("seed policy");
    let under_test = m.policy_under_test(&policy).expect("policy");
    m.run(&under_test).expect("run")
}

fn attr_str(attrs: &BTreeMap<String, AttrValue>, k: &str) -> String {
    match attrs.get(k) {
        Some(AttrValue::Str(s)) => s.clone(),
        other => panic!("object attribute {k} must be a string, got {other:?}"),
    }
}

fn attr_int(attrs: &BTreeMap<String, AttrValue>, k: &str) -> i32 {
    match attrs.get(k) {
        Some(AttrValue::Int(i)) => *i,
        other => panic!("object attribute {k} must be an integer, got {other:?}"),
    }
}

async fn http_cells(m: &Matrix) -> Vec<Cell> {
    let app = TestApp::new().await;
    let tokens = app.matrix_subject_tokens(m).await;
    http_cells_as(&app, m, &tokens, &|name: &str| name.to_owned()).await
}

/// The matrix through HTTP with each subject's `tokens`; `policy_name` is the name the policy
/// knows a subject by (`r.sub.name`: the user name, or `<alias>:<sub>` for a federated caller),
/// which object owners that are matrix subjects are stored as.
pub(crate) async fn http_cells_as(
    app: &TestApp,
    m: &Matrix,
    tokens: &BTreeMap<String, String>,
    policy_name: &dyn Fn(&str) -> String,
) -> Vec<Cell> {
    let mut cells = Vec::new();
    for subject in m.subjects.keys() {
        for (object, o) in &m.objects {
            let (department, owner, classification) = (
                attr_str(&o.attributes, "department"),
                attr_str(&o.attributes, "owner"),
                attr_int(&o.attributes, "classification"),
            );
            let owner = if m.subjects.contains_key(&owner) {
                policy_name(&owner)
            } else {
                owner
            };
            let own_name = policy_name(subject);
            for action in &m.actions {
                // a fresh copy of the object per cell, so deletes and updates cannot leak
                let fields = DocumentFields {
                    title: object,
                    body: "",
                    department: &department,
                    owner: &owner,
                    classification,
                };
                // relabel: the subject's own document in a scratch department (so they may
                // update it as it is and every target changes its labels), moved by a PUT to
                // the object's department and classification
                let source = DocumentFields {
                    department: "scratch",
                    owner: &own_name,
                    classification: 0,
                    ..fields
                };
                let stored = if action == "relabel" {
                    &source
                } else {
                    &fields
                };
                let doc = store::documents::insert(&app.state.db, stored, "default", 0)
                    .await
                    .expect("insert");
                let body = json!({"title": object, "body": "x", "department": department, "classification": classification});
                let path = format!("/api/documents/{}", doc.id);
                let token = tokens[subject].as_str();
                let r = match action.as_str() {
                    "read" => app.call(Method::GET, &path, Some(token), None).await,
                    "update" | "relabel" => {
                        app.call(Method::PUT, &path, Some(token), Some(body)).await
                    }
                    "delete" => app.call(Method::DELETE, &path, Some(token), None).await,
                    "create" => {
                        app.call(Method::POST, "/api/documents", Some(token), Some(body))
                            .await
                    }
                    other => panic!("no HTTP mapping for action {other}"),
                };
                let actual = match r.status {
                    StatusCode::OK | StatusCode::CREATED | StatusCode::NO_CONTENT => true,
                    StatusCode::FORBIDDEN => false,
                    _ => panic!("{subject} {action} {object}: unexpected {r:?}"),
                };
                cells.push(http_cell(m, (subject, object, action), r.status, actual));
            }
        }
    }
    cells
}

/// Every matrix file shipped in the repository (policies/matrices and policies/examples)
/// passes, with the same per-cell report as `warden matrix check`. New files need no code.
/// (policies/conformance needs casbin's own examples, which are not in the repository:
/// `scripts/conformance.sh` checks those.)
#[tokio::test]
async fn every_shipped_matrix_file_passes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let files = warden::matrix::collect_files(&[root.join("matrices"), root.join("examples")])
        .expect("files");
    assert!(files.len() >= 2, "{files:?}");
    let mut failures = String::new();
    for file in &files {
        let m = Matrix::from_file(file).unwrap_or_else(|e| panic!("{e}"));
        let put = match m.policy_files() {
            Some((model, policy)) => {
                warden::matrix::run::PolicyUnderTest::from_files(&model, &policy).expect("policy")
            }
            None => warden::matrix::run::PolicyUnderTest::Warden(
                parse_policy(SEED_POLICY).expect("seed"),
            ),
        };
        let result = warden::matrix::run::check(&m, &file.display().to_string(), &put)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if !result.failures.is_empty() {
            failures.push_str(&warden::matrix::report::text(&[result]));
        }
    }
    assert!(failures.is_empty(), "{failures}");
}

#[tokio::test]
async fn the_seed_matrix_holds_against_the_engine() {
    let m = seed_matrix();
    assert!(
        m.subjects.len() >= 6 && m.objects.len() >= 8,
        "the seed matrix stays exhaustive"
    );
    let cells = engine_cells(&m).await;
    assert_eq!(cells.len(), m.cell_count());
    if let Some(report) = report_failures(&m, &cells) {
        panic!("{report}");
    }
}

#[tokio::test]
async fn the_seed_matrix_holds_through_http_and_agrees_with_the_engine_cell_for_cell() {
    let m = seed_matrix();
    let engine = engine_cells(&m).await;
    let http = http_cells(&m).await;
    assert_eq!(engine.len(), http.len());
    let disagreements: Vec<String> = engine
        .iter()
        .zip(&http)
        .inspect(|(e, h)| {
            assert_eq!(
                (&e.subject, &e.object, &e.action),
                (&h.subject, &h.object, &h.action),
                "the two runs must list the same cells in the same order"
            );
        })
        .filter(|(e, h)| e.actual != h.actual)
        .map(|(e, h)| format!("  engine: {e}\n  http:   {h}"))
        .collect();
    assert!(
        disagreements.is_empty(),
        "engine and HTTP disagree:\n{}",
        disagreements.join("\n")
    );
    if let Some(report) = report_failures(&m, &http) {
        panic!("{report}");
    }
}

#[tokio::test]
async fn a_wrong_expectation_fails_and_names_the_cell() {
    let mut m = seed_matrix();
    // flip one cell: alice may not read eng-1-bob according to this (wrong) matrix
    m.expect
        .get_mut("alice")
        .and_then(|g| g.get_mut("eng-1-bob"))
        .map(|a| a.remove("read"));
    let cells = engine_cells(&m).await;
    let report = report_failures(&m, &cells).expect("one cell fails");
    assert!(report.contains("1 of 400 cells failed"), "{report}");
    assert!(
        report.contains(
            "subject=alice object=eng-1-bob action=read expected=deny actual=allow \
             decided_by=allow by rule #"
        ) && report.contains("(role:viewer document read) via alice -> role:viewer"),
        "{report}"
    );
}

#[test]
fn matrix_parse_errors_name_line_and_column() {
    let err = Matrix::from_yaml("name: x\nsubjects: [oops\n").expect_err("invalid");
    assert!(err.to_string().contains("line"), "{err}");
    let err =
        Matrix::from_yaml("name: x\nsubjects: {}\nobjects: {}\nactions: []\nexpect: {ghost: {}}\n")
            .expect_err("invalid");
    assert!(err.to_string().contains("ghost"), "{err}");
}

// --- bounded work (issue 10, item 3) --------------------------------------------------

/// A matrix of `subjects x objects x actions` cells in compact YAML (the attack body: a few
/// kilobytes naming billions of cells).
fn grid_yaml(subjects: usize, objects: usize, actions: usize) -> String {
    let names = |prefix: &str, n: usize| {
        (0..n)
            .map(|i| format!("{prefix}{i}: {{}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let acts = (0..actions)
        .map(|i| format!("a{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "name: big\nsubjects: {{{}}}\nobjects: {{{}}}\nactions: [{acts}]\ndeny: [[\"*\", \"*\", \"*\"]]\n",
        names("s", subjects),
        names("o", objects)
    )
}

async fn run_matrix(app: &TestApp, admin: &str, matrix: &str) -> TestResponse {
    app.call(
        Method::POST,
        "/v1/admin/matrices/run",
        Some(admin),
        Some(json!({ "matrix": matrix })),
    )
    .await
}

#[tokio::test]
async fn a_small_body_naming_billions_of_cells_is_refused_with_422_before_any_work() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let body = grid_yaml(1500, 1500, 1000);
    assert!(
        body.len() < 64 * 1024,
        "fits the body limit: {}",
        body.len()
    );
    let started = std::time::Instant::now();
    let r = run_matrix(&app, &admin, &body).await;
    let took = started.elapsed();
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "matrix_too_large");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("2250000000"),
        "{r:?}"
    );
    assert!(took < std::time::Duration::from_secs(1), "took {took:?}");
    // the same body as an extra matrix of a dry run
    let dry = app
        .call(
            Method::POST,
            "/v1/admin/policy/dry-run",
            Some(&admin),
            Some(json!({"change": {"delete": [1]}, "matrices": [body]})),
        )
        .await;
    assert_error(&dry, StatusCode::UNPROCESSABLE_ENTITY, "matrix_too_large");
}

#[tokio::test]
async fn one_cell_over_the_limit_is_refused_and_the_limit_itself_runs() {
    let app = TestApp::with_config(|c| c.matrix_limits.max_cells = 1000).await;
    let admin = app.admin_token().await;
    let over = run_matrix(&app, &admin, &grid_yaml(7, 11, 13)).await; // 1001 cells
    assert_error(&over, StatusCode::UNPROCESSABLE_ENTITY, "matrix_too_large");
    let at = run_matrix(&app, &admin, &grid_yaml(10, 10, 10)).await;
    assert_eq!(at.status, StatusCode::OK, "{at:?}");
    assert_eq!(at.body["cells"], 1000);
    assert_eq!(at.body["checked"], 1000);
}

#[tokio::test]
async fn a_matrix_run_beyond_the_concurrency_limit_gets_503_busy_with_retry_after() {
    let app = TestApp::with_config(|c| c.matrix_limits.concurrent = 1).await;
    let admin = app.admin_token().await;
    // another run holds the only slot
    let held = app.state.matrix_runs.admit(Some(1)).expect("slot");
    let r = run_matrix(&app, &admin, &grid_yaml(2, 2, 2)).await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "busy");
    assert_eq!(r.headers["retry-after"], "1");
    let list = app.get("/v1/admin/matrices", &admin).await;
    assert_error(&list, StatusCode::SERVICE_UNAVAILABLE, "busy");
    drop(held);
    let r = run_matrix(&app, &admin, &grid_yaml(2, 2, 2)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

#[tokio::test]
async fn a_matrix_run_past_its_deadline_is_stopped_with_503_timeout() {
    let app = TestApp::with_config(|c| c.matrix_limits.deadline = std::time::Duration::ZERO).await;
    let admin = app.admin_token().await;
    let r = run_matrix(&app, &admin, &grid_yaml(10, 10, 10)).await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "timeout");
    // the slot was given back
    assert!(app.state.matrix_runs.admit(Some(1)).is_ok());
}

// --- matrices that test nothing (item 9) ----------------------------------------------

#[tokio::test]
async fn a_matrix_that_checks_no_cell_is_refused_with_422() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    for matrix in [
        "name: e\nsubjects: {}\nobjects: {o: {}}\nactions: [read]\nallow: [[\"*\", o, read]]\n",
        "name: e\nsubjects: {s: {}}\nobjects: {}\nactions: [read]\ndeny: [[s, \"*\", \"*\"]]\n",
        "name: e\nsubjects: {s: {}}\nobjects: {o: {}}\nactions: []\nexpect: {s: {}}\n",
    ] {
        let r = run_matrix(&app, &admin, matrix).await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(
            r.body["message"]
                .as_str()
                .unwrap_or("")
                .contains("checks no cell"),
            "{r:?}"
        );
    }
    // entries naming cells outside the grid are refused too
    let outside =
        "name: e\nsubjects: {s: {}}\nobjects: {o: {}}\nactions: [read]\nallow: [[s, o, write]]\n";
    let r = run_matrix(&app, &admin, outside).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

// --- decided by: the role chain and the winning rule (item 9) -------------------------

#[tokio::test]
async fn a_failing_cell_names_the_role_chain_and_the_rule_that_won_under_deny_override() {
    let m = Matrix::from_yaml(
        "name: why\nsubjects:\n  alice: {roles: [editor], attributes: {department: eng, clearance: 2}, scopes: [documents:read]}\n\
         objects:\n  a-very-long-object-name-that-is-wider-than-any-column: {type: document, attributes: {department: eng, owner: alice, classification: 3}}\n  \
         short: {type: document, attributes: {department: eng, owner: bob, classification: 1}}\n\
         actions: [read]\nallow: [[alice, \"*\", read]]\n",
    )
    .expect("valid");
    let cells = engine_cells(&m).await;
    let denied = cells
        .iter()
        .find(|c| !c.passed())
        .expect("the classification-3 cell fails");
    // the deny rule for everyone won over the owner allow that alice reaches through editor,
    // viewer and user
    assert!(denied.reason.contains("deny by rule"), "{}", denied.reason);
    assert!(denied.reason.contains("everyone (*)"), "{}", denied.reason);
    assert!(
        denied.reason.contains("overrides allow by rule")
            && denied
                .reason
                .contains("alice -> role:editor -> role:viewer -> role:user"),
        "{}",
        denied.reason
    );
    let passed = cells.iter().find(|c| c.passed()).expect("short passes");
    assert!(
        passed.reason.contains("allow by rule")
            && passed
                .reason
                .contains("alice -> role:editor -> role:viewer"),
        "{}",
        passed.reason
    );
    // the failure table stays aligned: every row's columns start where the header's do
    let policy = parse_policy(SEED_POLICY).expect("seed");
    let result = warden::matrix::run::check(
        &m,
        "why.yaml",
        &warden::matrix::run::PolicyUnderTest::Warden(policy),
    )
    .await
    .expect("check");
    let text = warden::matrix::report::text(&[result]);
    let lines: Vec<&str> = text.lines().collect();
    let header = lines
        .iter()
        .position(|l| l.trim_start().starts_with("subject"))
        .expect("header");
    let col = |l: &str, word: &str| l.find(word).expect(word);
    let row = lines[header + 1];
    assert_eq!(col(lines[header], "action"), col(row, "read"), "{text}");
    assert_eq!(
        col(lines[header], "decided by"),
        col(row, "deny by rule"),
        "{text}"
    );
}

// --- invariants protect the admin API (item 8) ----------------------------------------

fn rule(subject: &str, object: &str, action: &str) -> serde_json::Value {
    json!({"subject": subject, "object": object, "action": action, "effect": "allow"})
}

#[tokio::test]
async fn rules_that_open_the_admin_api_to_non_admins_are_refused_with_409() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let before = app.get("/v1/admin/policy", &admin).await.body["policy_version"].clone();
    for grant in [
        rule("*", "/v1/admin/*", "*"),
        rule("role:user", "/v1/admin/*", "*"),
        rule("role:viewer", "/v1/admin/users/:name", "PATCH"),
        json!({"subject": "role:user", "object": "/v1/admin/*", "action": "GET",
               "scope": "documents:read", "effect": "allow"}),
    ] {
        let r = app
            .call(
                Method::POST,
                "/v1/admin/rules",
                Some(&admin),
                Some(grant.clone()),
            )
            .await;
        assert_error(&r, StatusCode::CONFLICT, "invariant_violation");
        assert!(
            r.body["details"]["cells"]
                .as_array()
                .is_some_and(|c| !c.is_empty()),
            "{grant}: {r:?}"
        );
    }
    // making every viewer a member of role:admin is the same grant by another road
    let r = app.assign(&admin, "role:viewer", "role:admin").await;
    assert_error(&r, StatusCode::CONFLICT, "invariant_violation");
    assert_eq!(
        app.get("/v1/admin/policy", &admin).await.body["policy_version"],
        before
    );
}

// --- a dry run runs the checks of the change (item 4) ---------------------------------

#[tokio::test]
async fn a_dry_run_reports_exactly_the_refusal_or_acceptance_of_the_change() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (_, _) = app.user_tokens("erin").await;
    let changes = [
        // the last admin loses the role: lock-out
        json!({"unassign": [{"member": "user:admin", "role": "role:admin"}]}),
        // every user an admin: invariant
        json!({"add": [rule("*", "/v1/admin/*", "*")]}),
        // the admin rule removed: invariant (and lock-out)
        json!({"delete": [8]}),
        // invalid condition
        json!({"add": [{"subject": "role:user", "object": "document", "action": "read",
                        "condition": "r.sub.x ==", "effect": "allow"}]}),
        // no such rule
        json!({"delete": [99999]}),
        // no such account
        json!({"assign": [{"member": "user:ghost", "role": "role:viewer"}]}),
        // an inheritance cycle
        json!({"assign": [{"member": "role:user", "role": "role:viewer"}]}),
        // nothing to do
        json!({}),
        // accepted: a new grant, then a role for a real user
        json!({"add": [rule("role:auditor", "report", "read")]}),
        json!({"assign": [{"member": "user:erin", "role": "role:auditor"}]}),
        // refused now because it already exists
        json!({"add": [rule("role:auditor", "report", "read")]}),
    ];
    for change in changes {
        let dry = app
            .call(
                Method::POST,
                "/v1/admin/policy/dry-run",
                Some(&admin),
                Some(json!({ "change": change })),
            )
            .await;
        assert_eq!(dry.status, StatusCode::OK, "{change}: {dry:?}");
        let applied = app
            .call(
                Method::POST,
                "/v1/admin/policy/changes",
                Some(&admin),
                Some(change.clone()),
            )
            .await;
        if applied.status == StatusCode::CREATED {
            assert_eq!(dry.body["accepted"], true, "{change}: {dry:?}");
            assert_eq!(dry.body["refusal"], serde_json::Value::Null, "{change}");
        } else {
            assert_eq!(
                dry.body["accepted"], false,
                "{change}: {dry:?} vs {applied:?}"
            );
            assert_eq!(
                dry.body["refusal"]["status"],
                applied.status.as_u16(),
                "{change}: {dry:?} vs {applied:?}"
            );
            assert_eq!(
                dry.body["refusal"]["error"],
                applied.error_code(),
                "{change}: {dry:?} vs {applied:?}"
            );
        }
    }
}

#[tokio::test]
async fn a_dry_run_of_unassigning_the_last_admin_reports_the_lockout() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let r = app
        .call(
            Method::POST,
            "/v1/admin/policy/dry-run",
            Some(&admin),
            Some(json!({"change": {"unassign": [{"member": "user:admin", "role": "role:admin"}]}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["accepted"], false, "{r:?}");
    assert_eq!(r.body["refusal"]["status"], 409, "{r:?}");
    assert_eq!(r.body["refusal"]["error"], "lockout", "{r:?}");
}

// --- /healthz under load, on a real listener (item 3) ---------------------------------

/// One HTTP/1.1 request on a fresh connection; returns (status, body).
async fn raw_http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_p99_stays_under_50ms_while_the_largest_allowed_run_and_50_failed_logins_are_in_flight()
 {
    // the documented default size; a shorter deadline keeps the test short in debug builds
    let server = served(|c| c.matrix_limits.deadline = std::time::Duration::from_secs(4)).await;
    let (addr, max) = (server.addr, server.state.config.matrix_limits.max_cells);
    let form = "application/x-www-form-urlencoded";
    let (status, body) = raw_http(
        addr,
        "POST",
        "/v1/auth/token",
        &[("Content-Type", form)],
        &format!("grant_type=password&username=admin&password={ADMIN_PASSWORD}"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).expect("json");
    let bearer = format!("Bearer {}", token["access_token"].as_str().expect("token"));

    // the largest allowed run: exactly `max` cells
    let side = 100;
    assert_eq!(side * side * (max / (side * side)), max);
    let matrix = grid_yaml(side, side, max / (side * side));
    let run_body = json!({ "matrix": matrix }).to_string();
    let run = tokio::spawn(async move {
        raw_http(
            addr,
            "POST",
            "/v1/admin/matrices/run",
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            &run_body,
        )
        .await
    });
    let logins: Vec<_> = (0..50)
        .map(|i| {
            tokio::spawn(async move {
                raw_http(
                    addr,
                    "POST",
                    "/v1/auth/token",
                    &[("Content-Type", form)],
                    &format!("grant_type=password&username=nobody{i}&password=wrong-password-{i}"),
                )
                .await
                .0
            })
        })
        .collect();
    let mut latencies = Vec::new();
    while !run.is_finished() || latencies.len() < 100 {
        let t = std::time::Instant::now();
        let (status, _) = raw_http(addr, "GET", "/healthz", &[], "").await;
        latencies.push(t.elapsed());
        assert_eq!(status, 200);
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (status, body) = run.await.expect("run");
    // finished within the deadline, or stopped at it: never blocking the server meanwhile
    assert!(
        status == 200 || (status == 503 && body.contains("timeout")),
        "{status} {body}"
    );
    for l in logins {
        let status = l.await.expect("login");
        assert!(status == 400 || status == 401 || status == 429, "{status}");
    }
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99).div_ceil(100) - 1];
    eprintln!(
        "healthz p99 {p99:?} over {} samples; run answered {status}",
        latencies.len()
    );
    assert!(
        p99 < std::time::Duration::from_millis(50),
        "p99 {p99:?} over {} samples (max {:?})",
        latencies.len(),
        latencies.last()
    );
    drop(server);
}
