//! The client, the guard layer and the replica against a real Warden, started in-process on
//! 127.0.0.1 (a random port) over a fresh SQLite file, with the demo users.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt;
use warden_client::guard::Guard;
use warden_client::replica::{Credentials, Replica};
use warden_client::warden_policy::{AttrValue, Object, Subject};
use warden_client::{Check, Client, NewRule, Options};

const ADMIN_PASSWORD: &str = "admin-password-1";
const DEMO_PASSWORD: &str = "demo-password";

struct Warden {
    base: String,
    state: warden::AppState,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn warden(edit: impl FnOnce(&mut warden::config::Config)) -> Warden {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let mut config = warden::config::Config::for_database(&url);
    config.admin_password = Some(ADMIN_PASSWORD.to_owned().into());
    config.demo = true;
    config.example_documents = true;
    edit(&mut config);
    let started = warden::bootstrap::start(config, Arc::new(warden::clock::SystemClock))
        .await
        .expect("start");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = started.state.clone();
    tokio::spawn(warden::serve_until(listener, started.state, async move {
        let _ = stopped.await;
    }));
    Warden {
        base: format!("http://{addr}"),
        state,
        _stop: stop,
        _dir: dir,
    }
}

async fn login(client: &Client, user: &str) -> String {
    let password = if user == "admin" {
        ADMIN_PASSWORD
    } else {
        DEMO_PASSWORD
    };
    client
        .password_grant(user, password, None)
        .await
        .expect("login")
        .access_token
}

fn rule(n: usize) -> NewRule {
    NewRule {
        subject: "role:user".into(),
        object: format!("/app/generated/{n}"),
        action: "GET".into(),
        scope: "*".into(),
        condition: String::new(),
        effect: "allow".into(),
    }
}

#[tokio::test]
async fn grants_me_and_checks_work_and_errors_are_typed() {
    let w = warden(|_| {}).await;
    let client = Client::new(&w.base);
    let tokens = client
        .password_grant("alice", DEMO_PASSWORD, None)
        .await
        .expect("login");
    let refreshed = client
        .refresh(tokens.refresh_token.as_deref().expect("refresh token"))
        .await
        .expect("refresh");
    let alice = client.with_token(&refreshed.access_token);
    let me = alice.me().await.expect("me");
    assert_eq!(me.policy_subject.principal, "user:alice");
    assert_eq!(
        me.policy_subject.attributes["department"],
        AttrValue::Str("eng".into())
    );
    assert!(
        alice
            .allowed(Check::route("/api/documents", "GET"))
            .await
            .expect("check")
    );
    assert!(
        !alice
            .allowed(Check::route("/v1/admin/rules", "GET"))
            .await
            .expect("check")
    );
    let eng_doc = BTreeMap::from([
        ("department".to_owned(), AttrValue::Str("eng".into())),
        ("classification".to_owned(), AttrValue::Int(1)),
        ("owner".to_owned(), AttrValue::Str("bob".into())),
    ]);
    assert!(
        alice
            .allowed(Check::object("document", eng_doc.clone(), "read"))
            .await
            .expect("read")
    );
    assert!(
        !alice
            .allowed(Check::object("document", eng_doc, "update"))
            .await
            .expect("update")
    );

    let wrong = client.password_grant("alice", "wrong-password", None).await;
    let e = wrong.expect_err("refused");
    assert_eq!(
        (e.status(), e.code()),
        (Some(400), Some("invalid_grant")),
        "{e}"
    );
    let e = client
        .with_token("not-a-token")
        .me()
        .await
        .expect_err("401");
    assert_eq!(e.status(), Some(401));
    let e = alice
        .check(Check::route("/x", "GET").as_user("bob"))
        .await
        .expect_err("403");
    assert_eq!(
        (e.status(), e.code()),
        (Some(403), Some("forbidden")),
        "{e}"
    );
    // A refresh token is used up by its use (and its reuse ends the session).
    let e = client
        .refresh(tokens.refresh_token.as_deref().expect("rt"))
        .await
        .expect_err("used up");
    assert_eq!(e.code(), Some("invalid_grant"));
}

#[tokio::test]
async fn a_thousand_concurrent_checks_go_out_in_about_a_thousand_over_batch_size_requests() {
    let w = warden(|_| {}).await;
    let client = Client::new(&w.base);
    let alice = client.with_token(&login(&client, "alice").await);
    let asks = (0..1000).map(|i| {
        let alice = alice.clone();
        tokio::spawn(async move {
            let path = if i % 2 == 0 {
                "/api/documents"
            } else {
                "/v1/admin/rules"
            };
            (
                i,
                alice
                    .allowed(Check::route(path, "GET"))
                    .await
                    .expect("check"),
            )
        })
    });
    for ask in futures_util::future::join_all(asks).await {
        let (i, allowed) = ask.expect("task");
        assert_eq!(allowed, i % 2 == 0, "answer {i} is its own");
    }
    let requests = client.check_requests();
    eprintln!("1000 concurrent checks: {requests} /v1/check requests");
    assert!((10..=20).contains(&requests), "{requests} requests");
}

#[tokio::test]
async fn a_stale_answer_is_retried_after_retry_after_until_the_version_is_there() {
    let w = warden(|c| c.min_version_wait = Duration::from_millis(50)).await;
    let client = Client::new(&w.base);
    let admin = client.with_token(&login(&client, "admin").await);
    let v = admin.policy_version().await.expect("version");
    let alice = client
        .with_token(&login(&client, "alice").await)
        .at_least(v + 1);
    let started = Instant::now();
    let ask = tokio::spawn(async move { alice.check(Check::route("/api/documents", "GET")).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let written = admin.add_rule(&rule(1)).await.expect("write");
    assert_eq!(written.policy_version, v + 1);
    let decided = ask.await.expect("task").expect("retried until current");
    assert!(decided.policy_version > v);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After (1 s) was honoured"
    );

    let no_retries = Client::with_options(
        &w.base,
        Options {
            retries: 0,
            ..Options::default()
        },
    );
    let alice = no_retries
        .with_token(&login(&no_retries, "alice").await)
        .at_least(v + 100);
    let e = alice
        .check(Check::route("/api/documents", "GET"))
        .await
        .expect_err("stale");
    assert_eq!(
        (e.status(), e.code()),
        (Some(503), Some("policy_stale")),
        "{e}"
    );
}

fn app(guard: Guard) -> Router {
    use axum::routing::get;
    Router::new()
        .route(
            "/api/documents",
            get(|| async { "list" }).post(|| async { "created" }),
        )
        .route(
            "/api/documents/{id}",
            get(|| async { "doc" })
                .put(|| async { "put" })
                .delete(|| async { "deleted" }),
        )
        .route("/v1/me", get(|| async { "me" }))
        .route("/v1/admin/rules", get(|| async { "rules" }))
        .route(
            "/app/pages/{id}",
            get(|| async { "page" }).put(|| async { "page" }),
        )
        .layer(guard)
}

async fn status(app: &Router, method: &str, path: &str, token: Option<&str>) -> StatusCode {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).expect("req"))
        .await
        .expect("infallible");
    res.status()
}

#[tokio::test]
async fn the_guard_decides_every_route_cell_like_the_server_in_both_modes() {
    let w = warden(|_| {}).await;
    let client = Client::new(&w.base);
    let replica = Replica::follow(
        &client,
        Credentials::Password {
            username: "admin".into(),
            password: ADMIN_PASSWORD.into(),
        },
    );
    let remote = app(Guard::remote(client.clone()));
    let local = app(Guard::replica(client.clone(), replica.clone()));
    // Before the first snapshot the replica decides nothing.
    let alice = login(&client, "alice").await;
    if replica.version().is_none() {
        assert_eq!(
            status(&local, "GET", "/api/documents", Some(&alice)).await,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    assert!(
        replica.wait_for(1, Duration::from_secs(10)).await,
        "snapshot"
    );

    let cells = [
        ("GET", "/api/documents"),
        ("POST", "/api/documents"),
        ("GET", "/api/documents/5"),
        ("HEAD", "/api/documents/5"),
        ("PUT", "/api/documents/5"),
        ("DELETE", "/api/documents/5"),
        ("GET", "/v1/me"),
        ("GET", "/v1/admin/rules"),
        ("GET", "/app/pages/3"),
        ("PUT", "/app/pages/3"),
    ];
    let (mut allowed, mut denied) = (0, 0);
    for user in ["alice", "bob", "carol", "dave", "erin", "admin"] {
        let token = login(&client, user).await;
        let me = client.with_token(&token).me().await.expect("me");
        let subject: Subject = me.policy_subject.into();
        for (method, path) in cells {
            let action = if method == "HEAD" { "GET" } else { method };
            let server = w
                .state
                .engine
                .decide(&subject, &Object::route(path), action)
                .expect("decide");
            let expected = if server.allowed {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            for (mode, app) in [("remote", &remote), ("replica", &local)] {
                assert_eq!(
                    status(app, method, path, Some(&token)).await,
                    expected,
                    "{mode}: {user} {method} {path}"
                );
            }
            if server.allowed {
                allowed += 1
            } else {
                denied += 1
            }
        }
    }
    assert!(
        allowed > 10 && denied > 5,
        "a matrix of both answers: {allowed} allowed, {denied} denied"
    );
    for app in [&remote, &local] {
        assert_eq!(
            status(app, "GET", "/api/documents", None).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(app, "GET", "/api/documents", Some("forged")).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status(app, "GET", "/api/documents/%35", Some(&alice)).await,
            StatusCode::BAD_REQUEST
        );
    }
}

#[tokio::test]
async fn a_replica_follows_a_hundred_edits_and_resumes_after_a_disconnect_without_missing_one() {
    let w = warden(|_| {}).await;
    let client = Client::new(&w.base);
    let admin = client.with_token(&login(&client, "admin").await);
    let replica = Replica::follow(&client, Credentials::Token(admin.token().to_owned()));
    let v0 = admin.policy_version().await.expect("version");
    assert!(
        replica.wait_for(v0, Duration::from_secs(10)).await,
        "snapshot"
    );
    let mut lags = Vec::new();
    for n in 0..100 {
        if n == 50 {
            replica.reconnect();
        }
        let written = admin.add_rule(&rule(n)).await.expect("edit");
        let sent = Instant::now();
        assert!(
            replica
                .wait_for(written.policy_version, Duration::from_secs(5))
                .await,
            "version {}",
            written.policy_version
        );
        lags.push(sent.elapsed());
        // Each version's rules, none missed: the replica has exactly the server's rules.
        let current = replica.current().expect("compiled");
        let server = w.state.engine.snapshot().expect("snapshot");
        if current.version == server.version() {
            assert_eq!(
                current.policy.rules(),
                server.rules(),
                "version {}",
                current.version
            );
        }
    }
    assert_eq!(replica.version(), Some(v0 + 100));
    assert!(replica.connections() >= 2, "reconnected");
    lags.sort();
    let p99 = lags[98];
    eprintln!(
        "replica lag over 100 edits: p50 {:?}, p99 {p99:?}, max {:?}",
        lags[49], lags[99]
    );
    assert!(
        p99 < Duration::from_millis(500),
        "p99 lag {p99:?} (target < 100 ms)"
    );
}

#[tokio::test]
async fn the_replica_decides_exactly_like_the_server_on_random_requests() {
    let w = warden(|_| {}).await;
    let client = Client::new(&w.base);
    let admin = client.with_token(&login(&client, "admin").await);
    let replica = Replica::follow(&client, Credentials::Token(admin.token().to_owned()));
    let v = admin.policy_version().await.expect("version");
    assert!(replica.wait_for(v, Duration::from_secs(10)).await);
    let mut subjects = Vec::new();
    for user in ["alice", "bob", "carol", "dave", "erin", "admin"] {
        let token = login(&client, user).await;
        subjects.push(Subject::from(
            client
                .with_token(&token)
                .me()
                .await
                .expect("me")
                .policy_subject,
        ));
    }
    // A small deterministic generator (xorshift): the same cases every run.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let departments = ["eng", "sales", "audit"];
    let owners = ["alice", "bob", "erin", "zed"];
    let routes = [
        "/api/documents",
        "/api/documents/7",
        "/v1/me",
        "/v1/admin/rules",
        "/app/pages/1",
        "/v1/check",
    ];
    let actions = [
        "read", "update", "create", "delete", "relabel", "GET", "PUT", "POST", "DELETE",
    ];
    let server = w.state.engine.snapshot().expect("snapshot");
    let local = replica.current().expect("replica");
    for _ in 0..5000 {
        let mut sub = subjects[next(subjects.len())].clone();
        if next(3) == 0 {
            sub.scopes.retain(|_| next(2) == 0);
        }
        let obj = if next(2) == 0 {
            Object::route(routes[next(routes.len())])
        } else {
            let mut attributes = BTreeMap::new();
            if next(5) != 0 {
                attributes.insert(
                    "department".to_owned(),
                    AttrValue::Str(departments[next(3)].into()),
                );
            }
            if next(5) != 0 {
                attributes.insert("classification".to_owned(), AttrValue::Int(next(4) as i32));
            }
            attributes.insert("owner".to_owned(), AttrValue::Str(owners[next(4)].into()));
            Object {
                resource: "document".into(),
                attributes,
            }
        };
        let act = actions[next(actions.len())];
        let expected = server.policy().decide(&sub, &obj, act);
        assert_eq!(
            local.policy.decide(&sub, &obj, act),
            expected,
            "{sub:?} {obj:?} {act}"
        );
    }
}
