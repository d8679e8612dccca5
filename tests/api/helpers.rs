//! `TestApp`: a fresh database, the real router, one method per endpoint.

pub mod browser;
pub mod oidc;
pub mod service_accounts;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use warden::clock::ManualClock;
use warden::config::Config;

pub const ADMIN_PASSWORD: &str = "admin-password-1";
pub const PASSWORD: &str = "correct-horse-battery";

pub struct TestApp {
    pub state: warden::AppState,
    pub router: axum::Router,
    pub clock: ManualClock,
    /// The database every instance of this app shares.
    pub url: String,
    pub _dir: Arc<tempfile::TempDir>,
}

/// The variable naming a Postgres server for the tests (`scripts/pg.sh test` and `.ci/run`
/// set it): a URL whose user may `CREATE DATABASE`. Tests of what only Postgres does (change
/// notifications) need it; with [`BACKEND_VAR`]`=postgres` every test runs on it.
pub const PG_VAR: &str = "WARDEN_TEST_POSTGRES";
/// `postgres` runs the whole suite on [`PG_VAR`]'s server instead of SQLite files.
pub const BACKEND_VAR: &str = "WARDEN_TEST_BACKEND";

/// A fresh, empty database for one test: a new Postgres database when [`BACKEND_VAR`] says
/// so, else a SQLite file in `dir`. Postgres databases are left behind (the test cluster is
/// thrown away as a whole).
pub async fn fresh_database_url(dir: &std::path::Path) -> String {
    if std::env::var(BACKEND_VAR).as_deref() == Ok("postgres") {
        let server = std::env::var(PG_VAR)
            .unwrap_or_else(|_| panic!("{BACKEND_VAR}=postgres needs {PG_VAR}"));
        fresh_postgres_database(&server).await
    } else {
        format!("sqlite://{}", dir.join("warden.db").display())
    }
}

/// A fresh Postgres database for a test that cannot run without one: None (after printing
/// why) on a developer machine without a server; a panic in CI (`CI` set), so a missing server
/// never passes silently.
pub async fn postgres_or_skip(test: &str) -> Option<String> {
    match std::env::var(PG_VAR) {
        Ok(server) => Some(fresh_postgres_database(&server).await),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("{test} needs Postgres: {PG_VAR} is not set in CI")
        }
        Err(_) => {
            eprintln!("SKIPPED {test}: needs Postgres; `scripts/pg.sh test` runs it");
            None
        }
    }
}

/// Creates an empty database on `server` and returns its URL.
pub async fn fresh_postgres_database(server: &str) -> String {
    use sqlx::Connection;
    let name = format!("warden_t_{}", hex_id());
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .expect("connect to the test Postgres server");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let _ = conn.close().await;
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (server, String::new()),
    };
    let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
    format!("{base}/{name}{query}")
}

fn hex_id() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl TestResponse {
    pub fn error_code(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(edit: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = fresh_database_url(dir.path()).await;
        Self::on_database(dir, url, edit).await
    }

    /// An instance on the database `url` (files such as keys go to `dir`).
    pub async fn on_database(
        dir: tempfile::TempDir,
        url: String,
        edit: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config::for_database(&url);
        config.admin_password = Some(ADMIN_PASSWORD.to_owned().into());
        // Most tests exercise the example resource; the default (off) has its own test.
        config.example_documents = true;
        edit(&mut config);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs() as i64;
        let clock = ManualClock::new(now);
        let started = warden::bootstrap::start(config, Arc::new(clock.clone()))
            .await
            .expect("start");
        let router = warden::router(started.state.clone());
        Self {
            state: started.state,
            router,
            clock,
            url,
            _dir: Arc::new(dir),
        }
    }

    /// A second Warden instance on the same database (what a scale-out deployment runs).
    pub async fn another_instance(&self) -> TestApp {
        self.another_instance_with(|_| {}).await
    }

    /// [`TestApp::another_instance`] with `edit`ed config.
    pub async fn another_instance_with(&self, edit: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = Config::for_database(&self.url);
        config.admin_password = Some(ADMIN_PASSWORD.to_owned().into());
        // Most tests exercise the example resource; the default (off) has its own test.
        config.example_documents = true;
        edit(&mut config);
        let started = warden::bootstrap::start(config, Arc::new(self.clock.clone()))
            .await
            .expect("second instance");
        let router = warden::router(started.state.clone());
        TestApp {
            state: started.state,
            router,
            clock: self.clock.clone(),
            url: self.url.clone(),
            _dir: self._dir.clone(),
        }
    }

    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        let res = self.router.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        TestResponse {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> TestResponse {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        self.send(req.expect("request")).await
    }

    /// Adds a rule as `admin` (201 asserted); the answer names the version it created.
    /// Stores the shipped invariants without their `properties:` section, for a test that
    /// deliberately opens an admin route to a non-admin (which the shipped property
    /// `admin-api-for-admins-only` refuses) to test something else.
    pub async fn drop_shipped_properties(&self, admin: &str) {
        let shipped = include_str!("../../policies/matrices/invariants.yaml");
        let without = shipped
            .split("\nproperties:")
            .next()
            .expect("the text before the properties");
        let req = Request::builder()
            .method(Method::PUT)
            .uri("/v1/admin/matrices/invariants")
            .header(header::AUTHORIZATION, format!("Bearer {admin}"))
            .header(header::CONTENT_TYPE, "application/yaml")
            .body(Body::from(format!("{without}\n")))
            .expect("request");
        let r = self.send(req).await;
        assert!(r.status.is_success(), "{r:?}");
    }

    pub async fn add_rule(&self, admin: &str, rule: Value) -> TestResponse {
        let r = self
            .call(Method::POST, "/v1/admin/rules", Some(admin), Some(rule))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        r
    }

    /// Gives `member` the role `role` as `admin` (`POST /v1/admin/roles/assignments`); the
    /// answer is returned unchecked, for tests of refusals too.
    pub async fn assign(&self, admin: &str, member: &str, role: &str) -> TestResponse {
        let body = serde_json::json!({"member": member, "role": role});
        self.call(
            Method::POST,
            "/v1/admin/roles/assignments",
            Some(admin),
            Some(body),
        )
        .await
    }

    pub async fn get(&self, path: &str, token: &str) -> TestResponse {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn register(&self, username: &str, password: &str) -> TestResponse {
        self.call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"username": username, "password": password})),
        )
        .await
    }

    pub async fn token_form(&self, form: &str) -> TestResponse {
        let req = Request::post("/v1/auth/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .expect("request");
        self.send(req).await
    }

    pub async fn login(&self, username: &str, password: &str) -> TestResponse {
        self.token_form(&format!(
            "grant_type=password&username={username}&password={password}"
        ))
        .await
    }

    pub async fn login_scoped(&self, username: &str, password: &str, scope: &str) -> TestResponse {
        self.token_form(&format!(
            "grant_type=password&username={username}&password={password}&scope={}",
            scope.replace(' ', "+")
        ))
        .await
    }

    /// Registers and logs in; returns (access, refresh).
    pub async fn user_tokens(&self, username: &str) -> (String, String) {
        let r = self.register(username, PASSWORD).await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        let t = self.login(username, PASSWORD).await;
        assert_eq!(t.status, StatusCode::OK, "{t:?}");
        (
            t.body["access_token"].as_str().expect("access").to_owned(),
            t.body["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        )
    }

    /// An access token of a demo user (apps made with `c.demo = true`).
    pub async fn demo_token(&self, user: &str) -> String {
        let t = self
            .login(user, warden::bootstrap::demo::DEMO_PASSWORD)
            .await;
        assert_eq!(t.status, StatusCode::OK, "login {user}: {t:?}");
        t.body["access_token"].as_str().expect("token").to_owned()
    }

    /// The current policy version, as an admin reads it.
    pub async fn policy_version(&self, admin: &str) -> i64 {
        self.get("/v1/admin/policy", admin).await.body["policy_version"]
            .as_i64()
            .expect("version")
    }

    pub async fn admin_token(&self) -> String {
        let t = self.login("admin", ADMIN_PASSWORD).await;
        assert_eq!(t.status, StatusCode::OK, "{t:?}");
        t.body["access_token"].as_str().expect("access").to_owned()
    }

    pub async fn refresh(&self, refresh_token: &str) -> TestResponse {
        self.token_form(&format!(
            "grant_type=refresh_token&refresh_token={refresh_token}"
        ))
        .await
    }
}

/// Asserts an error response has the JSON shape and the code.
pub fn assert_error(r: &TestResponse, status: StatusCode, code: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.error_code(), code, "{r:?}");
    assert!(r.body["message"].is_string(), "{r:?}");
}

impl TestApp {
    /// A password login as if from TCP peer `peer`, with extra headers (e.g. X-Forwarded-For).
    pub async fn login_from(
        &self,
        peer: &str,
        headers: &[(&str, &str)],
        username: &str,
        password: &str,
    ) -> TestResponse {
        let mut req = Request::post("/v1/auth/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = req
            .body(Body::from(format!(
                "grant_type=password&username={username}&password={password}"
            )))
            .expect("request");
        let peer: std::net::IpAddr = peer.parse().expect("peer address");
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(
                peer, 40_000,
            )));
        self.send(req).await
    }
}

/// A real server on 127.0.0.1 (random port) over a fresh database, with `edit`ed config.
/// Dropping it shuts the server down and removes the database.
pub struct Served {
    pub addr: std::net::SocketAddr,
    pub state: warden::AppState,
    pub url: String,
    /// The server's clock, for servers made by [`served_with_clock`].
    pub clock: Option<ManualClock>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Served {
    /// The API of this server as a [`TestApp`] (its router over the same state: the same
    /// database and engine), for driving it beside what a real client does over the socket.
    pub fn app(&self) -> TestApp {
        TestApp {
            state: self.state.clone(),
            router: warden::router(self.state.clone()),
            clock: self.clock.clone().unwrap_or_else(|| ManualClock::new(0)),
            url: self.url.clone(),
            _dir: Arc::new(tempfile::tempdir().expect("tempdir")),
        }
    }
}

pub async fn served(edit: impl FnOnce(&mut Config)) -> Served {
    served_on(edit, None).await
}

/// [`served`] on a manual clock (starting now), which the test moves forward.
pub async fn served_with_clock(edit: impl FnOnce(&mut Config)) -> Served {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64;
    served_on(edit, Some(ManualClock::new(now))).await
}

async fn served_on(edit: impl FnOnce(&mut Config), clock: Option<ManualClock>) -> Served {
    let dir = tempfile::tempdir().expect("dir");
    let url = fresh_database_url(dir.path()).await;
    let mut config = Config::for_database(&url);
    config.admin_password = Some(ADMIN_PASSWORD.to_owned().into());
    config.example_documents = true;
    edit(&mut config);
    let time: Arc<dyn warden::clock::Clock> = match &clock {
        Some(c) => Arc::new(c.clone()),
        None => Arc::new(warden::clock::SystemClock),
    };
    let started = warden::bootstrap::start(config, time).await.expect("start");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = started.state.clone();
    tokio::spawn(warden::serve_until(listener, started.state, async move {
        let _ = stopped.await;
    }));
    Served {
        addr,
        state,
        url,
        clock,
        _stop: stop,
        _dir: dir,
    }
}

impl TestApp {
    /// Creates every subject of matrix `m` as a real account (roles and attributes as the
    /// matrix gives them), logs each in with the matrix's scopes and returns their access
    /// tokens by subject name. The policy is reloaded, so the roles apply at once.
    pub async fn matrix_subject_tokens(
        &self,
        m: &warden::matrix::Matrix,
    ) -> std::collections::BTreeMap<String, String> {
        use warden::policy::change::Op;
        use warden::store::policy::{ChangeMeta, apply};
        let mut tokens = std::collections::BTreeMap::new();
        for (name, s) in &m.subjects {
            let first = s
                .roles
                .first()
                .map_or("role:user".to_owned(), |r| format!("role:{r}"));
            let username = warden::policy::username::Username::parse(name).expect("name");
            let password = warden::auth::domain::Password::parse(PASSWORD).expect("pw");
            self.state
                .create_account(warden::auth::accounts::NewAccount {
                    username: &username,
                    password: Some(password),
                    email: None,
                    display_name: None,
                    attributes: &s.attributes,
                    role: &first,
                    created_by: None,
                })
                .await
                .expect("create");
            let extra: Vec<Op> = s
                .roles
                .iter()
                .skip(1)
                .map(|r| Op::assign(&format!("user:{name}"), &format!("role:{r}")).expect("role"))
                .collect();
            if !extra.is_empty() {
                let meta = ChangeMeta {
                    actor: "test",
                    action: "roles.assign",
                    summary: "matrix subject",
                };
                apply(&self.state.db, None, &extra, &meta, 0)
                    .await
                    .expect("roles");
            }
            let t = self.login_scoped(name, PASSWORD, &s.scopes.join(" ")).await;
            assert_eq!(t.status, StatusCode::OK, "login {name}: {t:?}");
            tokens.insert(
                name.clone(),
                t.body["access_token"].as_str().expect("token").to_owned(),
            );
        }
        self.state.engine.reload().await.expect("reload");
        tokens
    }
}

/// A matrix cell decided over HTTP: `actual` is what the status meant (allowed or not).
pub fn http_cell(
    m: &warden::matrix::Matrix,
    (subject, object, action): (&String, &String, &String),
    status: StatusCode,
    actual: bool,
) -> warden::matrix::Cell {
    warden::matrix::Cell {
        subject: subject.clone(),
        domain: None,
        matched: Vec::new(),
        object: object.clone(),
        action: action.clone(),
        expected: m.expected(subject, None, object, action),
        actual,
        reason: format!("HTTP {}", status.as_u16()),
    }
}

/// `warden serve` on a free port over a fresh SQLite file, with stderr piped (not a
/// terminal); stopped on drop.
pub struct Process {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStderr>>,
    _dir: tempfile::TempDir,
}

impl Process {
    /// With the admin password in `WARDEN_ADMIN_PASSWORD` and `extra` flags.
    pub fn start(extra: &[&str]) -> Self {
        Self::start_with(extra, &[("WARDEN_ADMIN_PASSWORD", ADMIN_PASSWORD)])
    }

    /// With `extra` flags and only the `env` variables given (none from the developer's shell).
    pub fn start_with(extra: &[&str], env: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
            .args(extra)
            .env_clear()
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        let stderr = child.stderr.take().expect("stderr");
        Self {
            child,
            lines: std::io::BufReader::new(stderr).lines(),
            _dir: dir,
        }
    }

    /// The next stderr line containing `needle`.
    pub fn line_with(&mut self, needle: &str) -> String {
        self.lines
            .by_ref()
            .map_while(Result::ok)
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle}"))
    }

    /// The address it listens on, from its startup line.
    pub fn address(&mut self) -> String {
        let line = self.line_with("warden started");
        line.split("listen=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .expect("listen address")
            .to_owned()
    }

    /// Its process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every `.rs` file under `dir` (the crate's `src/` for the tests that read the source).
pub fn rust_sources(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// Makes each instance follow the others as `warden serve` does (change announcements and
/// the store heartbeat); abort the tasks at the end of the test.
pub fn follow(apps: &[&TestApp]) -> Vec<tokio::task::JoinHandle<()>> {
    apps.iter()
        .flat_map(|app| {
            let (s1, s2) = (app.state.clone(), app.state.clone());
            [
                tokio::spawn(async move { s1.engine.follow_changes().await }),
                tokio::spawn(async move { s2.engine.watch_store().await }),
            ]
        })
        .collect()
}
