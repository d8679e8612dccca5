//! `warden policy` and `warden matrix` commands, through their library functions.

use std::path::Path;

use warden::cli::{self, CheckFormat, PolicySource};

fn seed_source() -> PolicySource {
    PolicySource {
        model: None,
        policy: None,
        database_url: None,
    }
}

#[test]
fn lint_accepts_the_seed_and_refuses_a_bad_file_with_exit_2() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert_eq!(cli::policy_lint(&root.join("policies/policy.csv")), 0);
    let dir = tempfile::tempdir().expect("dir");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "p, role:x, document, read, *, loop {}, allow\n").expect("write");
    assert_eq!(cli::policy_lint(&bad), 2);
    let cycle = dir.path().join("cycle.csv");
    std::fs::write(&cycle, "g, role:a, role:b\ng, role:b, role:a\n").expect("write");
    assert_eq!(cli::policy_lint(&cycle), 2);
}

#[tokio::test]
async fn matrix_check_exits_0_on_pass_1_on_a_failed_cell_and_2_on_an_invalid_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let seed = root.join("policies/matrices/seed.yaml");
    assert_eq!(
        cli::matrix_check(
            std::slice::from_ref(&seed),
            &seed_source(),
            CheckFormat::Text
        )
        .await,
        0
    );
    let dir = tempfile::tempdir().expect("dir");
    let wrong = dir.path().join("wrong.yaml");
    let text = std::fs::read_to_string(&seed)
        .expect("read")
        .replace("  gina: {}", "  gina: {eng-0-erin: [read]}");
    std::fs::write(&wrong, text).expect("write");
    assert_eq!(
        cli::matrix_check(&[wrong], &seed_source(), CheckFormat::Junit).await,
        1
    );
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "name: x\nsubjects: {a: {}}\nobjects: {}\nactions: [read]\nexpect: {b: {}}\n",
    )
    .expect("write");
    assert_eq!(
        cli::matrix_check(&[broken], &seed_source(), CheckFormat::Json).await,
        2
    );
    let example = root.join("policies/examples/rbac/matrix.yaml");
    assert_eq!(
        cli::matrix_check(&[example], &seed_source(), CheckFormat::Text).await,
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_is_one_versioned_change_that_passes_the_invariants() {
    let dir = tempfile::tempdir().expect("dir");
    let url = crate::helpers::fresh_database_url(dir.path()).await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // a policy without the admin rule would lock admins out: refused, nothing changes
    let seed = std::fs::read_to_string(root.join("policies/policy.csv")).expect("seed");
    let locked_out = dir.path().join("locked.csv");
    std::fs::write(
        &locked_out,
        seed.replace("p, role:admin, *, *, *, , allow", ""),
    )
    .expect("write");
    assert_eq!(cli::policy_import(&locked_out, &url).await, 2);
    let db = warden::store::Db::connect(&url).await.expect("db");
    let before = warden::store::policy::version(&db).await.expect("version");
    // a grant to a name nobody holds would go to whoever registers it: refused
    let ghost = dir.path().join("ghost.csv");
    std::fs::write(&ghost, format!("{seed}\np, user:ghost, *, *, *, , allow\n")).expect("write");
    assert_eq!(cli::policy_import(&ghost, &url).await, 2);
    assert_eq!(
        warden::store::policy::version(&db).await.expect("version"),
        before
    );
    // the seed plus one rule imports as exactly one new version
    let more = dir.path().join("more.csv");
    std::fs::write(
        &more,
        format!("{seed}\np, role:auditor, report, read, *, , allow\n"),
    )
    .expect("write");
    assert_eq!(cli::policy_import(&more, &url).await, 0);
    assert_eq!(
        warden::store::policy::version(&db).await.expect("version"),
        before + 1
    );
    let rules = warden::store::policy::load_all(&db)
        .await
        .expect("rules")
        .rules;
    assert!(rules.iter().any(|r| r.object == "report"));
    assert_eq!(
        rules.len(),
        warden::policy::seed::parse_policy(&seed)
            .expect("seed")
            .rules
            .len()
            + 1
    );
}

fn warden_bin() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_warden"));
    // Only what the test passes: no WARDEN_* from the developer's shell.
    cmd.env_clear();
    cmd
}

#[test]
fn a_first_start_on_a_port_in_use_exits_before_storing_anything() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("w.db");
    let out = warden_bin()
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &format!("sqlite://{}", db.display())])
        .output()
        .expect("run warden");
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot listen"), "{stderr}");
    assert!(
        !db.exists(),
        "nothing may be stored (an admin whose generated password was never printed)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_issued_after_a_reset_by_another_process_is_valid_at_once() {
    use axum::http::StatusCode;

    use crate::helpers::TestApp;

    let app = TestApp::new().await;
    let (old_token, _) = app.user_tokens("resetme").await;
    // the account is now cached by the running instance, at the generation before the reset
    assert_eq!(app.get("/v1/me", &old_token).await.status, StatusCode::OK);
    let out = warden_bin()
        .args([
            "admin",
            "reset-password",
            "resetme",
            "--database-url",
            &app.url,
        ])
        .env("WARDEN_ADMIN_PASSWORD", "reset-password-2")
        .output()
        .expect("run warden");
    assert!(out.status.success(), "{out:?}");
    let fresh = app.login("resetme", "reset-password-2").await;
    assert_eq!(fresh.status, StatusCode::OK, "{fresh:?}");
    let token = fresh.body["access_token"].as_str().expect("token");
    let me = app.get("/v1/me", token).await;
    assert_eq!(
        me.status,
        StatusCode::OK,
        "refused at once after the reset: {me:?}"
    );
    // and the account the instance now holds is the reset one: the earlier token is refused
    let old = app.get("/v1/me", &old_token).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED, "{old:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_replaces_the_password_revokes_earlier_tokens_and_is_audited() {
    use axum::http::StatusCode;
    use std::io::Write;

    use crate::helpers::{ADMIN_PASSWORD, TestApp, assert_error};

    let app = TestApp::new().await;
    let old_token = app.admin_token().await;
    let url = app.url.clone();
    // from stdin, the default account `admin`
    let mut child = warden_bin()
        .args(["admin", "reset-password", "--database-url", &url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run warden");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"brand-new-password-1\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{out:?}");

    assert_error(
        &app.get("/v1/me", &old_token).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_eq!(
        app.login("admin", ADMIN_PASSWORD).await.status,
        StatusCode::BAD_REQUEST
    );
    let fresh = app.login("admin", "brand-new-password-1").await;
    assert_eq!(fresh.status, StatusCode::OK, "{fresh:?}");
    let token = fresh.body["access_token"].as_str().expect("token");
    let audit = app.get("/v1/admin/audit", token).await;
    assert_eq!(audit.status, StatusCode::OK, "{audit:?}");
    let entry = &audit.body["items"][0];
    assert_eq!(entry["action"], "users.reset_password", "{audit:?}");
    assert_eq!(entry["actor"], "cli");
    assert!(
        !audit.body.to_string().contains("brand-new"),
        "no secret in the audit"
    );

    // from WARDEN_ADMIN_PASSWORD, for a named account
    app.register("bob", crate::helpers::PASSWORD).await;
    let out = warden_bin()
        .args(["admin", "reset-password", "BOB", "--database-url", &url])
        .env("WARDEN_ADMIN_PASSWORD", "bobs-new-password")
        .output()
        .expect("run");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        app.login("bob", "bobs-new-password").await.status,
        StatusCode::OK
    );
    // refused: unknown account, too short a password
    for (user, password) in [("nobody", "long-enough-pw"), ("bob", "short")] {
        let out = warden_bin()
            .args(["admin", "reset-password", user, "--database-url", &url])
            .env("WARDEN_ADMIN_PASSWORD", password)
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(2), "{user}: {out:?}");
    }
}
// --- `warden matrix check` on hostile and empty files (issue 10, items 3 and 9) -------

fn warden_matrix_check(file: &Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["matrix", "check"])
        .arg(file)
        .output()
        .expect("run warden")
}

#[test]
fn matrix_check_refuses_a_file_naming_billions_of_cells_with_exit_2_instead_of_aborting() {
    let dir = tempfile::tempdir().expect("dir");
    let names = |prefix: &str, n: usize| {
        (0..n)
            .map(|i| format!("{prefix}{i}: {{}}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let actions = (0..1000)
        .map(|i| format!("a{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let big = dir.path().join("big.yaml");
    std::fs::write(
        &big,
        format!(
            "name: big\nsubjects: {{{}}}\nobjects: {{{}}}\nactions: [{actions}]\ndeny: [[\"*\", \"*\", \"*\"]]\n",
            names("s", 1500),
            names("o", 1500)
        ),
    )
    .expect("write");
    let started = std::time::Instant::now();
    let out = warden_matrix_check(&big);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("2250000000 cells"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[test]
fn matrix_check_fails_a_matrix_that_checks_no_cell_and_says_so() {
    let dir = tempfile::tempdir().expect("dir");
    for (name, text) in [
        (
            "no-subjects.yaml",
            "name: e\nsubjects: {}\nobjects: {o: {}}\nactions: [read]\nallow: [[\"*\", o, read]]\n",
        ),
        (
            "no-actions.yaml",
            "name: e\nsubjects: {s: {}}\nobjects: {o: {}}\nactions: []\ndeny: [[s, \"*\", \"*\"]]\n",
        ),
        (
            "outside.yaml",
            "name: e\nsubjects: {s: {}}\nobjects: {o: {}}\nactions: [read]\nallow: [[s, ghost, read]]\n",
        ),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, text).expect("write");
        let out = warden_matrix_check(&file);
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("checks no cell") || stderr.contains("unknown"),
            "{name}: {stderr}"
        );
        assert!(stderr.contains(name), "names the file: {stderr}");
    }
}

#[test]
fn a_failing_cell_of_a_casbin_model_shows_the_role_chain_that_granted_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/examples/rbac");
    let dir = tempfile::tempdir().expect("dir");
    for f in ["model.conf", "policy.csv"] {
        std::fs::copy(root.join(f), dir.path().join(f)).expect("copy");
    }
    // a wrong expectation: alice may not read articles (she may, through chief -> editor -> viewer);
    let text = std::fs::read_to_string(root.join("matrix.yaml"))
        .expect("read")
        .replace(
            "alice: {articles: [read, write, delete], comments: [read, write]}",
            "alice: {articles: [write, delete], comments: [read, write]}",
        );
    let file = dir.path().join("matrix.yaml");
    std::fs::write(&file, text).expect("write");
    let out = warden_matrix_check(&file);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "allow by `p, viewer, articles, read` via alice -> chief -> editor -> viewer"
        ),
        "{stdout}"
    );
}

#[test]
fn a_start_without_a_reachable_database_exits_naming_the_url_without_its_password() {
    let out = warden_bin()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env(
            "WARDEN_DATABASE_URL",
            "postgres://warden:s3cret-pw@127.0.0.1:1/warden",
        )
        .output()
        .expect("run warden");
    assert!(!out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("postgres://warden:***@127.0.0.1:1/warden"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("s3cret-pw"), "{stdout}");
}

// --- secrets: from the environment, a private file or stdin, never a flag's value -------

const SEED_B64: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio="; // 32 bytes of 42

/// Runs `cmd` to its end, killed after 20 s: a command that should have been refused at
/// start but serves instead fails its test rather than hanging it.
fn output_within_20s(cmd: &mut std::process::Command) -> std::process::Output {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run warden");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().expect("wait").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

/// One HTTP/1.1 request to `addr` (`Connection: close`); the whole answer.
fn http(addr: &str, method: &str, path: &str, form: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    s.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read");
    answer
}

/// Whether `warden serve` at `addr` lets `admin` log in with `password` and publishes the
/// public half of the seed `SEED_B64` in its JWKS.
fn serves_with(addr: &str, password: &str) {
    use base64::Engine as _;
    let login = http(
        addr,
        "POST",
        "/v1/auth/token",
        &format!("grant_type=password&username=admin&password={password}"),
    );
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    let seed = base64::engine::general_purpose::STANDARD
        .decode(SEED_B64)
        .expect("seed");
    let public = ed25519_dalek::SigningKey::from_bytes(&seed.try_into().expect("32 bytes"))
        .verifying_key()
        .to_bytes();
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public);
    let jwks = http(addr, "GET", "/.well-known/jwks.json", "");
    assert!(jwks.contains(&format!(r#""x":"{x}""#)), "{jwks}");
}

#[test]
fn secrets_given_as_flag_values_are_refused_naming_where_they_go_instead() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("w.db");
    let url = format!("sqlite://{}", db.display());
    let pg = "postgres://warden:s3cret-pw@127.0.0.1:1/warden";
    let serve = ["serve", "--listen", "127.0.0.1:0", "--database-url", &url];
    let cases: [(Vec<&str>, &str, &str); 6] = [
        (
            [&serve[..], &["--admin-password", "flag-password-1"]].concat(),
            "WARDEN_ADMIN_PASSWORD",
            "flag-password-1",
        ),
        (
            [&serve[..], &["--admin-password=flag-password-1"]].concat(),
            "WARDEN_ADMIN_PASSWORD",
            "flag-password-1",
        ),
        (
            [&serve[..], &["--signing-key", SEED_B64]].concat(),
            "WARDEN_SIGNING_KEY",
            SEED_B64,
        ),
        (
            vec!["serve", "--listen", "127.0.0.1:0", "--database-url", pg],
            "WARDEN_DATABASE_URL",
            "s3cret-pw",
        ),
        (
            vec!["keys", "rotate", "--database-url", pg],
            "WARDEN_DATABASE_URL",
            "s3cret-pw",
        ),
        (
            vec!["admin", "reset-password", "--database-url", pg],
            "WARDEN_DATABASE_URL",
            "s3cret-pw",
        ),
    ];
    for (args, instead, secret) in cases {
        let out = output_within_20s(warden_bin().args(&args));
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("refused"), "{args:?}: {stderr}");
        assert!(stderr.contains(instead), "{args:?}: {stderr}");
        assert!(
            !stderr.contains(secret),
            "{args:?} echoes the secret: {stderr}"
        );
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains(secret),
            "{args:?}"
        );
        assert!(!db.exists(), "{args:?}: refused before anything is stored");
    }
    // a URL without a password stays welcome on the command line
    let out = warden_bin()
        .args(["policy", "export", "--database-url", &url])
        .output()
        .expect("run warden");
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn the_admin_password_and_signing_key_are_taken_from_the_environment() {
    let mut server = crate::helpers::Process::start_with(
        &[],
        &[
            ("WARDEN_ADMIN_PASSWORD", "env-password-1"),
            ("WARDEN_SIGNING_KEY", SEED_B64),
        ],
    );
    serves_with(&server.address(), "env-password-1");
}

#[cfg(unix)]
#[test]
fn secret_files_are_read_only_when_their_owner_alone_can_read_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("dir");
    let key = dir.path().join("signing.key");
    std::fs::write(&key, SEED_B64).expect("write");
    let password = dir.path().join("admin.pw");
    std::fs::write(&password, "file-password-1\n").expect("write");
    let db = dir.path().join("w.db");
    let url = format!("sqlite://{}", db.display());
    for (file, flag) in [
        (&key, "--signing-key-file"),
        (&password, "--admin-password-file"),
    ] {
        for mode in [0o644, 0o640] {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode)).expect("chmod");
            let out = output_within_20s(
                warden_bin()
                    .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
                    .args([flag, &file.display().to_string()]),
            );
            assert_eq!(out.status.code(), Some(2), "{flag} {mode:o}: {out:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(&file.display().to_string()) && stderr.contains("chmod 600"),
                "{flag} {mode:o}: {stderr}"
            );
            assert!(!db.exists(), "refused before anything is stored");
        }
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    }
    let mut server = crate::helpers::Process::start_with(
        &[
            "--signing-key-file",
            &key.display().to_string(),
            "--admin-password-file",
            &password.display().to_string(),
        ],
        &[],
    );
    serves_with(&server.address(), "file-password-1");
}

#[test]
fn the_readme_quotes_the_counts_matrix_check_prints() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let block = readme
        .split("cargo run --release -- matrix check policies/matrices\n")
        .nth(1)
        .expect("the README shows `matrix check policies/matrices`");
    // the quoted summary lines: `# ok     name (file): N cells, ...` and `# K matrices, ...`
    let quoted: Vec<&str> = block
        .lines()
        .take_while(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim())
        .filter(|l| l.starts_with("ok ") || l.contains(" matrices, "))
        .collect();
    assert!(quoted.len() >= 2, "no summary lines quoted: {quoted:?}");
    let out = warden_bin()
        .current_dir(root)
        .args(["matrix", "check", "policies/matrices"])
        .output()
        .expect("run warden");
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8_lossy(&out.stdout);
    let printed: Vec<&str> = printed
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("ok ") || l.contains(" matrices, "))
        .collect();
    assert_eq!(
        quoted, printed,
        "README.md quotes other counts than the tool prints"
    );
}

/// `/api/documents` is an example, not part of Warden: a production start (no flag) neither
/// serves nor documents it; `--example-documents` and `--demo` do both.
#[test]
fn the_example_resource_is_served_and_documented_only_when_asked_for() {
    let requests = [
        ("GET", "/api/documents"),
        ("POST", "/api/documents"),
        ("GET", "/api/documents/1"),
        ("HEAD", "/api/documents/1"),
        ("PUT", "/api/documents/1"),
        ("DELETE", "/api/documents/1"),
        ("GET", "/API/documents/1"),
    ];
    let starts: [(&[&str], bool); 3] = [
        (&[], false),
        (&["--example-documents"], true),
        (&["--demo"], true),
    ];
    for (flags, served) in starts {
        let mut server = crate::helpers::Process::start_with(
            flags,
            &[("WARDEN_ADMIN_PASSWORD", "example-password-1")],
        );
        let addr = server.address();
        for (method, path) in requests {
            let answer = http(&addr, method, path, "");
            let expected = match (served, path.starts_with("/api/")) {
                (true, true) => "HTTP/1.1 401",
                _ => "HTTP/1.1 404",
            };
            assert!(
                answer.starts_with(expected),
                "{flags:?} {method} {path}: {answer}"
            );
            if !served && method != "HEAD" {
                assert!(answer.contains(r#""error":"not_found""#), "{answer}");
            }
        }
        let doc = http(&addr, "GET", "/openapi.json", "");
        assert!(doc.starts_with("HTTP/1.1 200"), "{doc}");
        assert_eq!(
            doc.contains(r#""/api/documents/{id}""#),
            served,
            "{flags:?}"
        );
        assert_eq!(doc.contains(r#""/api/documents""#), served, "{flags:?}");
    }
}

/// The operator's way in when registration is off: `admin create-user` prints a one-time
/// set-password token that the running service redeems; `admin delete-user` is held to the
/// same lock-out check as the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_creates_an_account_with_a_set_password_token_and_deletes_one() {
    use axum::http::{Method, StatusCode};

    let app = crate::helpers::TestApp::with_config(|c| c.allow_registration = false).await;
    let out = warden_bin()
        .args(["admin", "create-user", "Mona", "--ttl-secs", "600"])
        .args(["--database-url", &app.url])
        .output()
        .expect("run warden");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("set-password token (shown once): "))
        .unwrap_or_else(|| panic!("{stdout}"))
        .to_owned();
    let r = app
        .call(
            Method::POST,
            "/v1/auth/set-password",
            None,
            Some(serde_json::json!({ "token": token, "password": "mona-password-1" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(
        app.login("mona", "mona-password-1").await.status,
        StatusCode::OK
    );
    let taken = warden_bin()
        .args(["admin", "create-user", "MONA", "--database-url", &app.url])
        .output()
        .expect("run warden");
    assert_eq!(taken.status.code(), Some(2), "{taken:?}");
    // the only admin stays
    let refused = warden_bin()
        .args(["admin", "delete-user", "admin", "--database-url", &app.url])
        .output()
        .expect("run warden");
    assert_eq!(refused.status.code(), Some(2), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no enabled account could reach"),
        "{refused:?}"
    );
    let deleted = warden_bin()
        .args(["admin", "delete-user", "mona", "--database-url", &app.url])
        .output()
        .expect("run warden");
    assert!(deleted.status.success(), "{deleted:?}");
    assert_eq!(
        app.login("mona", "mona-password-1").await.status,
        StatusCode::BAD_REQUEST
    );
}

/// A rule has one name everywhere: the number `matrix check` gives a seed rule is the id the
/// API (and the console) gives it in a database seeded from the same file.
#[tokio::test]
async fn matrix_check_numbers_the_seed_rules_as_the_api_does() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = warden_matrix_check(&root.join("policies/matrices"));
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // "#N subject object action scope [condition] effect", separated by "; "
    let mut labels = std::collections::BTreeMap::new();
    for line in stdout.lines().filter(|l| l.contains(": #")) {
        let list = line.split_once(": ").expect("list").1;
        for item in list.split("; ") {
            let mut words = item.split(' ');
            let id: i64 = words
                .next()
                .and_then(|w| w.strip_prefix('#'))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{item}"));
            let sao: Vec<&str> = words.take(3).collect();
            labels.insert(id, sao.join(" "));
        }
    }
    assert!(labels.len() >= 5, "{stdout}");
    let app = crate::helpers::TestApp::new().await;
    let admin = app.admin_token().await;
    let rules = app.get("/v1/admin/rules?limit=500", &admin).await;
    for (id, sao) in labels {
        let rule = rules.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("no rule {id} in the API: {sao}"));
        let api = format!(
            "{} {} {}",
            rule["subject"].as_str().expect("subject"),
            rule["object"].as_str().expect("object"),
            rule["action"].as_str().expect("action")
        );
        assert_eq!(api, sao, "#{id}");
    }
}

/// The other half of the reset race: tokens issued before a reset made by another process
/// (the CLI, on the same SQLite file) stop working within the heartbeat, not after the
/// account cache's 2 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_issued_before_a_reset_by_another_process_end_within_the_heartbeat() {
    use axum::http::StatusCode;

    let app = crate::helpers::TestApp::new().await;
    let heartbeat = crate::helpers::follow(&[&app]);
    let (old_token, _) = app.user_tokens("resetold").await;
    // cached by the running instance just before the reset
    assert_eq!(app.get("/v1/me", &old_token).await.status, StatusCode::OK);
    let out = warden_bin()
        .args([
            "admin",
            "reset-password",
            "resetold",
            "--database-url",
            &app.url,
        ])
        .env("WARDEN_ADMIN_PASSWORD", "reset-password-3")
        .output()
        .expect("run warden");
    assert!(out.status.success(), "{out:?}");
    let started = std::time::Instant::now();
    loop {
        let status = app.get("/v1/me", &old_token).await.status;
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_millis(900),
            "the old token still answers {status} after {:?}",
            started.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    for h in heartbeat {
        h.abort();
    }
}

// --- `warden analyze prove` (issue 25) -------------------------------------------------

fn analyze_prove(args: &[&str]) -> (i32, String, String) {
    let out = warden_bin()
        .args(["analyze", "prove"])
        .args(args)
        .output()
        .expect("run warden");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn repo_file(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn analyze_prove_says_each_shipped_property_holds_on_the_seed_policy_and_exits_0() {
    let (code, out, err) = analyze_prove(&["--policy", &repo_file("policies/policy.csv")]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out,
        "holds     invariants/admin-api-for-admins-only\n\
         holds     invariants/admins-keep-the-admin-api\n\
         holds     invariants/classified-needs-clearance\n"
    );
}

#[test]
fn analyze_prove_prints_the_minimal_counterexample_and_exits_1_on_a_violation() {
    let dir = tempfile::tempdir().expect("dir");
    // The seed with the clearance deny spared for finance documents.
    let seed = std::fs::read_to_string(repo_file("policies/policy.csv")).expect("seed");
    let weakened = seed.replace(
        "r.obj.classification >= 3 && r.sub.clearance < 3, deny",
        "r.obj.classification >= 3 && r.sub.clearance < 3 && r.obj.department != \"finance\", deny",
    );
    assert_ne!(weakened, seed, "the seed's clearance deny moved");
    let file = dir.path().join("policy.csv");
    std::fs::write(&file, weakened).expect("write");
    let (code, out, err) = analyze_prove(&["--policy", file.to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("holds     invariants/admin-api-for-admins-only\n"),
        "{out}"
    );
    assert!(
        out.contains("violated  invariants/classified-needs-clearance\n"),
        "{out}"
    );
    assert!(out.contains(" may read document in tenant "), "{out}");
    assert!(out.contains("\"department\":\"finance\""), "{out}");
    // JSON: the counterexample, confirmed by the decision function.
    let (code, out, _) = analyze_prove(&[
        "--policy",
        file.to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["holds"], false);
    let broken: Vec<&serde_json::Value> = v["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .filter(|p| p["holds"] == false)
        .collect();
    assert_eq!(broken.len(), 1, "{v}");
    let cx = &broken[0]["counterexample"];
    assert_eq!(cx["object_attributes"]["department"], "finance", "{cx}");
    assert_eq!(cx["object_attributes"]["classification"], 3, "{cx}");
    let rows = warden::policy::seed::parse_policy(&std::fs::read_to_string(&file).expect("read"))
        .expect("policy");
    let policy = warden::policy::decide::Policy::from_rows(
        warden::policy::model::MODEL,
        rows.rules,
        &rows.assignments,
    )
    .expect("policy");
    let cx: warden::policy::analysis::Counterexample =
        serde_json::from_value(cx.clone()).expect("cx");
    assert!(
        cx.policy(&policy)
            .decide(&cx.subject(), &cx.object(), &cx.action)
            .allowed
    );
}

#[test]
fn analyze_prove_checks_an_allow_property_of_a_matrix_file_and_names_the_denied_admin() {
    let dir = tempfile::tempdir().expect("dir");
    let matrix = dir.path().join("keep.yaml");
    std::fs::write(
        &matrix,
        "name: keep\nsubjects: {a: {}}\nobjects: {o: {}}\nactions: [read]\ndeny: [[a, o, read]]\nproperties:\n  \
         - name: admins-delete-users\n    with_roles: [admin]\n    objects: [/v1/admin/users/:name]\n    \
         actions: [DELETE]\n    expect: allow\n",
    )
    .expect("write");
    let seed = std::fs::read_to_string(repo_file("policies/policy.csv")).expect("seed");
    let policy = dir.path().join("policy.csv");
    std::fs::write(
        &policy,
        format!("{seed}\np, role:admin, /v1/admin/users/:name, DELETE, *, r.sub.department != \"ops\", deny\n"),
    )
    .expect("write");
    let m = matrix.to_str().expect("utf-8");
    let (code, out, err) =
        analyze_prove(&["--policy", &repo_file("policies/policy.csv"), "--matrix", m]);
    assert_eq!(
        (code, out.as_str()),
        (0, "holds     keep/admins-delete-users\n"),
        "{err}"
    );
    let (code, out, err) =
        analyze_prove(&["--policy", policy.to_str().expect("utf-8"), "--matrix", m]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.starts_with("violated  keep/admins-delete-users\n"),
        "{out}"
    );
    assert!(
        out.contains(" may not DELETE /v1/admin/users/1 in tenant "),
        "{out}"
    );
    assert!(out.contains("role:admin"), "{out}");
    assert!(
        out.contains("deny role:admin /v1/admin/users/:name"),
        "{out}"
    );
}

#[tokio::test]
async fn analyze_prove_on_a_live_database_proves_the_invariant_matrices_it_stores() {
    let app = crate::helpers::TestApp::with_config(|c| c.demo = true).await;
    let (code, out, err) = analyze_prove(&["--database-url", app.url.as_str(), "--format", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["holds"], true);
    let names: Vec<&str> = v["properties"]
        .as_array()
        .expect("properties")
        .iter()
        .filter_map(|p| p["property"].as_str())
        .collect();
    assert_eq!(
        names,
        [
            "admin-api-for-admins-only",
            "admins-keep-the-admin-api",
            "classified-needs-clearance"
        ]
    );
}

#[test]
fn analyze_prove_refuses_bad_input_with_exit_2_and_a_clear_message() {
    let dir = tempfile::tempdir().expect("dir");
    let seed = repo_file("policies/policy.csv");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("utf-8").to_owned()
    };
    let premise = write(
        "premise.yaml",
        "name: p\nsubjects: {a: {}}\nobjects: {o: {}}\nactions: [read]\ndeny: [[a, o, read]]\nproperties:\n  \
         - name: broken\n    objects: [document]\n    actions: [read]\n    when: r.obj.level >=\n",
    );
    let none = write(
        "none.yaml",
        "name: n\nsubjects: {a: {}}\nobjects: {o: {}}\nactions: [read]\ndeny: [[a, o, read]]\n",
    );
    let both = write(
        "both.yaml",
        "name: b\nsubjects: {a: {}}\nobjects: {o: {}}\nactions: [read]\ndeny: [[a, o, read]]\nproperties:\n  \
         - name: vacuous\n    with_roles: [admin]\n    without_roles: [role:admin]\n    \
         objects: [document]\n    actions: [read]\n",
    );
    let bad_policy = write("policy.csv", "p, role:x, document\n");
    let missing = dir.path().join("missing.yaml");
    for (args, says) in [
        (
            vec!["--policy", seed.as_str(), "--matrix", premise.as_str()],
            "`when`",
        ),
        (
            vec!["--policy", seed.as_str(), "--matrix", none.as_str()],
            "no properties",
        ),
        (
            vec!["--policy", seed.as_str(), "--matrix", both.as_str()],
            "both with_roles and without_roles",
        ),
        (
            vec![
                "--policy",
                seed.as_str(),
                "--matrix",
                missing.to_str().expect("utf-8"),
            ],
            "missing.yaml",
        ),
        (vec!["--policy", bad_policy.as_str()], "policy.csv"),
        (vec!["--policy", seed.as_str(), "--format", "xml"], "xml"),
    ] {
        let (code, out, err) = analyze_prove(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
