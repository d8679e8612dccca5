//! Operating Warden: `/metrics`, request ids, the access log and security events, the
//! decision log and `GET /v1/admin/decisions`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    ADMIN_PASSWORD, PASSWORD, Process, TestApp, TestResponse, assert_error, served,
};

const REQUEST_ID: &str = "x-request-id";

/// A GET as if from TCP peer `peer`, with extra headers.
async fn get_from(app: &TestApp, peer: &str, path: &str, headers: &[(&str, &str)]) -> TestResponse {
    let mut req = Request::get(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::empty()).expect("request");
    let peer: std::net::IpAddr = peer.parse().expect("peer");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(SocketAddr::new(peer, 40_000)));
    app.send(req).await
}

pub(crate) async fn scrape(app: &TestApp) -> String {
    let r = get_from(app, "127.0.0.1", "/metrics", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body.as_str().expect("text").to_owned()
}

/// The value of the series `name{labels}` (labels exactly as rendered), 0 when absent.
pub(crate) fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().expect("number"))
}

async fn raw_get(addr: SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

// ---------------------------------------------------------------- metrics

#[tokio::test]
async fn metrics_answer_a_loopback_client_in_the_prometheus_text_format() {
    let app = TestApp::new().await;
    let r = get_from(&app, "127.0.0.1", "/metrics", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    // a family appears once it has a series: make one of each of these
    assert_eq!(
        app.login("admin", ADMIN_PASSWORD).await.status,
        StatusCode::OK
    );
    let text = scrape(&app).await;
    for family in [
        "# TYPE warden_http_requests_total counter",
        "# TYPE warden_http_request_duration_seconds histogram",
        "# TYPE warden_policy_reloads_total counter",
        "# TYPE warden_logins_total counter",
        "# TYPE warden_store_errors_total counter",
        "# TYPE warden_decision_log_dropped_total counter",
        "# TYPE warden_connections gauge",
        "# TYPE warden_policy_version gauge",
        "# TYPE warden_policy_rules gauge",
    ] {
        assert!(text.contains(family), "missing {family}");
    }
    let ipv6 = get_from(&app, "::1", "/metrics", &[]).await;
    assert_eq!(ipv6.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_are_a_404_for_remote_clients_proxied_requests_and_unknown_peers() {
    let app = TestApp::new().await;
    for (peer, headers) in [
        ("203.0.113.7", vec![]),
        ("10.0.0.1", vec![]),
        ("127.0.0.1", vec![("x-forwarded-for", "198.51.100.1")]),
        ("127.0.0.1", vec![("forwarded", "for=198.51.100.1")]),
        ("127.0.0.1", vec![("x-real-ip", "198.51.100.1")]),
        ("::1", vec![("via", "1.1 nginx")]),
    ] {
        let r = get_from(&app, peer, "/metrics", &headers).await;
        assert_error(&r, StatusCode::NOT_FOUND, "not_found");
    }
    // no peer address at all (an embedding app that does not provide ConnectInfo)
    let r = app.call(Method::GET, "/metrics", None, None).await;
    assert_error(&r, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_metrics_listen_metrics_are_served_there_and_not_on_the_main_listener() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let metrics_addr = SocketAddr::from(([127, 0, 0, 1], port));
    let server = served(|c| c.metrics_listen = Some(metrics_addr)).await;
    let main = raw_get(server.addr, "/metrics").await;
    assert!(main.starts_with("HTTP/1.1 404"), "{main}");
    // the metrics listener is bound by the spawned server task: wait until it is
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::net::TcpStream::connect(metrics_addr).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics listener never came up"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let dedicated = raw_get(metrics_addr, "/metrics").await;
    assert!(dedicated.starts_with("HTTP/1.1 200"), "{dedicated}");
    assert!(
        dedicated.contains(
            "warden_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"404\"} 1"
        ),
        "{dedicated}"
    );
    let other = raw_get(metrics_addr, "/healthz").await;
    assert!(other.starts_with("HTTP/1.1 404"), "{other}");
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_unmatched_paths_share_one_label() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let alice = app.demo_token("alice").await;
    assert_eq!(
        app.get("/api/documents/1", &alice).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.get("/api/documents/2", &alice).await.status,
        StatusCode::FORBIDDEN
    );
    app.get("/no/such/route/12345", &alice).await;
    app.get("/api/documents/1/nothing-here", &alice).await;
    let text = scrape(&app).await;
    let docs = "warden_http_requests_total{method=\"GET\",route=\"/api/documents/{id}\"";
    assert_eq!(
        value(&text, &format!("{docs},status=\"200\"}}")),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(&text, &format!("{docs},status=\"403\"}}")),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "warden_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        2.0,
        "{text}"
    );
    assert!(!text.contains("/no/such"), "a raw path became a label");
    assert!(
        !text.contains("/api/documents/1"),
        "a raw path became a label"
    );
    assert!(text.contains(
        "warden_http_request_duration_seconds_count{method=\"GET\",route=\"/api/documents/{id}\"} 2"
    ));
    // decisions by point, route and result: doc 2 is allowed by the route guard, denied on
    // the object (sales, not alice's department)
    let d = |point: &str, result: &str| {
        value(
            &text,
            &format!(
                "warden_decisions_total{{point=\"{point}\",route=\"/api/documents/{{id}}\",result=\"{result}\"}}"
            ),
        )
    };
    assert_eq!(d("route", "allow"), 2.0, "{text}");
    assert_eq!(d("object", "allow"), 1.0, "{text}");
    assert_eq!(d("object", "deny"), 1.0, "{text}");
    assert!(
        value(
            &text,
            "warden_decision_duration_seconds_count{point=\"route\"}"
        ) >= 2.0
    );
}

#[tokio::test]
async fn login_outcomes_and_rate_limit_refusals_are_counted() {
    let app = TestApp::with_config(|c| c.login_limits.free_failures = 1).await;
    assert_eq!(
        app.login("admin", ADMIN_PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(
        app.login("admin", "wrong-password-1").await.status,
        StatusCode::BAD_REQUEST
    );
    let throttled = app.login("admin", "wrong-password-3").await;
    assert_error(&throttled, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let text = scrape(&app).await;
    assert_eq!(
        value(&text, "warden_logins_total{outcome=\"success\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(&text, "warden_logins_total{outcome=\"failure\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(&text, "warden_logins_total{outcome=\"throttled\"}"),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "warden_rate_limited_total{method=\"POST\",route=\"/v1/auth/token\"}"
        ),
        1.0,
        "{text}"
    );
}

/// An account edit moves the policy version (so other instances hear of it) but changes no
/// rule: this instance serves the new version without loading or compiling the policy again,
/// and the very next request sees the edit.
#[tokio::test]
async fn an_account_edit_moves_the_version_without_reloading_the_policy() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    let erin = app.demo_token("erin").await;
    assert_eq!(app.get("/v1/me", &erin).await.status, StatusCode::OK);
    let reloads = |text: &str| value(text, "warden_policy_reloads_total{outcome=\"ok\"}");
    let before = reloads(&scrape(&app).await);
    let v0 = app.state.engine.snapshot().expect("policy").version();
    let r = app
        .call(
            Method::PATCH,
            "/v1/admin/users/erin",
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(
        r.headers["warden-policy-version"],
        (v0 + 1).to_string().as_str()
    );
    let snap = app.state.engine.snapshot().expect("policy");
    assert_eq!(snap.version(), v0 + 1);
    assert_eq!(reloads(&scrape(&app).await), before, "nothing was reloaded");
    assert_eq!(
        app.get("/v1/me", &erin).await.status,
        StatusCode::UNAUTHORIZED
    );
    // and what the engine serves is what a full load of that version gives
    let other = app.another_instance().await;
    let loaded = other.state.engine.snapshot().expect("policy");
    assert_eq!(loaded.version(), snap.version());
    assert_eq!(loaded.rules(), snap.rules());
    assert_eq!(loaded.assignments(), snap.assignments());
}

#[tokio::test]
async fn the_policy_version_gauge_and_reloads_follow_the_policy() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let before = scrape(&app).await;
    let v0 = app.state.engine.snapshot().expect("policy").version();
    assert_eq!(value(&before, "warden_policy_version"), v0 as f64);
    assert_eq!(
        value(&before, "warden_policy_reloads_total{outcome=\"ok\"}"),
        1.0,
        "the first load"
    );

    // a change made by another instance arrives here as a reload
    let other = app.another_instance().await;
    let rule =
        json!({"subject": "role:auditor", "object": "report", "action": "read", "effect": "allow"});
    let r = other
        .call(Method::POST, "/v1/admin/rules", Some(&admin), Some(rule))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    app.state.engine.reload().await.expect("reload");
    let after = scrape(&app).await;
    assert_eq!(value(&after, "warden_policy_version"), (v0 + 1) as f64);
    assert_eq!(
        value(&after, "warden_policy_reloads_total{outcome=\"ok\"}"),
        2.0
    );
    assert!(value(&after, "warden_policy_rules") > 0.0);

    // a load that fails is counted and the old version stays served
    app.state.engine.refuse_loads_from_for_tests(v0 + 2);
    let rule =
        json!({"subject": "role:auditor", "object": "memo", "action": "read", "effect": "allow"});
    other
        .call(Method::POST, "/v1/admin/rules", Some(&admin), Some(rule))
        .await;
    assert!(app.state.engine.reload().await.is_err());
    let failed = scrape(&app).await;
    assert_eq!(
        value(&failed, "warden_policy_reloads_total{outcome=\"failed\"}"),
        1.0
    );
    assert_eq!(value(&failed, "warden_policy_version"), (v0 + 1) as f64);
}

#[tokio::test]
async fn requests_failed_by_the_database_are_counted_as_store_errors() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let alice = app.demo_token("alice").await;
    warden::store::execute_for_tests(&app.state.db, "DROP TABLE documents")
        .await
        .expect("drop");
    let r = app.get("/api/documents/1", &alice).await;
    assert!(r.status.is_server_error(), "{r:?}");
    let text = scrape(&app).await;
    assert_eq!(value(&text, "warden_store_errors_total"), 1.0, "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_are_a_gauge_that_falls_when_they_close() {
    let server = served(|_| {}).await;
    let gauge = || value(&server.state.metrics.render(None), "warden_connections");
    let mut s = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).await.expect("read");
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    assert_eq!(gauge(), 1.0);
    drop(s);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while gauge() != 0.0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(gauge(), 0.0);
}

// ---------------------------------------------------------------- request ids

#[tokio::test]
async fn a_valid_request_id_is_echoed_and_a_missing_or_invalid_one_is_replaced() {
    let app = TestApp::new().await;
    let r = get_from(
        &app,
        "203.0.113.1",
        "/healthz",
        &[(REQUEST_ID, "abc-123.def:4")],
    )
    .await;
    assert_eq!(r.headers[REQUEST_ID], "abc-123.def:4");

    let generated = app.call(Method::GET, "/healthz", None, None).await;
    let id = generated.headers[REQUEST_ID].to_str().expect("ascii");
    assert_eq!(id.len(), 33, "prefix-counter: {id}");
    let next = app.call(Method::GET, "/healthz", None, None).await;
    assert_ne!(next.headers[REQUEST_ID], generated.headers[REQUEST_ID]);

    let long = "a".repeat(129);
    for bad in [long.as_str(), "has space", "quote\"d", "semi;colon"] {
        let r = get_from(&app, "203.0.113.1", "/healthz", &[(REQUEST_ID, bad)]).await;
        let id = r.headers[REQUEST_ID].to_str().expect("ascii");
        assert_ne!(id, bad);
        assert_eq!(id.len(), 33, "{bad:?} -> {id}");
    }
}

#[tokio::test]
async fn error_answers_carry_the_request_id_too() {
    let app = TestApp::new().await;
    let with_id = |method: Method, path: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header(REQUEST_ID, "req-42")
            .body(Body::empty())
            .expect("request")
    };
    for (req, status) in [
        (with_id(Method::GET, "/nowhere"), StatusCode::NOT_FOUND),
        (
            with_id(Method::DELETE, "/healthz"),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (with_id(Method::GET, "/v1/me"), StatusCode::UNAUTHORIZED),
    ] {
        let r = app.send(req).await;
        assert_eq!(r.status, status);
        assert_eq!(r.headers[REQUEST_ID], "req-42", "{r:?}");
    }
    let slow = TestApp::with_config(|c| c.request_timeout = Duration::ZERO).await;
    let req = Request::post("/v1/auth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(REQUEST_ID, "req-43")
        .body(Body::from(format!(
            "grant_type=password&username=admin&password={ADMIN_PASSWORD}"
        )))
        .expect("request");
    let r = slow.send(req).await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "timeout");
    assert_eq!(r.headers[REQUEST_ID], "req-43");
}

#[tokio::test]
async fn a_panicking_handler_answers_500_with_the_request_id() {
    use axum::routing::get;
    let app = TestApp::new().await;
    async fn boom() -> &'static str {
        panic!("boom")
    }
    let routes = axum::Router::new().route("/boom", get(boom));
    let router = warden::http::with_middleware(routes, app.state.clone());
    let req = Request::get("/boom")
        .header(REQUEST_ID, "req-panic")
        .body(Body::empty())
        .expect("request");
    let res = tower::ServiceExt::oneshot(router, req)
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(res.headers()[REQUEST_ID], "req-panic");
}

// ---------------------------------------------------------------- logs

/// Log output captured in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8")
    }
    fn json_lines(&self) -> Vec<Value> {
        self.text()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

fn capture(
    format: warden::logging::LogFormat,
    filter: &str,
) -> (Captured, tracing::subscriber::DefaultGuard) {
    let out = Captured::default();
    let subscriber = warden::logging::subscriber(
        format,
        tracing_subscriber::EnvFilter::new(filter),
        false,
        out.clone(),
    );
    (out, tracing::subscriber::set_default(subscriber))
}

/// Login, refresh (twice: the second is a reuse), an admin read and write, a registration
/// and a login of the new user, a decision check, a service account's life (created, its
/// token by both client authentication methods, a wrong secret, a rotation). Returns every
/// secret that was used.
async fn secret_flow(app: &TestApp) -> Vec<String> {
    let login = app.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK, "{login:?}");
    let access = login.body["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let refresh = login.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let refreshed = app.refresh(&refresh).await;
    assert_eq!(refreshed.status, StatusCode::OK, "{refreshed:?}");
    let reuse = app.refresh(&refresh).await;
    assert_eq!(reuse.status, StatusCode::BAD_REQUEST);
    let access2 = refreshed.body["access_token"]
        .as_str()
        .expect("access")
        .to_owned();
    let refresh2 = refreshed.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    let admin = app.admin_token().await;
    assert_eq!(
        app.get("/v1/admin/users", &admin).await.status,
        StatusCode::OK
    );
    let rule =
        json!({"subject": "role:auditor", "object": "report", "action": "read", "effect": "allow"});
    let r = app
        .call(Method::POST, "/v1/admin/rules", Some(&admin), Some(rule))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let (user_access, user_refresh) = app.user_tokens("zoe").await;
    let check = json!({"checks": [{"object": {"type": "document", "attributes": {"owner": "zoe"}}, "action": "read"}]});
    let r = app
        .call(Method::POST, "/v1/check", Some(&user_access), Some(check))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    // a service account: created, its token by Basic and by post, a failed attempt, rotated
    let svc = app.service_account(&admin, "ci-bot", &["user"], &[]).await;
    let basic = app
        .client_token_basic(&svc.client_id, &svc.client_secret, "")
        .await;
    let post = app
        .client_token_post(&svc.client_id, &svc.client_secret, "")
        .await;
    let wrong = format!("{}x", svc.client_secret);
    app.client_token_basic(&svc.client_id, &wrong, "").await;
    let rotated = app.rotate_service_secret(&admin, "ci-bot", None).await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{rotated:?}");
    let new_secret = rotated.body["client_secret"].as_str().expect("secret");
    let mut secrets = vec![
        ADMIN_PASSWORD.to_owned(),
        PASSWORD.to_owned(),
        SIGNING_SEED.to_owned(),
        svc.client_secret.clone(),
        wrong,
        new_secret.to_owned(),
    ];
    // the secrets' random parts alone, and the Basic header that carried the first
    for s in [&svc.client_secret, new_secret] {
        secrets.push(s.split_once('.').expect("shape").1.to_owned());
    }
    secrets.push(base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("{}:{}", svc.client_id, svc.client_secret),
    ));
    let service_tokens = [&basic, &post].map(|r| {
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        r.body["access_token"].as_str().expect("token").to_owned()
    });
    for token in [access, access2, admin, user_access]
        .into_iter()
        .chain(service_tokens)
    {
        // the whole token, and its signature alone
        secrets.push(token.rsplit('.').next().expect("signature").to_owned());
        secrets.push(token);
    }
    secrets.extend([refresh, refresh2, user_refresh]);
    secrets
}

/// A base64 Ed25519 seed given as `--signing-key`, so the test knows the key to look for.
const SIGNING_SEED: &str = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";

#[tokio::test]
async fn no_password_token_or_signing_key_reaches_the_logs_of_a_full_flow() {
    for format in [
        warden::logging::LogFormat::Json,
        warden::logging::LogFormat::Text,
    ] {
        let (out, _guard) = capture(format, "trace");
        let app =
            TestApp::with_config(|c| c.signing_key = Some(SIGNING_SEED.to_owned().into())).await;
        let secrets = secret_flow(&app).await;
        let logs = out.text();
        assert!(
            logs.contains("refresh token reuse detected"),
            "{format:?}: the flow was logged"
        );
        for secret in &secrets {
            assert!(
                !logs.contains(secret.as_str()),
                "{format:?}: a secret in the logs: {secret}"
            );
        }
    }
}

#[tokio::test]
async fn security_events_name_the_user_session_actor_and_version() {
    let (out, _guard) = capture(warden::logging::LogFormat::Json, "warden=info");
    let app = TestApp::with_config(|c| c.login_limits.free_failures = 1).await;
    let login = app.login("admin", ADMIN_PASSWORD).await;
    let refresh = login.body["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_owned();
    app.refresh(&refresh).await;
    app.refresh(&refresh).await;
    let admin = app.admin_token().await;
    let rule =
        json!({"subject": "role:auditor", "object": "report", "action": "read", "effect": "allow"});
    let created = app
        .call(Method::POST, "/v1/admin/rules", Some(&admin), Some(rule))
        .await;
    let version = created.headers["warden-policy-version"]
        .to_str()
        .expect("v")
        .parse::<i64>()
        .expect("n");
    app.login("admin", "wrong-1").await;
    app.login("admin", "wrong-2").await;
    app.login("admin", "wrong-3").await;
    let lines = out.json_lines();
    let event = |name: &str| {
        lines
            .iter()
            .find(|l| l["event"] == name)
            .unwrap_or_else(|| panic!("no {name} in {lines:?}"))
            .clone()
    };
    let reuse = event("refresh_token_reuse");
    assert_eq!(reuse["level"], "WARN");
    assert!(reuse["user_id"].as_i64().is_some(), "{reuse}");
    assert!(
        reuse["session_id"].as_str().is_some_and(|s| !s.is_empty()),
        "{reuse}"
    );
    let change = event("policy_changed");
    assert_eq!(change["actor"], "admin");
    assert_eq!(change["policy_version"], version);
    let throttled = event("login_throttled");
    assert_eq!(throttled["level"], "WARN");
    assert_eq!(throttled["username"], "admin");
}

// ---------------------------------------------------------------- decision log

fn decision_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("decision log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

async fn app_with_decision_log(
    dir: &tempfile::TempDir,
    edit: impl FnOnce(&mut warden::config::Config),
) -> (TestApp, std::path::PathBuf) {
    let path = dir.path().join("decisions.jsonl");
    let sink = path.clone();
    let app = TestApp::with_config(|c| {
        c.demo = true;
        c.decision_log.sink = Some(warden::decisions::Sink::File(sink));
        edit(c);
    })
    .await;
    (app, path)
}

#[tokio::test]
async fn every_decision_is_one_json_line_with_request_id_rules_version_and_no_attribute_values() {
    let dir = tempfile::tempdir().expect("dir");
    let (app, path) = app_with_decision_log(&dir, |_| {}).await;
    let alice = app.demo_token("alice").await;
    let req = Request::get("/api/documents/3")
        .header(header::AUTHORIZATION, format!("Bearer {alice}"))
        .header(REQUEST_ID, "why-denied-1")
        .body(Body::empty())
        .expect("request");
    assert_eq!(app.send(req).await.status, StatusCode::FORBIDDEN);
    app.state.decisions.settle(Duration::from_secs(5)).await;
    let lines = decision_lines(&path);
    let mine: Vec<&Value> = lines
        .iter()
        .filter(|l| l["request_id"] == "why-denied-1")
        .collect();
    assert_eq!(
        mine.len(),
        2,
        "the route guard's and the handler's: {lines:?}"
    );
    let route = mine
        .iter()
        .find(|l| l["point"] == "route")
        .expect("route decision");
    assert_eq!(route["subject"], "alice");
    assert_eq!(route["resource"], "/api/documents/3");
    assert_eq!(route["action"], "GET");
    assert_eq!(route["allowed"], true);
    assert!(!route["matched_rules"].as_array().expect("ids").is_empty());
    let object = mine
        .iter()
        .find(|l| l["point"] == "object")
        .expect("object decision");
    assert_eq!(object["resource"], "document");
    assert_eq!(object["action"], "read");
    assert_eq!(object["allowed"], false);
    assert_eq!(object["error"], false);
    let version = app.state.engine.snapshot().expect("policy").version();
    assert_eq!(object["policy_version"], version);
    assert!(object["latency_us"].is_u64());
    assert!(object["time"].as_str().expect("time").ends_with('Z'));
    // no attribute values unless listed
    assert!(object.get("attributes").is_none(), "{object}");
    let text = std::fs::read_to_string(&path).expect("log");
    assert!(!text.contains("\"eng\""), "an attribute value was logged");
    assert!(!text.contains(&alice), "a token was logged");
}

#[cfg(unix)]
#[tokio::test]
async fn an_existing_decision_log_readable_by_others_is_narrowed_to_0600() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("decisions.jsonl");
    std::fs::write(&path, "").expect("create");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (_app, path) = app_with_decision_log(&dir, |_| {}).await;
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
}

#[tokio::test]
async fn listed_attributes_are_logged_with_their_values_and_others_not_at_all() {
    let dir = tempfile::tempdir().expect("dir");
    let (app, path) = app_with_decision_log(&dir, |c| {
        c.decision_log.attributes = vec!["department".into()]
    })
    .await;
    let alice = app.demo_token("alice").await;
    assert_eq!(
        app.get("/api/documents/1", &alice).await.status,
        StatusCode::OK
    );
    app.state.decisions.settle(Duration::from_secs(5)).await;
    let lines = decision_lines(&path);
    let object = lines
        .iter()
        .find(|l| l["point"] == "object")
        .expect("object decision");
    assert_eq!(
        object["attributes"],
        json!({"subject.department": "eng", "object.department": "eng"})
    );
    let text = std::fs::read_to_string(&path).expect("log");
    assert!(
        !text.contains("clearance"),
        "an unlisted attribute was logged"
    );
}

#[tokio::test]
async fn check_decisions_are_logged_and_a_sample_thins_the_file_and_the_admin_view_alike() {
    let dir = tempfile::tempdir().expect("dir");
    let (app, path) = app_with_decision_log(&dir, |c| c.decision_log.sample = 0.5).await;
    let admin = app.admin_token().await;
    let checks: Vec<Value> = (0..10)
        .map(|i| json!({"subject": {"name": "alice"}, "object": {"type": "document", "attributes": {"owner": format!("u{i}")}}, "action": "read"}))
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
    app.state.decisions.settle(Duration::from_secs(5)).await;
    let about_alice = decision_lines(&path)
        .into_iter()
        .filter(|l| l["subject"] == "alice")
        .count();
    assert_eq!(about_alice, 5, "every second decision");
    let recent = app
        .get("/v1/admin/decisions?subject=alice&limit=500", &admin)
        .await;
    assert_eq!(recent.status, StatusCode::OK, "{recent:?}");
    let decisions = recent.body["decisions"].as_array().expect("decisions");
    assert_eq!(decisions.len(), 5, "the ring holds what was logged");
    assert!(
        decisions
            .iter()
            .all(|d| d["point"] == "check" && d["resource"] == "document")
    );
}

#[tokio::test]
async fn admins_read_a_subjects_recent_decisions_newest_first_and_bounded() {
    let dir = tempfile::tempdir().expect("dir");
    let (app, _) = app_with_decision_log(&dir, |_| {}).await;
    let admin = app.admin_token().await;
    let alice = app.demo_token("alice").await;
    for id in [1, 2, 3] {
        app.get(&format!("/api/documents/{id}"), &alice).await;
    }
    let r = app
        .get("/v1/admin/decisions?subject=alice&limit=2", &admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let d = r.body["decisions"].as_array().expect("decisions");
    assert_eq!(d.len(), 2);
    assert_eq!(d[0]["resource"], "document", "newest: doc 3's object check");
    assert_eq!(d[1]["resource"], "/api/documents/3");
    assert!(d.iter().all(|x| x["subject"] == "alice"));
    // the admin's own decision (this request's guard) is there under its own name
    let own = app.get("/v1/admin/decisions?subject=admin", &admin).await;
    assert_eq!(own.body["decisions"][0]["resource"], "/v1/admin/decisions");
    for bad in ["limit=0", "limit=501"] {
        let r = app
            .get(&format!("/v1/admin/decisions?subject=alice&{bad}"), &admin)
            .await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let r = app.get("/v1/admin/decisions", &admin).await;
    assert_error(&r, StatusCode::BAD_REQUEST, "bad_request");
    let denied = app.get("/v1/admin/decisions?subject=alice", &alice).await;
    assert_error(&denied, StatusCode::FORBIDDEN, "forbidden");
}

// ---------------------------------------------------------------- the binary

fn warden() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
}

#[test]
fn help_names_the_log_level_and_format_variables() {
    let out = warden().args(["serve", "--help"]).output().expect("run");
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "env: WARDEN_LOG=",
        "env: WARDEN_LOG_FORMAT=",
        "--log-level",
        "--metrics-listen",
        "--decision-log",
    ] {
        assert!(help.contains(needle), "{needle} missing from\n{help}");
    }
}

#[test]
fn the_startup_line_says_version_address_database_and_policy_without_colours_in_a_pipe() {
    let text = Process::start(&[]).line_with("warden started");
    assert!(
        !text.contains('\u{1b}'),
        "ANSI escape codes in a pipe: {text:?}"
    );
    for needle in [
        env!("CARGO_PKG_VERSION"),
        "listen=127.0.0.1:",
        "database=sqlite",
        "policy_version=",
        "rules=",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
}

#[test]
fn json_logs_are_one_object_per_line_with_stable_fields_and_the_request_id_on_each() {
    let mut warden = Process::start(&["--log-format", "json"]);
    let started: Value = serde_json::from_str(&warden.line_with("warden started")).expect("JSON");
    for field in ["timestamp", "level", "target", "message"] {
        assert!(started.get(field).is_some(), "no {field}: {started}");
    }
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["version"], env!("CARGO_PKG_VERSION"));
    assert!(started["policy_version"].as_i64().is_some(), "{started}");
    assert!(
        started["rules"].as_u64().is_some_and(|n| n > 0),
        "{started}"
    );
    let addr: SocketAddr = started["listen"]
        .as_str()
        .expect("listen")
        .parse()
        .expect("addr");

    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(
        b"GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-me-1\r\nConnection: close\r\n\r\n",
    )
    .expect("write");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 401"), "{response}");

    let access: Value = serde_json::from_str(&warden.line_with("trace-me-1")).expect("JSON");
    assert_eq!(access["target"], "warden::access");
    assert_eq!(access["level"], "INFO");
    assert_eq!(access["method"], "GET");
    assert_eq!(access["route"], "/v1/me");
    assert_eq!(access["status"], 401);
    assert!(access["latency_ms"].is_number(), "{access}");
    assert_eq!(access["request_id"], "trace-me-1");
    // the request's span: on every line logged while serving it
    assert_eq!(access["span"]["request_id"], "trace-me-1");
    assert_eq!(access["span"]["route"], "/v1/me");
    // rounded to the microsecond: at most three decimals
    let latency = access["latency_ms"].to_string();
    assert!(
        latency.split('.').nth(1).is_none_or(|d| d.len() <= 3),
        "{latency}"
    );
    assert!(
        access.get("path").is_none(),
        "a matched route logs its template only: {access}"
    );

    // No route matched: the line names the path asked for (bounded), not only `unmatched`.
    let long = "x".repeat(400);
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.write_all(
        format!(
            "GET /no/such/{long}?secret=1 HTTP/1.1\r\nHost: x\r\nX-Request-Id: trace-me-2\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .expect("write");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read");
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    let access: Value = serde_json::from_str(&warden.line_with("trace-me-2")).expect("JSON");
    assert_eq!(access["route"], "unmatched");
    let path = access["path"].as_str().expect("path");
    assert!(path.starts_with("/no/such/xxx"), "{path}");
    assert!(!path.contains("secret"), "the query is not logged: {path}");
    assert_eq!(
        path.chars().count(),
        warden::logging::LOGGED_PATH_CHARS + 1,
        "bounded: {path}"
    );
}

/// Under docker or systemd both streams reach one collector: in JSON mode every line the
/// server prints (where it listens, how to log in, a start that fails) is a JSON object too.
#[test]
fn in_json_mode_every_line_on_stdout_and_stderr_is_a_json_object() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("w.db").display());
    let mut child = warden()
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        .args(["--log-format", "json", "--demo"])
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut messages = Vec::new();
    for line in stdout.lines() {
        let line = line.expect("line");
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_eq!(v["level"], "INFO", "{v}");
        assert!(v["timestamp"].is_string(), "{v}");
        let message = v["message"].as_str().expect("message").to_owned();
        let done = message.starts_with("API docs");
        messages.push(message);
        if done {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let all = messages.join("\n");
    for needle in [
        "warden listening on http://127.0.0.1:",
        "bootstrap admin created",
        "demo users",
    ] {
        assert!(all.contains(needle), "{needle} missing from {all}");
    }

    // A start that fails says so on stderr as one JSON object with level ERROR.
    let out = warden()
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            "nosuch://x",
        ])
        .args(["--log-format", "json"])
        .env_clear()
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(!lines.is_empty(), "nothing on stderr");
    for line in lines {
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_eq!(v["level"], "ERROR", "{v}");
    }
}

#[tokio::test]
async fn without_a_decision_log_nothing_is_recorded() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    let alice = app.demo_token("alice").await;
    for id in [1, 2, 3] {
        app.get(&format!("/api/documents/{id}"), &alice).await;
    }
    let r = app
        .get("/v1/admin/decisions?subject=alice&limit=50", &admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["decisions"], json!([]));
}

/// Registrations must not pile up argon2id working areas (19 MiB each) in the allocator's
/// heaps: before the binary pinned glibc's mmap threshold, 15 registrations added ~120 MB.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn registrations_do_not_pile_up_hashing_memory_in_the_server() {
    let mut server = Process::start(&[]);
    let addr = server.address();
    let rss_kib = |pid: u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .expect("status")
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    };
    let pid = server.id();
    let before = rss_kib(pid);
    for i in 0..15 {
        let body = format!(r#"{{"username":"mem{i}","password":"pw-long-enough-{i}"}}"#);
        let request = format!(
            "POST /v1/auth/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut s = std::net::TcpStream::connect(&addr).expect("connect");
        std::io::Write::write_all(&mut s, request.as_bytes()).expect("send");
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut s, &mut answer).expect("read");
        assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    }
    let after = rss_kib(pid);
    assert!(
        after < before + 60 * 1024,
        "resident memory grew from {before} KiB to {after} KiB over 15 registrations"
    );
}
