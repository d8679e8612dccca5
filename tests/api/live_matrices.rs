//! Matrices that live with the policy: `PUT`/`GET`/`DELETE /v1/admin/matrices/{name}`, each
//! edit a policy version (audited, rolled back with the rules, seen by other instances), the
//! shipped files only the seed of a new database, and the live set used by the previews and
//! the invariants of every change. Every test runs on SQLite and, with
//! `WARDEN_TEST_BACKEND=postgres`, on Postgres.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestResponse, assert_error, postgres_or_skip};

async fn demo() -> (TestApp, String) {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    (app, admin)
}

/// A matrix on a resource type the seed policy knows nothing of: nobody reads invoices, the
/// finance role excepted (once a rule grants it).
fn invoices(name: &str, invariant: bool, finance_reads: bool) -> String {
    let finance = if finance_reads { "[read]" } else { "[]" };
    format!(
        "# invoices: {name}\nname: {name}\ninvariant: {invariant}\nsubjects:\n  fin: {{roles: [finance], scopes: [documents:read]}}\n  \
         someone: {{roles: [user], scopes: [documents:read]}}\nobjects:\n  inv: {{type: invoice}}\nactions: [read]\n\
         expect:\n  fin: {{inv: {finance}}}\n  someone: {{inv: []}}\n"
    )
}

fn finance_rule() -> Value {
    json!({"subject": "role:finance", "object": "invoice", "action": "read", "effect": "allow"})
}

fn everyone_reads_invoices() -> Value {
    json!({"subject": "role:user", "object": "invoice", "action": "read", "effect": "allow"})
}

async fn put(app: &TestApp, admin: &str, name: &str, ct: &str, body: &str) -> TestResponse {
    let req = Request::builder()
        .method(Method::PUT)
        .uri(format!("/v1/admin/matrices/{name}"))
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .header(header::CONTENT_TYPE, ct)
        .body(Body::from(body.to_owned()))
        .expect("request");
    app.send(req).await
}

async fn put_yaml(app: &TestApp, admin: &str, name: &str, body: &str) -> TestResponse {
    put(app, admin, name, "application/yaml", body).await
}

/// The matrix's text as stored (`Accept: application/yaml`).
async fn get_yaml(app: &TestApp, admin: &str, name: &str) -> TestResponse {
    let req = Request::builder()
        .uri(format!("/v1/admin/matrices/{name}"))
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .header(header::ACCEPT, "application/yaml")
        .body(Body::empty())
        .expect("request");
    app.send(req).await
}

async fn names(app: &TestApp, admin: &str) -> Vec<String> {
    let list = app.get("/v1/admin/matrices?coverage=false", admin).await;
    assert_eq!(list.status, StatusCode::OK, "{list:?}");
    list.body
        .as_array()
        .expect("list")
        .iter()
        .map(|m| m["name"].as_str().expect("name").to_owned())
        .collect()
}

async fn dry_run(app: &TestApp, admin: &str, change: Value) -> TestResponse {
    let r = app
        .call(
            Method::POST,
            "/v1/admin/policy/dry-run",
            Some(admin),
            Some(json!({ "change": change })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r
}

#[tokio::test]
async fn the_seed_of_a_new_database_is_the_shipped_files_as_written() {
    let (app, admin) = demo().await;
    assert_eq!(names(&app, &admin).await, ["forward", "invariants", "seed"]);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/matrices");
    for name in ["forward", "invariants", "seed"] {
        let r = get_yaml(&app, &admin, name).await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert!(
            r.headers[header::CONTENT_TYPE]
                .to_str()
                .expect("ct")
                .starts_with("application/yaml")
        );
        let file = std::fs::read_to_string(dir.join(format!("{name}.yaml"))).expect("file");
        assert_eq!(r.body, Value::String(file), "{name}");
    }
    // the seed is one version with the rules: its audit entry counts the matrices
    let seed = app.get("/v1/admin/policy/versions/1/diff", &admin).await;
    assert_eq!(seed.body["action"], "seed", "{seed:?}");
    assert_eq!(seed.body["after"]["matrices"], 3, "{seed:?}");
}

#[tokio::test]
async fn the_seed_is_loaded_once_never_again_and_into_a_database_from_before_matrices() {
    let (app, admin) = demo().await;
    let r = app
        .call(
            Method::DELETE,
            "/v1/admin/matrices/seed",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    // a restart leaves the admin's deletion alone
    let again = app.another_instance().await;
    assert_eq!(names(&again, &admin).await, ["forward", "invariants"]);
    // a database that predates matrices gets the seed at its first start with them, as a
    // version of its own, and its rules stay as they are
    warden::store::policy::forget_matrices_for_tests(app.state.engine.db())
        .await
        .expect("forget");
    let rules_before = app.get("/v1/admin/rules?limit=500", &admin).await.body["items"].clone();
    let v = warden::store::policy::version(app.state.engine.db())
        .await
        .expect("version");
    let upgraded = app.another_instance().await;
    assert_eq!(
        names(&upgraded, &admin).await,
        ["forward", "invariants", "seed"]
    );
    let entry = upgraded
        .get(&format!("/v1/admin/policy/versions/{}/diff", v + 1), &admin)
        .await;
    assert_eq!(entry.body["actor"], "seed", "{entry:?}");
    assert_eq!(entry.body["after"]["rules"], 0, "{entry:?}");
    assert_eq!(
        upgraded.get("/v1/admin/rules?limit=500", &admin).await.body["items"],
        rules_before
    );
}

#[tokio::test]
async fn a_matrix_edit_is_an_audited_version_and_rollback_restores_rules_and_matrices() {
    let (app, admin) = demo().await;
    let v0 = app.policy_version(&admin).await;
    let text = invoices("invoices", false, true);
    let created = put_yaml(&app, &admin, "invoices", &text).await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    assert_eq!(created.body["policy_version"], v0 + 1);
    assert_eq!(created.headers[header::ETAG], format!("\"{}\"", v0 + 1));
    assert_eq!(get_yaml(&app, &admin, "invoices").await.body, json!(text));
    // audited: who, what, before/after
    let entry = app
        .get(
            &format!("/v1/admin/policy/versions/{}/diff", v0 + 1),
            &admin,
        )
        .await;
    assert_eq!(entry.body["actor"], "admin");
    assert_eq!(entry.body["action"], "matrices.put");
    assert_eq!(entry.body["before"], json!([]));
    assert_eq!(
        entry.body["after"],
        json!([{"matrix": {"name": "invoices", "text": text}}])
    );
    // replaced (as JSON this time): 200, and the audit keeps the text it replaced
    let json_body = json!({"name": "invoices", "subjects": {"fin": {"roles": ["finance"]}},
        "objects": {"inv": {"type": "invoice"}}, "actions": ["read"], "deny": [["fin", "inv", "read"]]});
    let replaced = put(
        &app,
        &admin,
        "invoices",
        "application/json",
        &json_body.to_string(),
    )
    .await;
    assert_eq!(replaced.status, StatusCode::OK, "{replaced:?}");
    let entry = app
        .get(
            &format!("/v1/admin/policy/versions/{}/diff", v0 + 2),
            &admin,
        )
        .await;
    assert_eq!(entry.body["before"][0]["matrix"]["text"], json!(text));
    // GET as JSON: the results and the matrix itself, which PUTs back as it is
    let shown = app.get("/v1/admin/matrices/invoices", &admin).await;
    assert_eq!(shown.body["definition"], json_body, "{shown:?}");
    // a rule edit, then a rollback to before the matrix: both go (compare says so first)
    app.add_rule(&admin, finance_rule()).await;
    let compared = app
        .get(&format!("/v1/admin/policy/versions/{v0}/compare"), &admin)
        .await;
    assert_eq!(compared.body["matrices_only_now"], json!(["invoices"]));
    assert_eq!(compared.body["matrices_only_then"], json!([]));
    let compared = app
        .get(
            &format!("/v1/admin/policy/versions/{}/compare", v0 + 1),
            &admin,
        )
        .await;
    assert_eq!(compared.body["matrices_changed"], json!(["invoices"]));
    let rolled = app
        .call(
            Method::POST,
            "/v1/admin/policy/rollback",
            Some(&admin),
            Some(json!({"version": v0})),
        )
        .await;
    assert_eq!(rolled.status, StatusCode::CREATED, "{rolled:?}");
    assert_error(
        &get_yaml(&app, &admin, "invoices").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let rules = app.get("/v1/admin/rules?limit=500", &admin).await;
    assert!(
        !rules.body.to_string().contains("role:finance"),
        "{rules:?}"
    );
    // ...and forward to the first version of the matrix: its text exactly as written
    let rolled = app
        .call(
            Method::POST,
            "/v1/admin/policy/rollback",
            Some(&admin),
            Some(json!({"version": v0 + 1})),
        )
        .await;
    assert_eq!(rolled.status, StatusCode::CREATED, "{rolled:?}");
    assert_eq!(get_yaml(&app, &admin, "invoices").await.body, json!(text));
    // deleting is a version too
    let v = app.policy_version(&admin).await;
    let gone = app
        .call(
            Method::DELETE,
            "/v1/admin/matrices/invoices",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{gone:?}");
    assert_eq!(gone.body["policy_version"], v + 1);
    assert_eq!(names(&app, &admin).await, ["forward", "invariants", "seed"]);
}

#[tokio::test]
async fn a_matrix_on_a_new_resource_type_makes_the_dry_run_preview_change() {
    let (app, admin) = demo().await;
    let change = json!({"add": [everyone_reads_invoices()]});
    // no matrix speaks of invoices: the preview sees no cell change
    let before = dry_run(&app, &admin, change.clone()).await;
    assert_eq!(before.body["flips"], json!([]), "{before:?}");
    let r = put_yaml(
        &app,
        &admin,
        "invoices",
        &invoices("invoices", false, false),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let after = dry_run(&app, &admin, change).await;
    assert_eq!(
        after.body["flips"],
        // `fin` is no member of role:user: only `someone` flips
        json!([{"matrix": "invoices", "subject": "someone", "object": "inv", "action": "read",
                "before": false, "after": true, "expected": false}]),
        "{after:?}"
    );
    // the grid and the why of the console use it too
    let grid = app.get("/v1/admin/matrices/invoices/grid", &admin).await;
    assert_eq!(grid.status, StatusCode::OK, "{grid:?}");
    assert_eq!(grid.body["cells"].as_array().map(Vec::len), Some(2));
    let why = app
        .get(
            "/v1/admin/matrices/invoices/why?subject=fin&object=inv&action=read",
            &admin,
        )
        .await;
    assert_eq!(why.status, StatusCode::OK, "{why:?}");
    // and the run of the live set
    let run = app
        .call(
            Method::POST,
            "/v1/admin/matrices/run",
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{run:?}");
    let ran: Vec<&str> = run
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(ran, ["forward", "invariants", "invoices", "seed"]);
}

#[tokio::test]
async fn an_invariant_added_at_runtime_blocks_a_later_rule_change_that_breaks_it() {
    let (app, admin) = demo().await;
    app.add_rule(&admin, finance_rule()).await;
    let r = put_yaml(&app, &admin, "invoices", &invoices("invoices", true, true)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let v = app.policy_version(&admin).await;
    let refused = app
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(everyone_reads_invoices()),
        )
        .await;
    assert_error(&refused, StatusCode::CONFLICT, "invariant_violation");
    assert_eq!(
        refused.body["details"]["cells"],
        json!([{"matrix": "invoices", "subject": "someone", "object": "inv", "action": "read",
                "before": false, "after": true, "expected": false}])
    );
    assert_eq!(app.policy_version(&admin).await, v);
    // the dry run says the same, and a rollback past the invariant would be checked too
    let dry = dry_run(&app, &admin, json!({"add": [everyone_reads_invoices()]})).await;
    assert_eq!(dry.body["accepted"], false);
    assert_eq!(dry.body["refusal"]["error"], "invariant_violation");
    // once the invariant is deleted (a version of its own), the same rule is accepted
    let gone = app
        .call(
            Method::DELETE,
            "/v1/admin/matrices/invoices",
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{gone:?}");
    app.add_rule(&admin, everyone_reads_invoices()).await;
}

#[tokio::test]
async fn an_invariant_matrix_the_live_policy_fails_is_refused_with_422_naming_the_cells() {
    let (app, admin) = demo().await;
    let v = app.policy_version(&admin).await;
    // it expects finance to read invoices, which no rule grants
    let r = put_yaml(&app, &admin, "invoices", &invoices("invoices", true, true)).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invariant_fails");
    assert_eq!(r.body["details"]["failing"], 1);
    assert_eq!(
        r.body["details"]["cells"],
        json!([{"matrix": "invoices", "subject": "fin", "object": "inv", "action": "read",
                "before": false, "after": false, "expected": true}])
    );
    assert_eq!(app.policy_version(&admin).await, v);
    assert_error(
        &get_yaml(&app, &admin, "invoices").await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    // the same matrix as a report (not an invariant) is stored: its failure is its result
    let report = put_yaml(&app, &admin, "invoices", &invoices("invoices", false, true)).await;
    assert_eq!(report.status, StatusCode::CREATED, "{report:?}");
    let shown = app.get("/v1/admin/matrices/invoices", &admin).await;
    assert_eq!(shown.body["failures"].as_array().map(Vec::len), Some(1));
    // ...and turning it into an invariant is an edit that must hold: refused the same way
    let r = put_yaml(&app, &admin, "invoices", &invoices("invoices", true, true)).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "invariant_fails");
    // once a rule grants it, the invariant holds and is stored
    app.add_rule(&admin, finance_rule()).await;
    let r = put_yaml(&app, &admin, "invoices", &invoices("invoices", true, true)).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

#[tokio::test]
async fn matrix_edits_are_validated_precisely_and_no_body_gets_a_5xx() {
    let (app, admin) = demo().await;
    let v = app.policy_version(&admin).await;
    let good = invoices("invoices", false, false);
    let big: String = format!(
        "name: big\nsubjects: {{{}}}\nobjects: {{{}}}\nactions: [read]\nallow: [['*', '*', read]]\n",
        (0..400)
            .map(|i| format!("s{i}: {{}}"))
            .collect::<Vec<_>>()
            .join(", "),
        (0..300)
            .map(|i| format!("o{i}: {{}}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let cases: Vec<(&str, &str, String, StatusCode, &str)> = vec![
        (
            "invoices",
            "text/plain",
            good.clone(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            "other",
            "application/yaml",
            good.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "Bad.Name",
            "application/yaml",
            good.replace("invoices", "Bad.Name"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "run",
            "application/yaml",
            good.replace("invoices", "run"),
            StatusCode::METHOD_NOT_ALLOWED,
            "",
        ),
        (
            "invoices",
            "application/yaml",
            "name: invoices\nsubjects: [\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "invoices",
            "application/yaml",
            format!("{good}efect: allow\n"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "invoices",
            "application/yaml",
            format!("{good}model: m.conf\npolicy: p.csv\n"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "invoices",
            "application/yaml",
            "- 1\n- 2\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "invoices",
            "application/yaml",
            "a: &a [*a]\n".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "invoices",
            "application/json",
            "[1, 2]".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "invoices",
            "application/json",
            "{\"name\": ".into(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "big",
            "application/yaml",
            big,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
        (
            "invoices",
            "application/yaml",
            "x".repeat(70 * 1024),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
    ];
    for (name, ct, body, status, code) in cases {
        let r = put(&app, &admin, name, ct, &body).await;
        assert_eq!(
            r.status,
            status,
            "{name} {ct} {:?}: {r:?}",
            &body[..body.len().min(60)]
        );
        if !code.is_empty() {
            assert_eq!(r.error_code(), code, "{r:?}");
        }
    }
    assert_eq!(app.policy_version(&admin).await, v, "nothing was stored");
    // deleting what does not exist; a stale If-Match
    assert_error(
        &app.call(
            Method::DELETE,
            "/v1/admin/matrices/nope",
            Some(&admin),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let stale = Request::builder()
        .method(Method::PUT)
        .uri("/v1/admin/matrices/invoices")
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .header(header::CONTENT_TYPE, "application/yaml")
        .header(header::IF_MATCH, format!("\"{}\"", v - 1))
        .body(Body::from(good.clone()))
        .expect("request");
    assert_error(
        &app.send(stale).await,
        StatusCode::PRECONDITION_FAILED,
        "version_mismatch",
    );
    // non-admins reach neither edit
    let alice = app.demo_token("alice").await;
    assert_error(
        &put_yaml(&app, &alice, "invoices", &good).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_error(
        &app.call(
            Method::DELETE,
            "/v1/admin/matrices/seed",
            Some(&alice),
            None,
        )
        .await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_eq!(app.policy_version(&admin).await, v);
}

#[tokio::test]
async fn a_second_instance_sees_a_matrix_change_at_its_next_reload() {
    let (a, admin) = demo().await;
    let b = a.another_instance().await;
    let r = put_yaml(&a, &admin, "invoices", &invoices("invoices", false, false)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    // B loads the version like any (its heartbeat or a min_version request does this)
    b.state.engine.reload().await.expect("reload");
    assert_eq!(
        get_yaml(&b, &admin, "invoices").await.body,
        json!(invoices("invoices", false, false))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_matrix_change_on_one_instance_reaches_another_by_its_announcement() {
    let Some(url) = postgres_or_skip(
        "postgres_a_matrix_change_on_one_instance_reaches_another_by_its_announcement",
    )
    .await
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let a = TestApp::on_database(dir, url, |c| c.demo = true).await;
    let b = a.another_instance().await;
    // B follows announcements only (no version poll): only the notification can bring it
    let follower = {
        let state = b.state.clone();
        tokio::spawn(async move { state.engine.follow_changes().await })
    };
    let admin = a.admin_token().await;
    // an invariant stored on A guards a change made on B
    a.add_rule(&admin, finance_rule()).await;
    let r = put_yaml(&a, &admin, "invoices", &invoices("invoices", true, true)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let want = r.body["policy_version"].as_i64().expect("version");
    let start = std::time::Instant::now();
    while b.state.engine.snapshot().expect("snapshot").version() < want {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(3),
            "not announced"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(
        b.state
            .engine
            .snapshot()
            .expect("snapshot")
            .matrix("invoices")
            .is_some()
    );
    let refused = b
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(everyone_reads_invoices()),
        )
        .await;
    assert_error(&refused, StatusCode::CONFLICT, "invariant_violation");
    follower.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_export_and_import_carry_the_matrices_and_an_older_file_leaves_them_alone() {
    let (app, admin) = demo().await;
    let text = invoices("invoices", false, false);
    let r = put_yaml(&app, &admin, "invoices", &text).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .env_clear()
        .args(["policy", "export", "--database-url", &app.url])
        .output()
        .expect("run warden");
    assert!(out.status.success(), "{out:?}");
    let exported = String::from_utf8(out.stdout).expect("utf-8");
    // still a policy file: every matrix line is a comment to its CSV
    assert!(warden::policy::seed::parse_policy(&exported).is_ok());
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("exported.csv");
    std::fs::write(&file, &exported).expect("write");
    assert_eq!(warden::cli::policy_lint(&file), 0);
    // into a fresh database: the same matrices, text for text
    let other = TestApp::new().await;
    let other_admin = other.admin_token().await;
    let r = other
        .call(
            Method::DELETE,
            "/v1/admin/matrices/seed",
            Some(&other_admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(warden::cli::policy_import(&file, &other.url).await, 0);
    other.state.engine.reload().await.expect("reload");
    assert_eq!(
        names(&other, &other_admin).await,
        ["forward", "invariants", "invoices", "seed"]
    );
    for name in ["invoices", "seed"] {
        assert_eq!(
            get_yaml(&other, &other_admin, name).await.body,
            get_yaml(&app, &admin, name).await.body,
            "{name}"
        );
    }
    // a file exported before matrices lived in the policy (no block) imports its rules and
    // leaves the matrices as they are
    let older = dir.path().join("older.csv");
    let cut = exported
        .split("# the policy's matrices")
        .next()
        .expect("rules part");
    std::fs::write(
        &older,
        format!("{cut}p, role:auditor, report, read, *, , allow\n"),
    )
    .expect("write");
    assert_eq!(warden::cli::policy_import(&older, &other.url).await, 0);
    other.state.engine.reload().await.expect("reload");
    assert_eq!(
        names(&other, &other_admin).await,
        ["forward", "invariants", "invoices", "seed"]
    );
    // a damaged block is refused before anything is stored
    let damaged = dir.path().join("damaged.csv");
    std::fs::write(
        &damaged,
        exported.replace("name: invoices", "name: renamed"),
    )
    .expect("write");
    let v = warden::store::policy::version(other.state.engine.db())
        .await
        .expect("version");
    assert_eq!(warden::cli::policy_import(&damaged, &other.url).await, 2);
    assert_eq!(
        warden::store::policy::version(other.state.engine.db())
            .await
            .expect("version"),
        v
    );
}

/// The console's Grid page edits a matrix's YAML: an invariant the live policy fails is
/// refused with its failing cells shown; a valid matrix is saved as a new version and its grid
/// shown at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_edits_a_matrix_yaml_and_shows_a_refused_invariant_cell_by_cell() {
    let server = crate::helpers::served(|c| c.demo = true).await;
    let Some(b) = crate::helpers::browser::browser_or_skip(
        "the_console_edits_a_matrix_yaml_and_shows_a_refused_invariant_cell_by_cell",
        &server,
    )
    .await
    else {
        return;
    };
    let app = server.app();
    let admin = app.admin_token().await;
    let v0 = app.policy_version(&admin).await;
    b.sign_in("admin", crate::helpers::ADMIN_PASSWORD).await;
    b.section("grid", "#grid").await;
    b.click("#matrix-edit").await;
    b.find("#matrix-yaml").await;
    let shown = b
        .js("return document.querySelector('#matrix-yaml').value;")
        .await;
    let forward = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/matrices/forward.yaml"),
    )
    .expect("file");
    assert_eq!(shown, json!(forward), "the stored text, comments and all");
    // a new invariant the live policy fails: refused, the failing cell named, nothing stored
    b.fill("#matrix-name", "invoices").await;
    b.set_value("#matrix-yaml", &invoices("invoices", true, true))
        .await;
    b.click("#matrix-save").await;
    b.wait_text("#matrix-error", "invariant_fails").await;
    b.wait_text(
        "#matrix-failing",
        "invoices: fin read inv is denied, expected allowed",
    )
    .await;
    assert_eq!(app.policy_version(&admin).await, v0);
    // the same matrix as a report is saved as a version, and its grid is shown
    b.set_value("#matrix-yaml", &invoices("invoices", false, false))
        .await;
    b.click("#matrix-save").await;
    b.wait_text("#notice", &format!("saved as policy version {}", v0 + 1))
        .await;
    b.find("#grid[data-matrix='invoices']").await;
    assert_eq!(
        get_yaml(&app, &admin, "invoices").await.body,
        json!(invoices("invoices", false, false))
    );
    b.close().await;
}
