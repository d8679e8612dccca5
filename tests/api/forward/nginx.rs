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

#[tokio::test]
async fn nginx_auth_request_lets_allowed_requests_through_and_stops_denied_and_anonymous_ones() {
    let Some(bin) = nginx_or_skip("nginx_auth_request_lets_allowed_requests_through") else {
        return;
    };
    let warden =
        served(|c| c.proxies.trusted = vec![Cidr::parse("127.0.0.1/32").expect("cidr")]).await;
    let upstream = start_upstream().await;
    let nginx = start_nginx(&bin, warden.addr, upstream).await;
    let router = warden::router(warden.state.clone());
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
    let reader = token(&router, "reader", PASSWORD).await;
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
