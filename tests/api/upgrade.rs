//! Upgrading a database written before tenants: migrate a database built with the previous
//! release's migrations and data, then start today's Warden on it.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::helpers::{ADMIN_PASSWORD, PASSWORD, TestApp, fresh_database_url};

/// The migrations of the release before tenants (`0007_tenants` on SQLite, `0008_tenants` on
/// Postgres, and anything after them, left out).
async fn migrate_like_the_previous_release(url: &str) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let postgres = url.starts_with("postgres");
    let mut migrator = if postgres {
        sqlx::migrate!("./migrations/postgres")
    } else {
        sqlx::migrate!("./migrations/sqlite")
    };
    let before = if postgres { 8 } else { 7 };
    let kept: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version < before)
        .cloned()
        .collect();
    migrator.migrations = kept.into();
    let url = if postgres {
        url.to_owned()
    } else {
        format!("{url}?mode=rwc")
    };
    let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
    migrator.run(&pool).await.expect("old migrations");
    pool
}

#[tokio::test]
async fn a_database_of_the_previous_release_moves_into_default_and_keeps_meaning_the_same() {
    let dir = tempfile::tempdir().expect("dir");
    let url = fresh_database_url(dir.path()).await;
    let old = migrate_like_the_previous_release(&url).await;
    // The previous release's data: the shipped seed policy as it stored it (rules without a
    // tenant, g rows without a domain), an account with a role, and a document.
    let seed = warden::policy::seed::parse_policy(include_str!("../../policies/policy.csv"))
        .expect("seed");
    for r in &seed.rules {
        sqlx::query(
            "INSERT INTO policy_rules (subject, object, action, scope, condition, effect, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0)",
        )
        .bind(&r.subject)
        .bind(&r.object)
        .bind(&r.action)
        .bind(&r.scope)
        .bind(r.condition.as_str())
        .bind(r.effect.as_str())
        .execute(&old)
        .await
        .expect("rule");
    }
    for a in &seed.assignments {
        sqlx::query("INSERT INTO role_assignments (member, role, created_at) VALUES ($1, $2, 0)")
            .bind(&a.member)
            .bind(&a.role)
            .execute(&old)
            .await
            .expect("g");
    }
    let hash = warden::auth::password::Hasher::new(1)
        .await
        .expect("hasher")
        .hash(PASSWORD.to_owned())
        .await
        .expect("hash");
    sqlx::query(
        "INSERT INTO users (username, username_key, password_hash, attributes, scopes, created_at, updated_at) \
         VALUES ('Olga', 'olga', $1, '{\"department\": \"eng\", \"clearance\": 2}', 'documents:read documents:write', 0, 0)",
    )
    .bind(&hash)
    .execute(&old)
    .await
    .expect("user");
    // The installation's admin, as the previous release's bootstrap made it.
    let admin_hash = warden::auth::password::Hasher::new(1)
        .await
        .expect("hasher")
        .hash(ADMIN_PASSWORD.to_owned())
        .await
        .expect("hash");
    sqlx::query(
        "INSERT INTO users (username, username_key, password_hash, created_at, updated_at) \
         VALUES ('admin', 'admin', $1, 0, 0)",
    )
    .bind(&admin_hash)
    .execute(&old)
    .await
    .expect("admin");
    sqlx::query("INSERT INTO role_assignments (member, role, created_at) VALUES ('user:admin', 'role:admin', 0)")
        .execute(&old)
        .await
        .expect("admin's role");
    sqlx::query("INSERT INTO role_assignments (member, role, created_at) VALUES ('user:olga', 'role:editor', 0)")
        .execute(&old)
        .await
        .expect("olga's role");
    sqlx::query(
        "INSERT INTO documents (title, body, department, owner, classification, created_at, updated_at) \
         VALUES ('old', 'kept', 'eng', 'olga', 1, 0, 0)",
    )
    .execute(&old)
    .await
    .expect("document");
    sqlx::query("UPDATE policy_state SET seeded = 1, version = 5 WHERE id = 1")
        .execute(&old)
        .await
        .expect("state");
    let rule_ids: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, subject FROM policy_rules ORDER BY id")
            .fetch_all(&old)
            .await
            .expect("ids");
    old.close().await;

    // Today's Warden migrates it.
    let app = TestApp::on_database(dir, url, |_| {}).await;
    let admin = app.admin_token().await;
    let rules = app.get("/v1/admin/rules?limit=500", &admin).await;
    let items = rules.body["items"].as_array().expect("rules");
    assert_eq!(items.len(), rule_ids.len(), "no rule lost: {rules:?}");
    for (item, (id, subject)) in items.iter().zip(&rule_ids) {
        assert_eq!(
            (item["id"].as_i64(), item["subject"].as_str()),
            (Some(*id), Some(subject.as_str()))
        );
        // Global: the stored and shown form of a rule without a tenant is unchanged.
        assert!(item.get("tenant").is_none(), "{item}");
    }
    // Olga keeps her role in default, with her document; she has none in a new tenant.
    let olga = app.login("olga", PASSWORD).await;
    assert_eq!(olga.status, StatusCode::OK, "{olga:?}");
    let token = olga.body["access_token"].as_str().expect("token");
    let docs = app.get("/api/documents", token).await;
    assert_eq!(docs.body[0]["title"], "old", "{docs:?}");
    assert_eq!(docs.body[0]["tenant"], "default", "{docs:?}");
    let roles = app.get("/v1/admin/users/olga/roles", &admin).await;
    assert!(roles.body.to_string().contains("role:editor"), "{roles:?}");
    let r = app
        .call(
            Method::POST,
            "/v1/admin/tenants",
            Some(&admin),
            Some(json!({"name": "acme"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let in_acme = json!({"tenant": "acme", "checks": [{"subject": {"name": "olga"}, "object": {"path": "/api/documents"}, "action": "POST"}]});
    let in_default = json!({"tenant": "default", "checks": [{"subject": {"name": "olga"}, "object": {"path": "/api/documents"}, "action": "POST"}]});
    let c = app
        .call(Method::POST, "/v1/check", Some(&admin), Some(in_default))
        .await;
    assert_eq!(c.body["results"][0]["allowed"], true, "{c:?}");
    let c = app
        .call(Method::POST, "/v1/check", Some(&admin), Some(in_acme))
        .await;
    assert_eq!(c.body["results"][0]["allowed"], false, "{c:?}");
    // The admin of the previous release is the installation's: an admin in the new tenant too.
    let as_admin_in_acme = json!({"tenant": "acme", "checks": [{"subject": {"name": "admin"}, "object": {"path": "/v1/admin/rules"}, "action": "GET"}]});
    let c = app
        .call(
            Method::POST,
            "/v1/check",
            Some(&admin),
            Some(as_admin_in_acme),
        )
        .await;
    assert_eq!(c.body["results"][0]["allowed"], true, "{c:?}");
    // Every shipped matrix still passes on the migrated policy.
    let run = app
        .call(
            Method::POST,
            "/v1/admin/matrices/run",
            Some(&admin),
            Some(json!({})),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{run:?}");
    let all = run.body.as_array().expect("every matrix");
    assert!(!all.is_empty());
    for m in all {
        assert_eq!(m["failures"], json!([]), "{}", m["name"]);
    }
}
