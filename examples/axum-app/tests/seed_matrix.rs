//! The example app in both modes against the seed matrix (policies/matrices/seed.yaml): every
//! cell through the app's own routes, against a real Warden started in-process on 127.0.0.1.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;
use warden::matrix::Matrix;
use warden::policy::AttrValue;
use warden_client::Client;
use warden_client::guard::Guard;
use warden_client::replica::{Credentials, Replica};
use warden_example_axum::{Documents, app};

const ADMIN_PASSWORD: &str = "admin-password-1";
const PASSWORD: &str = "correct-horse-battery";

fn seed() -> Matrix {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies/matrices/seed.yaml");
    Matrix::from_file(&path).expect("seed matrix")
}

/// A Warden on 127.0.0.1 with every matrix subject as an account; returns its URL, state and
/// the subjects' access tokens (with the matrix's scopes).
async fn warden(
    m: &Matrix,
) -> (
    String,
    warden::AppState,
    BTreeMap<String, String>,
    impl Drop,
) {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let mut config = warden::config::Config::for_database(&url);
    config.admin_password = Some(ADMIN_PASSWORD.to_owned().into());
    let started = warden::bootstrap::start(config, Arc::new(warden::clock::SystemClock))
        .await
        .expect("start");
    let state = started.state.clone();
    for (name, s) in &m.subjects {
        let role = s
            .roles
            .first()
            .map_or("role:user".to_owned(), |r| format!("role:{r}"));
        let username = warden::policy::username::Username::parse(name).expect("name");
        state
            .create_account(warden::auth::accounts::NewAccount {
                username: &username,
                password: Some(warden::auth::domain::Password::parse(PASSWORD).expect("pw")),
                email: None,
                display_name: None,
                attributes: &s.attributes,
                role: &role,
                created_by: None,
            })
            .await
            .expect("account");
        assert!(
            s.roles.len() <= 1,
            "the seed matrix gives each subject one role"
        );
    }
    state.engine.reload().await.expect("reload");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(warden::serve_until(listener, started.state, async move {
        let _ = stopped.await;
    }));
    let client = Client::new(&base);
    let mut tokens = BTreeMap::new();
    for (name, s) in &m.subjects {
        let scope = s.scopes.join(" ");
        let t = client
            .password_grant(name, PASSWORD, Some(&scope))
            .await
            .expect("login");
        tokens.insert(name.clone(), t.access_token);
    }
    struct Guarded {
        stop: Option<tokio::sync::oneshot::Sender<()>>,
        _dir: tempfile::TempDir,
    }
    impl Drop for Guarded {
        fn drop(&mut self) {
            if let Some(s) = self.stop.take() {
                let _ = s.send(());
            }
        }
    }
    (
        base,
        state,
        tokens,
        Guarded {
            stop: Some(stop),
            _dir: dir,
        },
    )
}

fn text(attrs: &BTreeMap<String, AttrValue>, k: &str) -> String {
    match attrs.get(k) {
        Some(AttrValue::Str(s)) => s.clone(),
        other => panic!("{k}: {other:?}"),
    }
}

fn int(attrs: &BTreeMap<String, AttrValue>, k: &str) -> i32 {
    match attrs.get(k) {
        Some(AttrValue::Int(i)) => *i,
        other => panic!("{k}: {other:?}"),
    }
}

async fn send(
    app: &Router,
    method: &str,
    path: &str,
    token: &str,
    body: Option<serde_json::Value>,
) -> StatusCode {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"));
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    app.clone()
        .oneshot(req.body(body).expect("req"))
        .await
        .expect("infallible")
        .status()
}

/// Every cell of `m` through `app` (the same HTTP mapping as Warden's own seed-matrix test):
/// the failures, as text.
async fn cells(
    m: &Matrix,
    app: &Router,
    docs: &Documents,
    tokens: &BTreeMap<String, String>,
) -> (usize, Vec<String>) {
    let (mut n, mut failures) = (0, Vec::new());
    for subject in m.subjects.keys() {
        for (object, o) in &m.objects {
            let (department, owner, classification) = (
                text(&o.attributes, "department"),
                text(&o.attributes, "owner"),
                int(&o.attributes, "classification"),
            );
            for action in &m.actions {
                // relabel: the subject's own document in a scratch department, moved by a PUT
                let id = if action == "relabel" {
                    docs.insert(object, "scratch", subject, 0)
                } else {
                    docs.insert(object, &department, &owner, classification)
                };
                let body = serde_json::json!({"title": object, "department": department, "classification": classification});
                let path = format!("/api/documents/{id}");
                let token = &tokens[subject];
                let status = match action.as_str() {
                    "read" => send(app, "GET", &path, token, None).await,
                    "update" | "relabel" => send(app, "PUT", &path, token, Some(body)).await,
                    "delete" => send(app, "DELETE", &path, token, None).await,
                    "create" => send(app, "POST", "/api/documents", token, Some(body)).await,
                    other => panic!("no route for {other}"),
                };
                let actual = match status {
                    StatusCode::OK | StatusCode::CREATED | StatusCode::NO_CONTENT => true,
                    StatusCode::FORBIDDEN => false,
                    other => panic!("{subject} {action} {object}: unexpected {other}"),
                };
                let expected = m
                    .expected(subject, None, object, action)
                    .expect("every cell is stated");
                n += 1;
                if actual != expected {
                    failures.push(format!(
                        "{subject} {action} {object}: expected {expected}, got {status}"
                    ));
                }
            }
        }
    }
    (n, failures)
}

#[tokio::test]
async fn the_example_app_holds_the_seed_matrix_in_remote_and_replica_mode() {
    let m = seed();
    let (base, state, tokens, _warden) = warden(&m).await;
    let client = Client::new(&base);
    let admin = client
        .password_grant("admin", ADMIN_PASSWORD, None)
        .await
        .expect("admin");
    let replica = Replica::follow(&client, Credentials::Token(admin.access_token));
    let version = state.engine.snapshot().expect("snapshot").version();
    assert!(
        replica.wait_for(version, Duration::from_secs(10)).await,
        "the replica has the policy"
    );

    for (mode, guard) in [
        ("remote", Guard::remote(client.clone())),
        ("replica", Guard::replica(client.clone(), replica.clone())),
    ] {
        let docs = Documents::default();
        let app = app(guard, docs.clone());
        let (n, failures) = cells(&m, &app, &docs, &tokens).await;
        assert_eq!(n, m.cell_count(), "{mode}: every cell");
        assert!(
            failures.is_empty(),
            "{mode}: {} of {n} cells fail:\n{}",
            failures.len(),
            failures.join("\n")
        );
        eprintln!("{mode}: {n} seed-matrix cells hold through the example app");
    }
}

#[tokio::test]
async fn without_a_snapshot_the_replica_guarded_app_answers_503() {
    let m = seed();
    let (base, _state, tokens, _warden) = warden(&m).await;
    let client = Client::new(&base);
    // Credentials that are refused: the replica never gets a snapshot.
    let replica = Replica::follow(&client, Credentials::Token("not-a-token".into()));
    let docs = Documents::default();
    let id = docs.insert("x", "eng", "bob", 0);
    let app = app(Guard::replica(client, replica), docs);
    let status = send(
        &app,
        "GET",
        &format!("/api/documents/{id}"),
        &tokens["bob"],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}
