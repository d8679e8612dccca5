//! Every matrix under policies/matrices runs twice: against the engine directly and through
//! HTTP (real router, real users, real tokens, real documents). The two must agree cell for
//! cell, and both must match the expectations.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use serde_json::json;
use warden::authz::seed::{SEED_POLICY, parse_policy};
use warden::authz::{AttrValue, Snapshot};
use warden::matrix::{Cell, Matrix, report_failures};
use warden::store::{self, documents::DocumentFields};

use crate::helpers::*;

fn seed_matrix() -> Matrix {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/matrices/seed.yaml"
    ))
    .expect("read");
    Matrix::from_yaml(&text).expect("seed.yaml is valid")
}

async fn engine_cells(m: &Matrix) -> Vec<Cell> {
    let policy = parse_policy(SEED_POLICY).expect("seed policy");
    let snap = Snapshot::from_rows(m.policy_with_subjects(&policy, 1))
        .await
        .expect("snapshot");
    m.run(&snap).expect("run")
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
    let mut tokens = BTreeMap::new();
    for (name, s) in &m.subjects {
        let first = s
            .roles
            .first()
            .map_or("role:user".to_owned(), |r| format!("role:{r}"));
        let username = warden::auth::domain::Username::parse(name).expect("name");
        let password = warden::auth::domain::Password::parse(PASSWORD).expect("pw");
        warden::auth::routes::create_user(
            &app.state,
            &username,
            password,
            None,
            None,
            &s.attributes,
            &first,
        )
        .await
        .expect("create");
        let extra: Vec<store::policy::Op> = s
            .roles
            .iter()
            .skip(1)
            .map(|r| store::policy::Op::AddAssignment(format!("user:{name}"), format!("role:{r}")))
            .collect();
        if !extra.is_empty() {
            let meta = store::policy::ChangeMeta {
                actor: "test",
                action: "roles.assign",
                summary: "matrix subject",
            };
            store::policy::apply(&app.state.db, None, &extra, &meta, 0)
                .await
                .expect("roles");
        }
        let t = app.login_scoped(name, PASSWORD, &s.scopes.join(" ")).await;
        assert_eq!(t.status, StatusCode::OK, "login {name}: {t:?}");
        tokens.insert(
            name.clone(),
            t.body["access_token"].as_str().expect("token").to_owned(),
        );
    }
    app.state.engine.reload().await.expect("reload");
    let mut cells = Vec::new();
    for subject in m.subjects.keys() {
        for (object, o) in &m.objects {
            let (department, owner, classification) = (
                attr_str(&o.attributes, "department"),
                attr_str(&o.attributes, "owner"),
                attr_int(&o.attributes, "classification"),
            );
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
                    owner: subject,
                    classification: 0,
                    ..fields
                };
                let stored = if action == "relabel" {
                    &source
                } else {
                    &fields
                };
                let doc = store::documents::insert(&app.state.db, stored, 0)
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
                cells.push(Cell {
                    subject: subject.clone(),
                    domain: None,
                    matched: Vec::new(),
                    object: object.clone(),
                    action: action.clone(),
                    expected: m.expected(subject, None, object, action),
                    actual,
                    reason: format!("HTTP {}", r.status.as_u16()),
                });
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
            "subject=alice object=eng-1-bob action=read expected=deny actual=allow decided_by=rules"
        ),
        "{report}"
    );
}

#[test]
fn matrix_parse_errors_name_line_and_column() {
    let err = Matrix::from_yaml("name: x\nsubjects: [oops\n").expect_err("invalid");
    assert!(err.0.contains("line"), "{err}");
    let err =
        Matrix::from_yaml("name: x\nsubjects: {}\nobjects: {}\nactions: []\nexpect: {ghost: {}}\n")
            .expect_err("invalid");
    assert!(err.0.contains("ghost"), "{err}");
}
