//! The `warden matrix` and `warden policy` commands (the library side of `main.rs`).
//! Exit codes: 0 all good, 1 a matrix cell failed, 2 a file, policy or database is invalid.

use std::path::PathBuf;
use std::sync::Arc;

pub mod analyze;

use crate::engine::adapter::SqlAdapter;
use crate::matrix::limits::CLI_MAX_CELLS;
use crate::matrix::run::{PolicyUnderTest, check};
use crate::matrix::{Matrix, MatrixError, collect_files, report};
use crate::policy::rule::RuleSet;
use crate::policy::seed::{SEED_POLICY, parse_policy};
use crate::store::Db;

/// Output of `matrix check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// Failing cells as a table, coverage, and a summary line.
    Text,
    /// One JSON document.
    Json,
    /// JUnit XML for CI servers.
    Junit,
}

/// Output of `matrix render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RenderFormat {
    /// Terminal table.
    Table,
    /// Markdown table.
    Markdown,
    /// CSV, one line per cell.
    Csv,
    /// Self-contained HTML page with a coloured grid.
    Html,
}

/// Where the policy under test comes from (for matrices that do not name their own).
#[derive(Debug, Clone, clap::Args)]
pub struct PolicySource {
    /// A casbin model.conf (with --policy): check against this model instead of Warden's.
    #[arg(long, requires = "policy")]
    pub model: Option<PathBuf>,
    /// A policy.csv (with --model, or alone for Warden's model).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// Check against the live rules in this database instead of the seed policy.
    #[arg(long, conflicts_with_all = ["model", "policy"])]
    pub database_url: Option<String>,
}

fn fail(e: impl std::fmt::Display) -> u8 {
    eprintln!("error: {e}");
    2
}

async fn live_policy(url: &str) -> Result<RuleSet, MatrixError> {
    let db = Db::connect(url)
        .await
        .map_err(|e| MatrixError::Unreadable(format!("database: {e}")))?;
    SqlAdapter::read(&db)
        .await
        .map_err(|e| MatrixError::Unreadable(format!("database: {e}")))
}

async fn policy_for(m: &Matrix, src: &PolicySource) -> Result<PolicyUnderTest, MatrixError> {
    if let (Some(model), Some(policy)) = (&src.model, &src.policy) {
        return PolicyUnderTest::from_files(model, policy);
    }
    if let Some(url) = &src.database_url {
        return Ok(PolicyUnderTest::Warden(live_policy(url).await?));
    }
    if let Some(policy) = &src.policy {
        let text = std::fs::read_to_string(policy)
            .map_err(|e| MatrixError::Unreadable(format!("{}: {e}", policy.display())))?;
        return Ok(PolicyUnderTest::Warden(parse_policy(&text).map_err(
            |e| MatrixError::Invalid(format!("{}: {e}", policy.display())),
        )?));
    }
    if let Some((model, policy)) = m.policy_files() {
        return PolicyUnderTest::from_files(&model, &policy);
    }
    Ok(PolicyUnderTest::Warden(
        parse_policy(SEED_POLICY).map_err(|e| MatrixError::Invalid(e.to_string()))?,
    ))
}

async fn check_all(
    paths: &[PathBuf],
    src: &PolicySource,
) -> Result<Vec<(Matrix, report::MatrixResult)>, MatrixError> {
    let mut out = Vec::new();
    for file in collect_files(paths)? {
        let m = Matrix::from_file(&file)?;
        // Sized before anything is allocated: a few kilobytes of YAML can name billions.
        match m.checked_cell_count() {
            Some(n) if n <= CLI_MAX_CELLS => {}
            n => {
                return Err(MatrixError::Invalid(format!(
                    "{}: the matrix has {} cells (subjects x domains x objects x actions); \
                     `warden matrix check` evaluates at most {CLI_MAX_CELLS} per file: split it",
                    file.display(),
                    n.map_or_else(|| "too many".to_owned(), |n| n.to_string())
                )));
            }
        }
        let put = policy_for(&m, src)
            .await
            .map_err(|e| e.at(&file.display().to_string()))?;
        let result = check(&m, &file.display().to_string(), &put)
            .await
            .map_err(|e| e.at(&file.display().to_string()))?;
        out.push((m, result));
    }
    if out.is_empty() {
        return Err(MatrixError::Invalid("no matrix files found".into()));
    }
    Ok(out)
}

/// `warden matrix check`.
pub async fn matrix_check(paths: &[PathBuf], src: &PolicySource, format: CheckFormat) -> u8 {
    let results: Vec<report::MatrixResult> = match check_all(paths, src).await {
        Ok(r) => r.into_iter().map(|(_, r)| r).collect(),
        Err(e) => return fail(e),
    };
    let text = match format {
        CheckFormat::Text => report::text(&results),
        CheckFormat::Json => report::json(&results),
        CheckFormat::Junit => report::junit(&results),
    };
    print!("{text}");
    if format == CheckFormat::Json {
        println!();
    }
    u8::from(results.iter().any(|r| !r.failures.is_empty()))
}

/// `warden matrix render`.
pub async fn matrix_render(paths: &[PathBuf], src: &PolicySource, format: RenderFormat) -> u8 {
    let results = match check_all(paths, src).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    for (_, r) in &results {
        let text = match format {
            RenderFormat::Table => report::table(r),
            RenderFormat::Markdown => report::markdown(r),
            RenderFormat::Csv => report::csv(r),
            RenderFormat::Html => report::html(r),
        };
        print!("{text}");
    }
    0
}

/// `warden matrix record`: prints (or writes) the actual grid as an expected matrix.
pub async fn matrix_record(
    path: &std::path::Path,
    src: &PolicySource,
    out: Option<&std::path::Path>,
) -> u8 {
    let results = match check_all(&[path.to_path_buf()], src).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let Some((m, r)) = results.first() else {
        return fail("no matrix");
    };
    let yaml = match report::record(m, &r.all) {
        Ok(y) => format!(
            "# recorded by `warden matrix record`: review every cell before committing\n{y}"
        ),
        Err(e) => return fail(e),
    };
    match out {
        Some(p) => match std::fs::write(p, yaml) {
            Ok(()) => 0,
            Err(e) => fail(format!("{}: {e}", p.display())),
        },
        None => {
            print!("{yaml}");
            0
        }
    }
}

/// `warden policy lint`: parses and validates a Warden policy file.
pub fn policy_lint(path: &std::path::Path) -> u8 {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return fail(format!("{}: {e}", path.display())),
    };
    match parse_policy(&text) {
        Ok(file) => {
            if let Some(cycle) = crate::policy::change::find_cycle(&file.assignments) {
                return fail(format!(
                    "{}: role inheritance cycle {}",
                    path.display(),
                    cycle.join(" -> ")
                ));
            }
            let matrices = match file_matrices(path, &text) {
                Ok(Some(m)) => format!(", {} matrices", m.len()),
                Ok(None) => String::new(),
                Err(e) => return fail(e),
            };
            println!(
                "{}: ok ({} rules, {} role assignments{matrices})",
                path.display(),
                file.rules.len(),
                file.assignments.len()
            );
            0
        }
        Err(e) => fail(format!("{}: {e}", path.display())),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains(',') || s.contains('"') || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// `warden policy export`: the live rules and role inheritance as a policy file.
pub async fn policy_export(url: &str) -> u8 {
    let db = match Db::connect(url).await {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let loaded = match SqlAdapter::read(&db).await {
        Ok(l) => l,
        Err(e) => return fail(e),
    };
    println!(
        "# exported by `warden policy export` at policy version {}",
        loaded.version
    );
    println!("# p, subject, object, action, scope, condition, effect");
    for r in &loaded.rules {
        println!(
            "p, {}, {}, {}, {}, {}, {}",
            r.subject,
            r.object,
            r.action,
            r.scope,
            csv_field(r.condition.as_str()),
            r.effect.as_str()
        );
    }
    for a in loaded
        .assignments
        .iter()
        .filter(|a| a.member.starts_with("role:"))
    {
        println!("g, {}, {}", a.member, a.role);
    }
    println!(
        "# the policy's matrices (`warden policy import` restores them; a file without this \
         block leaves the matrices as they are)"
    );
    print!(
        "{}",
        crate::policy::stored_matrix::to_policy_file(&loaded.matrices)
    );
    0
}

/// The matrices block of a policy file, each matrix checked as the admin API checks it.
fn file_matrices(
    path: &std::path::Path,
    text: &str,
) -> Result<Option<Vec<crate::policy::stored_matrix::MatrixText>>, String> {
    let at = |line: usize| match line {
        0 => path.display().to_string(),
        n => format!("{}: line {n}", path.display()),
    };
    let found = crate::policy::stored_matrix::from_policy_file(text)
        .map_err(|(n, e)| format!("{}: {e}", at(n)))?;
    for m in found.iter().flatten() {
        crate::engine::matrices::parse(m)
            .map_err(|e| format!("{}: matrix `{}`: {e}", path.display(), m.name))?;
    }
    Ok(found)
}

/// `warden policy import`: replaces the rules and role inheritance with a file's — and the
/// matrices, when the file carries them (`warden policy export` writes them; a file without
/// them leaves the matrices as they are) — as one versioned change that passes the same
/// validation and invariants as the admin API.
pub async fn policy_import(path: &std::path::Path, url: &str) -> u8 {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return fail(format!("{}: {e}", path.display())),
    };
    let file = match parse_policy(&text) {
        Ok(f) => f,
        Err(e) => return fail(format!("{}: {e}", path.display())),
    };
    if let Some(a) = file
        .assignments
        .iter()
        .find(|a| !a.member.starts_with("role:"))
    {
        return fail(format!(
            "{}: user assignment {} -> {} belongs to accounts, not to an imported policy",
            path.display(),
            a.member,
            a.role
        ));
    }
    let matrices = match file_matrices(path, &text) {
        Ok(m) => m,
        Err(e) => return fail(e),
    };
    let mut config = crate::config::Config::for_database(url);
    config.admin_password = None;
    let started = match crate::bootstrap::start(config, Arc::new(crate::clock::SystemClock)).await {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    if let Some(p) = &started.generated_admin_password {
        println!("bootstrap admin created: username `admin`, password `{p}` (shown once)");
    }
    // id 0: imported rules get new ids (file rules carry their line number)
    let restore = crate::policy::change::Op::Restore {
        rules: file
            .rules
            .iter()
            .map(|r| crate::policy::rule::Rule { id: 0, ..r.clone() })
            .collect(),
        inheritance: file.assignments.clone(),
        matrices: matrices.clone(),
    };
    let summary = format!("imported {}", path.display());
    let meta = crate::store::policy::ChangeMeta {
        actor: "cli",
        action: "policy.import",
        summary: &summary,
    };
    let state = &started.state;
    match state
        .engine
        .change(vec![restore], None, &meta, state.now())
        .await
    {
        Ok(applied) => {
            let what = match &matrices {
                Some(m) => format!("and {} matrices", m.len()),
                None => "(matrices unchanged: the file has none)".to_owned(),
            };
            println!(
                "imported {} rules {what} as policy version {}",
                file.rules.len(),
                applied.policy_version
            );
            0
        }
        Err(e) => {
            let code = fail(&e);
            if let crate::policy::ChangeError::InvariantViolation { cells }
            | crate::policy::ChangeError::InvariantFails { cells, .. } = &e
            {
                for c in cells {
                    eprintln!("  {}", serde_json::to_string(c).unwrap_or_default());
                }
            }
            code
        }
    }
}

/// Where `admin reset-password` reads the new password from.
#[derive(Debug)]
pub enum PasswordSource {
    /// Given (from `WARDEN_ADMIN_PASSWORD`).
    Given(secrecy::SecretString),
    /// The first line of standard input.
    Stdin,
}

/// `warden admin reset-password`: sets a new password for `username` (exit 0), revokes every
/// token issued to the account before, and writes an audit entry. Exit 2 when the password
/// is invalid or there is no such user.
pub async fn admin_reset_password(url: &str, username: &str, source: PasswordSource) -> u8 {
    use secrecy::ExposeSecret;
    use tokio::io::AsyncBufReadExt;

    let password = match source {
        PasswordSource::Given(p) => p,
        PasswordSource::Stdin => {
            let mut line = String::new();
            let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
            if let Err(e) = stdin.read_line(&mut line).await {
                return fail(format!("reading the password from stdin: {e}"));
            }
            secrecy::SecretString::from(line.trim_end_matches(['\r', '\n']).to_owned())
        }
    };
    let password = match crate::auth::domain::Password::parse(password.expose_secret()) {
        Ok(p) => p,
        Err(e) => return fail(format!("password: {e}")),
    };
    let (db, hasher) = match db_and_hasher(url).await {
        Ok(both) => both,
        Err(code) => return code,
    };
    let hash = match hasher.hash(password.expose().to_owned()).await {
        Ok(h) => h,
        Err(e) => return fail(e),
    };
    let summary = format!("password of {username} reset from the command line");
    let meta = crate::store::policy::ChangeMeta {
        actor: "cli",
        action: "users.reset_password",
        summary: &summary,
    };
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    match crate::store::users::reset_password(&db, username, &hash, &meta, now).await {
        Ok(true) => {
            println!("password of `{username}` reset; its earlier tokens are revoked");
            0
        }
        Ok(false) => fail(format!("no user named `{username}`")),
        Err(e) => fail(e),
    }
}

/// The database and a one-thread password hasher, for the account commands (exit code 2 and
/// the reason printed when either fails).
async fn db_and_hasher(url: &str) -> Result<(Db, crate::auth::password::Hasher), u8> {
    let db = Db::connect(url).await.map_err(fail)?;
    let hasher = crate::auth::password::Hasher::new(1).await.map_err(fail)?;
    Ok((db, hasher))
}

/// `warden admin create-user`: an account without a password, and the one-time token that
/// sets it, printed once. Exit 2 on an invalid or taken name.
pub async fn admin_create_user(url: &str, username: &str, ttl: i64) -> u8 {
    use crate::auth::lifecycle::{SET_PASSWORD_TTL_RANGE, issue_set_password};
    use secrecy::ExposeSecret;

    if !SET_PASSWORD_TTL_RANGE.contains(&ttl) {
        return fail(format!(
            "--ttl-secs must be {}-{}",
            SET_PASSWORD_TTL_RANGE.start(),
            SET_PASSWORD_TTL_RANGE.end()
        ));
    }
    let name = match crate::policy::username::Username::parse(username) {
        Ok(n) => n,
        Err(e) => return fail(format!("username: {e}")),
    };
    let (db, hasher) = match db_and_hasher(url).await {
        Ok(both) => both,
        Err(code) => return code,
    };
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    let attributes = std::collections::BTreeMap::from([(
        "clearance".to_owned(),
        crate::policy::AttrValue::Int(0),
    )]);
    let created = crate::auth::accounts::create_user(
        &db,
        &hasher,
        now,
        crate::auth::accounts::NewAccount {
            username: &name,
            password: None,
            email: None,
            display_name: None,
            attributes: &attributes,
            role: "role:user",
            created_by: Some("cli"),
        },
    )
    .await;
    let user = match created {
        Ok(c) => c.user,
        Err(crate::auth::accounts::AccountError::Store(crate::store::StoreError::Conflict(_))) => {
            return fail(format!("the name `{username}` is taken"));
        }
        Err(e) => return fail(e),
    };
    match issue_set_password(&db, &hasher, &user, ttl, false, "cli", now).await {
        Ok(t) => {
            println!("account `{}` created (role user)", user.username);
            println!(
                "set-password token (shown once): {}",
                t.token.expose_secret()
            );
            println!(
                "it works until unix time {}: POST /v1/auth/set-password {{\"token\": ..., \"password\": ...}}",
                t.expires_at
            );
            0
        }
        Err(e) => fail(e),
    }
}

/// `warden admin delete-user`: [`crate::engine::Engine::delete_account`] from the command
/// line (the same lock-out and invariant checks as the API). Exit 2 when refused.
pub async fn admin_delete_user(url: &str, username: &str) -> u8 {
    let db = match Db::connect(url).await {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let user = match crate::store::users::find_by_username(&db, username).await {
        Ok(Some(u)) => u,
        Ok(None) => return fail(format!("no user named `{username}`")),
        Err(e) => return fail(e),
    };
    let engine = crate::engine::Engine::new(db);
    let summary = format!(
        "deleted account {} from the command line",
        user.username_key
    );
    let meta = crate::store::policy::ChangeMeta {
        actor: "cli",
        action: "users.delete",
        summary: &summary,
    };
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    match engine.delete_account(&user, &meta, now).await {
        Ok(version) => {
            println!(
                "account `{}` deleted (policy version {version}); its name is retired",
                user.username
            );
            0
        }
        Err(e) => fail(e),
    }
}

/// `warden keys rotate`: see [`crate::auth::keys::rotate`].
pub async fn keys_rotate(url: &str) -> u8 {
    let db = match Db::connect(url).await {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let now = crate::clock::Clock::now(&crate::clock::SystemClock);
    match crate::auth::keys::rotate(&db, now).await {
        Ok(kid) => {
            println!(
                "new signing key `{kid}`; restart the instances to sign with it \
                 (the old public key stays published until its tokens expire)"
            );
            0
        }
        Err(e) => fail(e),
    }
}
