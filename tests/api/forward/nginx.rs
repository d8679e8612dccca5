//! A real nginx (`auth_request`) in front of a tiny upstream, asking a real Warden: the
//! README's snippet (`scripts/nginx/forward-auth.conf`) end to end.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Request, StatusCode, header};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;
use warden::auth::client::Cidr;

use crate::helpers::*;

/// The snippet the README shows, with its example addresses.
const SNIPPET: &str = include_str!("../../../scripts/nginx/forward-auth.conf");
/// Overrides where the nginx binary is.
const NGINX_VAR: &str = "WARDEN_TEST_NGINX";

/// The nginx binary: None (after printing why) on a developer machine without one; a panic in
/// CI (`CI` set), so a missing nginx never passes silently.
fn nginx_or_skip(test: &str) -> Option<PathBuf> {
    let bin = PathBuf::from(std::env::var(NGINX_VAR).unwrap_or_else(|_| "/usr/sbin/nginx".into()));
    if bin.is_file() {
        return Some(bin);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "{test} needs nginx at {}: install Debian's `nginx`",
            bin.display()
        );
    }
    eprintln!(
        "SKIPPED {test}: needs nginx at {} (apt-get install nginx, or set {NGINX_VAR})",
        bin.display()
    );
    None
}

/// A free loopback port (closed again: nginx binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// nginx in the foreground as one process (`master_process off`), everything it writes
/// inside `dir`; killed when dropped.
struct Nginx {
    child: std::process::Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nginx {
    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

/// The main configuration around the snippet: the test's paths, ports and user.
fn config(dir: &Path, port: u16, warden: SocketAddr, app: SocketAddr) -> String {
    let snippet = SNIPPET
        .replace("127.0.0.1:8080", &warden.to_string())
        .replace("127.0.0.1:3000", &app.to_string())
        .replace("127.0.0.1:8000", &format!("127.0.0.1:{port}"));
    // As root, nginx would otherwise switch to `nobody`, who cannot read the temp dir.
    // `/proc/self` belongs to the process's effective user.
    let root = {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    };
    let d = dir.display();
    format!(
        "{user}daemon off;\nmaster_process off;\nerror_log {d}/error.log info;\npid {d}/nginx.pid;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
         proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  \
         scgi_temp_path {d}/scgi;\n{snippet}\n}}\n",
        user = if root { "user root;\n" } else { "" },
    )
}

async fn start_nginx(bin: &Path, warden: SocketAddr, app: SocketAddr) -> Nginx {
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, config(dir.path(), port, warden, app)).expect("write config");
    let child = std::process::Command::new(bin)
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn nginx");
    let mut nginx = Nginx {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        dir,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tokio::net::TcpStream::connect(nginx.addr).await.is_ok() {
            return nginx;
        }
        if let Ok(Some(status)) = nginx.child.try_wait() {
            panic!("nginx exited ({status}):\n{}", nginx.error_log());
        }
        assert!(
            Instant::now() < deadline,
            "nginx did not listen within 10 s:\n{}",
            nginx.error_log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The upstream app: echoes who Warden said the caller is.
async fn start_upstream() -> SocketAddr {
    async fn echo(headers: HeaderMap, uri: axum::http::Uri) -> String {
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        };
        format!(
            "upstream {uri} user={} roles={}",
            h("x-warden-user"),
            h("x-warden-roles")
        )
    }
    let app = axum::Router::new().fallback(echo);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

struct Answer {
    status: u16,
    head: String,
    body: String,
}

/// One HTTP/1.0 request (the connection closes after the answer).
async fn send(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut req = format!("{method} {path} HTTP/1.0\r\nHost: app.test\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"));
    Answer {
        status,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

async fn token(router: &axum::Router, user: &str, password: &str) -> String {
    let req = Request::post("/v1/auth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!(
            "grant_type=password&username={user}&password={password}"
        )))
        .expect("request");
    let res = router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .expect("body")
        .to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
    v["access_token"].as_str().expect("token").to_owned()
}

/// Warden (trusting nginx on 127.0.0.1, with `edit` applied), the upstream and nginx in front.
async fn stack(edit: impl FnOnce(&mut warden::config::Config)) -> (Served, Nginx, axum::Router) {
    let bin = nginx_or_skip("the nginx forward-auth tests").expect("nginx");
    let warden = served(|c| {
        c.proxies.trusted = vec![Cidr::parse("127.0.0.1/32").expect("cidr")];
        edit(c);
    })
    .await;
    let upstream = start_upstream().await;
    let nginx = start_nginx(&bin, warden.addr, upstream).await;
    let router = warden::router(warden.state.clone());
    (warden, nginx, router)
}

/// Whether the nginx tests can run here (a panic in CI when they cannot).
fn have_nginx(test: &str) -> bool {
    nginx_or_skip(test).is_some()
}

/// A registered user's access token.
async fn reader_token(router: &axum::Router) -> String {
    let r = router
        .clone()
        .oneshot(
            Request::post("/v1/auth/register")
                .header(header::CONTENT_TYPE, "application/json")
                .body(axum::body::Body::from(
                    serde_json::json!({"username": "Reader", "password": PASSWORD}).to_string(),
                ))
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(r.status(), StatusCode::CREATED);
    token(router, "reader", PASSWORD).await
}

/// Adds a rule as the admin (201 asserted).
async fn add_rule(warden: &Served, rule: serde_json::Value) {
    let app = warden.app();
    app.add_rule(&app.admin_token().await, rule).await;
}

#[tokio::test]
async fn nginx_auth_request_lets_allowed_requests_through_and_stops_denied_and_anonymous_ones() {
    if !have_nginx("nginx_auth_request_lets_allowed_requests_through") {
        return;
    }
    let (_warden, nginx, router) = stack(|_| {}).await;
    let reader = reader_token(&router).await;
    let admin = token(&router, "admin", ADMIN_PASSWORD).await;
    let bearer = |t: &str| format!("Bearer {t}");
    let log = || nginx.error_log();

    // allowed: the upstream answers, and hears who the caller is from Warden, not the client
    let reader_auth = bearer(&reader);
    let spoofing = [
        ("Authorization", reader_auth.as_str()),
        ("X-Warden-User", "admin"),
        ("X-Warden-Roles", "admin"),
        ("X-Forwarded-Method", "PUT"),
        ("X-Forwarded-Uri", "/app/pages/1"),
    ];
    let ok = send(nginx.addr, "GET", "/app/hello?x=1", &spoofing).await;
    assert_eq!(ok.status, 200, "{}\n{}\n{}", ok.head, ok.body, log());
    assert_eq!(ok.body, "upstream /app/hello?x=1 user=reader roles=user");

    // denied by the policy: 403, the upstream never asked
    let put = send(nginx.addr, "PUT", "/app/pages/1", &spoofing[..1]).await;
    assert_eq!(put.status, 403, "{}\n{}", put.head, log());
    assert!(!put.body.contains("upstream"), "{}", put.body);
    // a client spelling nginx normalises but Warden cannot read one way: a deny, not a 500
    let dots = send(nginx.addr, "GET", "/app/x/../hello", &spoofing[..1]).await;
    assert_eq!(dots.status, 403, "{}\n{}", dots.head, log());

    // anonymous or a bad token: 401 with the challenge Warden sent
    for headers in [vec![], vec![("Authorization", "Bearer not-a-token")]] {
        let anon = send(nginx.addr, "GET", "/app/hello", &headers).await;
        assert_eq!(anon.status, 401, "{}\n{}", anon.head, log());
        assert!(
            anon.head.contains("www-authenticate: bearer"),
            "{}",
            anon.head
        );
        assert!(!anon.body.contains("upstream"), "{}", anon.body);
    }

    // an admin reaches every method (the seed's admin rule)
    let admin_auth = bearer(&admin);
    let del = send(
        nginx.addr,
        "DELETE",
        "/app/pages/1",
        &[("Authorization", &admin_auth)],
    )
    .await;
    assert_eq!(del.status, 200, "{}\n{}", del.head, log());
    assert_eq!(
        del.body,
        "upstream /app/pages/1 user=admin roles=admin,user"
    );
}

#[tokio::test]
async fn nginx_never_lets_a_head_past_a_get_deny() {
    if !have_nginx("nginx_never_lets_a_head_past_a_get_deny") {
        return;
    }
    let (warden, nginx, router) = stack(|_| {}).await;
    let reader = format!("Bearer {}", reader_token(&router).await);
    // every method on the files, but not GET of the secret one (the reproduction)
    for rule in [
        serde_json::json!({"subject": "role:user", "object": "/app/files/*", "action": "*", "effect": "allow"}),
        serde_json::json!({"subject": "role:user", "object": "/app/files/secret", "action": "GET", "effect": "deny"}),
    ] {
        add_rule(&warden, rule).await;
    }
    let auth = [("Authorization", reader.as_str())];
    // method x path -> status through nginx: HEAD needs what GET needs
    for (method, path, want) in [
        ("GET", "/app/files/secret", 403),
        ("HEAD", "/app/files/secret", 403),
        ("GET", "/app/files/public", 200),
        ("HEAD", "/app/files/public", 200),
    ] {
        let r = send(nginx.addr, method, path, &auth).await;
        assert_eq!(
            r.status,
            want,
            "{method} {path}: {}\n{}",
            r.head,
            nginx.error_log()
        );
    }
}

#[tokio::test]
async fn nginx_never_answers_500_for_anything_a_client_sends() {
    if !have_nginx("nginx_never_answers_500_for_anything_a_client_sends") {
        return;
    }
    let (_warden, nginx, router) = stack(|_| {}).await;
    let reader = format!("Bearer {}", reader_token(&router).await);
    let junk: Vec<(String, String)> = (0..150)
        .map(|i| (format!("X-Junk-{i}"), "v".repeat(20)))
        .collect();
    let junk: Vec<(&str, &str)> = junk.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let with = |extra: &[(&'static str, &'static str)], token: bool| {
        let mut h: Vec<(&str, &str)> = extra.to_vec();
        if token {
            h.push(("Authorization", reader.as_str()));
        }
        h
    };
    // (path, headers, with a token) -> the status the client gets: never a 5xx
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16);
    let cases: Vec<Case> = vec![
        (
            "/app/hello",
            with(&[("Warden-Min-Version", "abc")], false),
            401,
        ),
        (
            "/app/hello",
            with(&[("Warden-Min-Version", "abc")], true),
            403,
        ),
        (
            "/app/hello",
            with(&[("Warden-Min-Version", "999999999")], true),
            403,
        ),
        (
            "/app/hello",
            with(&[("Warden-Min-Version", "999999999")], false),
            401,
        ),
        ("/app/caf\u{e9}", with(&[], true), 403),
        ("/app/caf\u{e9}", with(&[], false), 401),
        ("/app/hello", junk.clone(), 401),
        // (the test's upstream, hyper, takes at most 100 headers itself: 90 reach it)
        (
            "/app/hello",
            [junk[..90].to_vec(), with(&[], true)].concat(),
            200,
        ),
    ];
    for (path, headers, want) in cases {
        let r = send(nginx.addr, "GET", path, &headers).await;
        assert_eq!(
            r.status,
            want,
            "{path} with {} headers: {}\n{}",
            headers.len(),
            r.head,
            nginx.error_log()
        );
    }
}

/// `deny role:user /app/admin *` and the spellings Tomcat, Spring, Express or ASP.NET serve as
/// `/app/admin`: (path, allowed in exact mode, allowed in case-insensitive mode).
const ADMIN_RESPELLINGS: &[(&str, u16, u16)] = &[
    ("/app/admin", 403, 403),
    ("/app/admin;x", 403, 403),
    ("/app/admin;jsessionid=1", 403, 403),
    ("/app/x/..;/admin", 403, 403),
    ("/app/..;/app/admin", 403, 403),
    ("/app/ADMIN", 200, 403),
    ("/app/Admin", 200, 403),
    ("/app/%41dmin", 200, 403),
    ("/app/other", 200, 200),
];

async fn admin_respellings_through_nginx(case: warden::engine::resource::PathCase, exact: bool) {
    let (warden, nginx, router) = stack(|c| c.path_matching.case = case).await;
    let reader = format!("Bearer {}", reader_token(&router).await);
    add_rule(
        &warden,
        serde_json::json!({"subject": "role:user", "object": "/app/admin", "action": "*", "effect": "deny"}),
    )
    .await;
    let auth = [("Authorization", reader.as_str())];
    for (path, in_exact, in_folded) in ADMIN_RESPELLINGS {
        let want = if exact { *in_exact } else { *in_folded };
        for method in ["GET", "HEAD"] {
            let r = send(nginx.addr, method, path, &auth).await;
            assert_eq!(
                r.status,
                want,
                "{case:?}: {method} {path}: {}\n{}",
                r.head,
                nginx.error_log()
            );
        }
    }
}

#[tokio::test]
async fn nginx_refuses_segment_parameters_and_exact_mode_decides_case_as_sent() {
    if !have_nginx("nginx_refuses_segment_parameters_and_exact_mode") {
        return;
    }
    admin_respellings_through_nginx(warden::engine::resource::PathCase::Exact, true).await;
}

#[tokio::test]
async fn nginx_in_case_insensitive_mode_denies_every_case_of_a_denied_path() {
    if !have_nginx("nginx_in_case_insensitive_mode_denies_every_case") {
        return;
    }
    admin_respellings_through_nginx(warden::engine::resource::PathCase::CaseInsensitive, false)
        .await;
}

#[tokio::test]
async fn the_shipped_nginx_snippet_serves_warden_but_never_its_metrics() {
    if !have_nginx("the_shipped_nginx_snippet_serves_warden_but_never_its_metrics") {
        return;
    }
    let (_warden, nginx, _router) = stack(|_| {}).await;
    // the API answers through nginx (a login, with the client's address passed on)...
    let login = send(nginx.addr, "GET", "/healthz", &[]).await;
    assert_eq!(login.status, 200, "{}\n{}", login.head, nginx.error_log());
    // ...the metrics never, however spelled
    for path in [
        "/metrics",
        "//metrics",
        "/%6detrics",
        "/metrics?x=1",
        "/./metrics",
        "/metrics/",
    ] {
        let r = send(nginx.addr, "GET", path, &[]).await;
        assert_eq!(r.status, 404, "{path}: {}\n{}", r.head, nginx.error_log());
        assert!(!r.body.contains("warden_"), "{path}: {}", r.body);
    }
}

#[test]
fn the_readme_shows_the_nginx_snippet_the_test_runs() {
    let readme = include_str!("../../../README.md");
    let body: String = SNIPPET
        .lines()
        .filter(|l| !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        readme.contains(body.trim()),
        "README.md must show scripts/nginx/forward-auth.conf (comment lines aside)"
    );
}
