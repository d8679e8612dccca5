//! Tenants: the directory, tokens that name their tenant, the tenant-scoped admin API, a
//! tenant admin's escalations refused, and isolation between tenants proved cell by cell.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, assert_error};

mod forward;
mod matrices;
mod service_accounts;
mod user_roles;

/// A request: method, path, JSON body.
type Request<'a> = (Method, &'a str, Option<Value>);

/// The `tid` claim of an access token (its payload, unverified: the server verified it).
pub(super) fn tid(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    let claims: Value = serde_json::from_slice(&bytes).expect("json");
    claims["tid"].as_str().expect("tid").to_owned()
}

async fn login_in(app: &TestApp, user: &str, tenant: &str) -> crate::helpers::TestResponse {
    app.token_form(&format!(
        "grant_type=password&username={user}&password={PASSWORD}&tenant={tenant}"
    ))
    .await
}

pub(super) async fn token_in(app: &TestApp, user: &str, tenant: &str) -> String {
    let r = login_in(app, user, tenant).await;
    assert_eq!(r.status, StatusCode::OK, "{user} in {tenant}: {r:?}");
    r.body["access_token"].as_str().expect("token").to_owned()
}

pub(super) async fn create_tenant(app: &TestApp, admin: &str, name: &str) {
    let r = app
        .call(
            Method::POST,
            "/v1/admin/tenants",
            Some(admin),
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
}

pub(super) async fn put_member(
    app: &TestApp,
    token: &str,
    tenant: &str,
    user: &str,
    roles: &[&str],
) -> crate::helpers::TestResponse {
    app.call(
        Method::PUT,
        &format!("/v1/tenants/{tenant}/admin/members/{user}"),
        Some(token),
        Some(json!({ "roles": roles })),
    )
    .await
}

/// acme (alice: tenant admin, carol: editor) and globex (bob: tenant admin, dave: viewer),
/// made by the installation admin. Returns the admin's token.
pub(super) async fn two_tenants(app: &TestApp) -> String {
    let admin = app.admin_token().await;
    for t in ["acme", "globex"] {
        create_tenant(app, &admin, t).await;
    }
    for u in ["alice", "bob", "carol", "dave"] {
        assert_eq!(app.register(u, PASSWORD).await.status, StatusCode::CREATED);
    }
    for (t, u, r) in [
        ("acme", "alice", "role:tenant-admin"),
        ("acme", "carol", "role:editor"),
        ("globex", "bob", "role:tenant-admin"),
        ("globex", "dave", "role:viewer"),
    ] {
        let res = put_member(app, &admin, t, u, &[r]).await;
        assert_eq!(res.status, StatusCode::OK, "{res:?}");
    }
    admin
}

#[tokio::test]
async fn the_directory_creates_lists_renames_and_disables_tenants_with_a_version_each() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let before = app.policy_version(&admin).await;
    create_tenant(&app, &admin, "acme").await;
    assert_eq!(app.policy_version(&admin).await, before + 1);
    let again = app
        .call(
            Method::POST,
            "/v1/admin/tenants",
            Some(&admin),
            Some(json!({"name": "acme"})),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT, "{again:?}");
    for bad in ["Acme", "", "a_b", &"x".repeat(64)] {
        let r = app
            .call(
                Method::POST,
                "/v1/admin/tenants",
                Some(&admin),
                Some(json!({"name": bad})),
            )
            .await;
        assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let listed = app.get("/v1/admin/tenants", &admin).await;
    let names: Vec<&str> = listed
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["acme", "default"]);
    let renamed = app
        .call(
            Method::PATCH,
            "/v1/admin/tenants/acme",
            Some(&admin),
            Some(json!({"display_name": "Acme Corp"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{renamed:?}");
    assert_eq!(renamed.body["tenant"]["display_name"], "Acme Corp");
    let no_default = app
        .call(
            Method::PATCH,
            "/v1/admin/tenants/default",
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_error(
        &no_default,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    let audit = app.get("/v1/admin/audit", &admin).await;
    assert!(
        audit.body.to_string().contains("tenants.update"),
        "{audit:?}"
    );
}

#[tokio::test]
async fn tokens_name_their_tenant_and_a_tenant_the_account_may_not_use_is_refused_alike() {
    let app = TestApp::new().await;
    let admin = two_tenants(&app).await;
    // Without a tenant: the only one, or default among several.
    let (plain, _) = app.user_tokens("erin").await;
    assert_eq!(tid(&plain), "default");
    let alice_default = app.login("alice", PASSWORD).await;
    assert_eq!(
        tid(alice_default.body["access_token"].as_str().expect("t")),
        "default"
    );
    assert_eq!(tid(&token_in(&app, "alice", "acme").await), "acme");
    // Not a member, disabled and unknown tenants get one answer.
    for t in ["globex", "initech"] {
        assert_error(
            &login_in(&app, "alice", t).await,
            StatusCode::FORBIDDEN,
            "not_a_member",
        );
    }
    assert_error(
        &login_in(&app, "alice", "Bad_Name").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
    // Refresh switches tenant without the password; a refused switch keeps the session.
    let first = login_in(&app, "alice", "acme").await;
    let refresh = first.body["refresh_token"].as_str().expect("refresh");
    let refused = app
        .token_form(&format!(
            "grant_type=refresh_token&refresh_token={refresh}&tenant=globex"
        ))
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "not_a_member");
    let switched = app
        .token_form(&format!(
            "grant_type=refresh_token&refresh_token={refresh}&tenant=default"
        ))
        .await;
    assert_eq!(switched.status, StatusCode::OK, "{switched:?}");
    assert_eq!(
        tid(switched.body["access_token"].as_str().expect("t")),
        "default"
    );
    // A disabled tenant's tokens stop working at once, and it issues none.
    let carol = token_in(&app, "carol", "acme").await;
    assert_eq!(app.get("/v1/me", &carol).await.status, StatusCode::OK);
    let off = app
        .call(
            Method::PATCH,
            "/v1/admin/tenants/acme",
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{off:?}");
    assert_error(
        &app.get("/v1/me", &carol).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    );
    assert_error(
        &login_in(&app, "carol", "acme").await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
}

#[tokio::test]
async fn a_tenant_admin_edits_members_and_rules_of_their_tenant_and_the_other_tenant_is_unaffected()
{
    let app = TestApp::new().await;
    two_tenants(&app).await;
    let alice = token_in(&app, "alice", "acme").await;
    // A tenant rule: acme's editors may read reports. Only in acme.
    let rule =
        json!({"subject": "role:editor", "object": "report", "action": "read", "effect": "allow"});
    let r = app
        .call(
            Method::POST,
            "/v1/tenants/acme/admin/rules",
            Some(&alice),
            Some(rule),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let listed = app.get("/v1/tenants/acme/admin/rules", &alice).await;
    assert_eq!(listed.body["items"][0]["tenant"], "acme", "{listed:?}");
    let check = |token: String| {
        let app = &app;
        async move {
            let body = json!({"checks": [{"object": {"type": "report"}, "action": "read"}]});
            let r = app
                .call(Method::POST, "/v1/check", Some(&token), Some(body))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            r.body["results"][0]["allowed"].as_bool().expect("allowed")
        }
    };
    assert!(check(token_in(&app, "carol", "acme").await).await);
    // globex: bob makes dave an editor there; acme's rule does not reach him.
    let bob = token_in(&app, "bob", "globex").await;
    assert_eq!(
        put_member(&app, &bob, "globex", "dave", &["role:editor"])
            .await
            .status,
        StatusCode::OK
    );
    assert!(!check(token_in(&app, "dave", "globex").await).await);
    // alice adds dave to acme as an editor: now he may, in acme only.
    assert_eq!(
        put_member(&app, &alice, "acme", "dave", &["role:editor"])
            .await
            .status,
        StatusCode::OK
    );
    assert!(check(token_in(&app, "dave", "acme").await).await);
    assert!(!check(token_in(&app, "dave", "globex").await).await);
    let members = app.get("/v1/tenants/acme/admin/members", &alice).await;
    assert_eq!(members.status, StatusCode::OK);
    let names: Vec<&str> = members
        .body
        .as_array()
        .expect("members")
        .iter()
        .map(|m| m["name"].as_str().expect("n"))
        .collect();
    assert_eq!(names, ["alice", "carol", "dave"]);
    // Removing him takes his acme roles and membership.
    let gone = app
        .call(
            Method::DELETE,
            "/v1/tenants/acme/admin/members/dave",
            Some(&alice),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::OK, "{gone:?}");
    assert_error(
        &login_in(&app, "dave", "acme").await,
        StatusCode::FORBIDDEN,
        "not_a_member",
    );
}

#[tokio::test]
async fn a_tenant_admins_escalations_are_refused_naming_why_and_the_version_does_not_move() {
    let app = TestApp::new().await;
    let admin = two_tenants(&app).await;
    let alice = token_in(&app, "alice", "acme").await;
    let rule = |sub: &str, obj: &str, tenant: Option<&str>| {
        let mut r = json!({"subject": sub, "object": obj, "action": "*", "effect": "allow"});
        if let Some(t) = tenant {
            r["tenant"] = json!(t);
        }
        r
    };
    let post = |path: &'static str, body: Value| (Method::POST, path, Some(body));
    // (what, method, path, body, status, code)
    let cases: Vec<(&str, Request, StatusCode, &str)> = vec![
        (
            "a global rule",
            post("/v1/admin/rules", rule("role:editor", "report", None)),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "a rule naming another tenant",
            post(
                "/v1/tenants/acme/admin/rules",
                rule("role:editor", "report", Some("globex")),
            ),
            StatusCode::FORBIDDEN,
            "outside_tenant",
        ),
        (
            "a rule marked global",
            post(
                "/v1/tenants/acme/admin/rules",
                rule("role:editor", "report", Some("*")),
            ),
            StatusCode::CREATED,
            "",
        ),
        (
            "a rule for everyone",
            post("/v1/tenants/acme/admin/rules", rule("*", "report", None)),
            StatusCode::FORBIDDEN,
            "outside_tenant",
        ),
        (
            "a rule for another tenant's user",
            post(
                "/v1/tenants/acme/admin/rules",
                rule("user:bob", "report", None),
            ),
            StatusCode::FORBIDDEN,
            "outside_tenant",
        ),
        (
            "a rule for the installation's role",
            post(
                "/v1/tenants/acme/admin/rules",
                rule("role:admin", "report", None),
            ),
            StatusCode::FORBIDDEN,
            "outside_tenant",
        ),
        (
            "a rule on the installation's admin API",
            post(
                "/v1/tenants/acme/admin/rules",
                rule("role:editor", "/v1/admin/*", None),
            ),
            StatusCode::FORBIDDEN,
            "outside_tenant",
        ),
        (
            "a rule on another tenant's admin API",
            post(
                "/v1/tenants/acme/admin/rules",
                rule("role:editor", "/v1/tenants/globex/admin/*", None),
            ),
            StatusCode::FORBIDDEN,
            "outside_tenant",
        ),
        (
            "a rule on every object",
            post(
                "/v1/tenants/acme/admin/rules",
                rule("role:editor", "*", None),
            ),
            StatusCode::FORBIDDEN,
            "outside_tenant",
        ),
        (
            "the global admin role",
            (
                Method::PUT,
                "/v1/tenants/acme/admin/members/carol",
                Some(json!({"roles": ["role:admin"]})),
            ),
            StatusCode::FORBIDDEN,
            "outside_tenant",
        ),
        (
            "another tenant's member",
            (
                Method::PUT,
                "/v1/tenants/globex/admin/members/dave",
                Some(json!({"roles": ["role:editor"]})),
            ),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "removing another tenant's member",
            (
                Method::DELETE,
                "/v1/tenants/globex/admin/members/dave",
                None,
            ),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "another tenant's rules",
            (Method::GET, "/v1/tenants/globex/admin/rules", None),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "the installation's audit",
            (Method::GET, "/v1/admin/audit", None),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "the installation's versions",
            (Method::GET, "/v1/admin/policy/versions", None),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "creating a tenant",
            post("/v1/admin/tenants", json!({"name": "mine"})),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "another tenant's audit",
            (Method::GET, "/v1/tenants/globex/admin/audit", None),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "another tenant's versions",
            (
                Method::GET,
                "/v1/tenants/globex/admin/policy/versions",
                None,
            ),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "another tenant's version diff",
            (
                Method::GET,
                "/v1/tenants/globex/admin/policy/versions/1/diff",
                None,
            ),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "another tenant's dry run",
            post(
                "/v1/tenants/globex/admin/policy/dry-run",
                json!({"add": [rule("role:editor", "report", None)]}),
            ),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
        (
            "a dry run of a rule reaching outside the tenant",
            post(
                "/v1/tenants/acme/admin/policy/dry-run",
                json!({"add": [rule("user:bob", "report", None)]}),
            ),
            StatusCode::OK,
            "",
        ),
    ];
    for (what, (method, path, body), status, code) in cases {
        let before = app.policy_version(&admin).await;
        let r = app.call(method, path, Some(&alice), body).await;
        if status == StatusCode::CREATED {
            // `"tenant": "*"` in a tenant's API is that tenant: the rule is acme's.
            assert_eq!(r.status, status, "{what}: {r:?}");
            let rules = app.get("/v1/tenants/acme/admin/rules", &alice).await;
            assert!(
                rules.body["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .all(|i| i["tenant"] == "acme"),
                "{what}: {rules:?}"
            );
            continue;
        }
        if status == StatusCode::OK {
            // A dry run answers what the edit would: refused, and nothing moves.
            assert_eq!(r.status, status, "{what}: {r:?}");
            assert_eq!(r.body["accepted"], false, "{what}: {r:?}");
            assert_eq!(
                r.body["refusal"]["error"], "outside_tenant",
                "{what}: {r:?}"
            );
            assert_eq!(app.policy_version(&admin).await, before, "{what}");
            continue;
        }
        assert_error(&r, status, code);
        if code == "outside_tenant" {
            assert!(
                !r.body["message"].as_str().unwrap_or("").is_empty(),
                "{what}: {r:?}"
            );
        }
        assert_eq!(
            app.policy_version(&admin).await,
            before,
            "{what} moved the version"
        );
    }
}

#[tokio::test]
async fn the_last_tenant_admin_cannot_remove_themself_but_may_hand_the_role_on() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let _ = admin;
    two_tenants(&app).await;
    let alice = token_in(&app, "alice", "acme").await;
    let demote = put_member(&app, &alice, "acme", "alice", &["role:editor"]).await;
    assert_error(&demote, StatusCode::CONFLICT, "lockout");
    let leave = app
        .call(
            Method::DELETE,
            "/v1/tenants/acme/admin/members/alice",
            Some(&alice),
            None,
        )
        .await;
    assert_error(&leave, StatusCode::CONFLICT, "lockout");
    assert_eq!(
        put_member(&app, &alice, "acme", "carol", &["role:tenant-admin"])
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        put_member(&app, &alice, "acme", "alice", &["role:editor"])
            .await
            .status,
        StatusCode::OK
    );
}

/// Every member of one tenant, with a token of their tenant, against every tenant-admin route
/// of the other tenant and every document of the other tenants (and of default), through the
/// HTTP routes and `/v1/check`: nothing is allowed. The editors are demo users, who hold roles
/// in default too (bob is an editor there): a role of one tenant reaches nothing of another.
#[tokio::test]
async fn no_member_of_one_tenant_reaches_anything_of_another() {
    use warden::bootstrap::demo::DEMO_PASSWORD;
    let app = TestApp::with_config(|c| {
        c.demo = true;
        c.proxies.trusted = vec![warden::auth::client::Cidr::parse("10.0.0.0/8").expect("cidr")];
    })
    .await;
    let admin = app.admin_token().await;
    for t in ["acme", "globex"] {
        create_tenant(&app, &admin, t).await;
    }
    // (tenant, user, role, password)
    let people = [
        ("acme", "acme-admin", "role:tenant-admin", PASSWORD),
        ("acme", "bob", "role:editor", DEMO_PASSWORD),
        ("acme", "acme-viewer", "role:viewer", PASSWORD),
        ("globex", "globex-admin", "role:tenant-admin", PASSWORD),
        ("globex", "alice", "role:editor", DEMO_PASSWORD),
        ("globex", "globex-viewer", "role:viewer", PASSWORD),
    ];
    for (t, u, r, pw) in people {
        if pw == PASSWORD {
            assert_eq!(app.register(u, PASSWORD).await.status, StatusCode::CREATED);
        }
        assert_eq!(
            put_member(&app, &admin, t, u, &[r]).await.status,
            StatusCode::OK
        );
    }
    let token = |user: &'static str, pw: &'static str, tenant: &'static str| {
        let app = &app;
        async move {
            let r = app
                .token_form(&format!(
                    "grant_type=password&username={user}&password={pw}&tenant={tenant}"
                ))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{user} in {tenant}: {r:?}");
            r.body["access_token"].as_str().expect("token").to_owned()
        }
    };
    // Each tenant's document, made by its editor with a token of the tenant.
    let mut docs = std::collections::BTreeMap::new();
    for (t, editor) in [("acme", "bob"), ("globex", "alice")] {
        let tok = token(editor, DEMO_PASSWORD, t).await;
        let body = json!({"title": "t", "body": "b", "department": "eng", "classification": 1});
        let r = app
            .call(Method::POST, "/api/documents", Some(&tok), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        assert_eq!(r.body["tenant"], t, "{r:?}");
        let id = r.body["id"].as_i64().expect("id");
        // Its own tenant reads it.
        assert_eq!(
            app.get(&format!("/api/documents/{id}"), &tok).await.status,
            StatusCode::OK
        );
        docs.insert(t, id);
    }
    let mut cells = 0;
    for (mine, user, role, pw) in people {
        let tok = token(user, pw, mine).await;
        let other = if mine == "acme" { "globex" } else { "acme" };
        let mut routes = vec![
            (Method::GET, format!("/v1/tenants/{other}/admin/members")),
            (Method::GET, format!("/v1/tenants/{other}/admin/rules")),
            (
                Method::PUT,
                format!("/v1/tenants/{other}/admin/members/{user}"),
            ),
            (
                Method::DELETE,
                format!("/v1/tenants/{other}/admin/members/{user}"),
            ),
            (Method::POST, format!("/v1/tenants/{other}/admin/rules")),
            (Method::GET, "/v1/admin/tenants".to_owned()),
        ];
        // The other tenant's document, and default's demo document 1 (bob's, eng).
        for doc in [docs[other], 1] {
            for m in [Method::GET, Method::PUT, Method::DELETE] {
                routes.push((m, format!("/api/documents/{doc}")));
            }
        }
        for (method, path) in routes {
            let body = match method {
                Method::PUT if path.starts_with("/api/") => Some(
                    json!({"title": "x", "body": "x", "department": "eng", "classification": 1}),
                ),
                Method::PUT => Some(json!({"roles": ["role:editor"]})),
                Method::POST => Some(
                    json!({"subject": "role:editor", "object": "report", "action": "read", "effect": "allow"}),
                ),
                _ => None,
            };
            let r = app.call(method.clone(), &path, Some(&tok), body).await;
            assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
            if !path.starts_with("/api/") {
                // Route rules: /v1/check says the same, in the token's tenant.
                let check =
                    json!({"checks": [{"object": {"path": path}, "action": method.as_str()}]});
                let c = app
                    .call(Method::POST, "/v1/check", Some(&tok), Some(check))
                    .await;
                assert_eq!(c.status, StatusCode::OK, "{c:?}");
                assert_eq!(
                    c.body["results"][0]["allowed"], false,
                    "{user} ({role} of {mine}) /v1/check {method} {path}"
                );
                // And forward-auth, as a gateway asks it: in the token's tenant, naming it,
                // or naming the other tenant (refused: only an installation admin may).
                for named in [None, Some(mine), Some(other)] {
                    let f = forward(&app, &tok, method.as_str(), &path, named).await;
                    assert_error(&f, StatusCode::FORBIDDEN, "forbidden");
                    assert_eq!(
                        f.headers["x-warden-error"], "forbidden",
                        "{user} ({role} of {mine}) forward {method} {path} in {named:?}"
                    );
                }
            }
            cells += 1;
        }
        // The documents of the other tenant are not even listed.
        let listed = app.get("/api/documents", &tok).await;
        assert!(
            listed
                .body
                .as_array()
                .expect("list")
                .iter()
                .all(|d| d["tenant"] == mine),
            "{user}: {listed:?}"
        );
        // Asking for the other tenant explicitly is refused to a non-installation admin.
        let explicit = json!({"tenant": other, "checks": [{"object": {"type": "document"}, "action": "read"}]});
        assert_error(
            &app.call(Method::POST, "/v1/check", Some(&tok), Some(explicit))
                .await,
            StatusCode::FORBIDDEN,
            "forbidden",
        );
    }
    assert_eq!(cells, people.len() * 12);
}

/// Forward-auth as a trusted gateway (10.1.2.3) asks it, optionally naming the tenant.
pub(super) async fn forward(
    app: &TestApp,
    token: &str,
    method: &str,
    path: &str,
    tenant: Option<&str>,
) -> crate::helpers::TestResponse {
    let mut req = axum::http::Request::builder()
        .method(Method::GET)
        .uri("/v1/authz/forward")
        .header("authorization", format!("Bearer {token}"))
        .header("x-forwarded-method", method)
        .header("x-forwarded-uri", path);
    if let Some(t) = tenant {
        req = req.header("x-warden-tenant", t);
    }
    let mut req = req.body(axum::body::Body::empty()).expect("request");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [10, 1, 2, 3],
            40_000,
        ))));
    app.send(req).await
}

/// A matrix with a tenant per subject states isolation cell by cell: each tenant's admin and
/// editor against both tenants' admin routes and a tenant-local rule's resource.
#[tokio::test]
async fn an_isolation_matrix_with_tenant_subjects_passes_cell_by_cell() {
    let app = TestApp::new().await;
    let admin = two_tenants(&app).await;
    let alice = token_in(&app, "alice", "acme").await;
    let rule =
        json!({"subject": "role:editor", "object": "report", "action": "read", "effect": "allow"});
    let r = app
        .call(
            Method::POST,
            "/v1/tenants/acme/admin/rules",
            Some(&alice),
            Some(rule),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let matrix = "name: tenant-isolation
subjects:
  acme-admin: {tenant: acme, roles: [tenant-admin]}
  acme-editor: {tenant: acme, roles: [editor], scopes: [documents:read]}
  globex-admin: {tenant: globex, roles: [tenant-admin]}
  globex-editor: {tenant: globex, roles: [editor], scopes: [documents:read]}
objects:
  acme-members: {type: /v1/tenants/acme/admin/members}
  acme-rules: {type: /v1/tenants/acme/admin/rules}
  globex-members: {type: /v1/tenants/globex/admin/members}
  globex-rules: {type: /v1/tenants/globex/admin/rules}
  report: {type: report}
actions: [GET, read]
expect:
  acme-admin: {acme-members: [GET, read], acme-rules: [GET, read]}
  acme-editor: {report: [read]}
  globex-admin: {globex-members: [GET, read], globex-rules: [GET, read]}
  globex-editor: {}
";
    let run = app
        .call(
            Method::POST,
            "/v1/admin/matrices/run",
            Some(&admin),
            Some(json!({ "matrix": matrix })),
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{run:?}");
    assert_eq!(run.body["failures"], json!([]), "{run:?}");
    assert_eq!(run.body["checked"], 4 * 5 * 2, "{run:?}");
}

/// The versions (`version` of each item) a tenant's audit route lists, and the JSON of every
/// item, for assertions.
pub(super) async fn tenant_history(
    app: &TestApp,
    token: &str,
    tenant: &str,
    path: &str,
) -> (Vec<i64>, String) {
    let r = app
        .get(
            &format!("/v1/tenants/{tenant}/admin/{path}?limit=500"),
            token,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{tenant} {path}: {r:?}");
    let items = r.body["items"].as_array().expect("items");
    assert_eq!(
        r.body["total"].as_u64(),
        Some(items.len() as u64),
        "{tenant} {path}: total counts the tenant's rows only"
    );
    let versions = items.iter().filter_map(|i| i["version"].as_i64()).collect();
    (versions, r.body["items"].to_string())
}

#[tokio::test]
async fn a_tenant_admin_sees_their_tenants_versions_and_audit_and_never_anothers() {
    let app = TestApp::new().await;
    let admin = two_tenants(&app).await;
    let alice = token_in(&app, "alice", "acme").await;
    let bob = token_in(&app, "bob", "globex").await;
    let mut made = std::collections::BTreeMap::new();
    for (token, tenant, object) in [
        (&alice, "acme", "acme-secret-report"),
        (&bob, "globex", "globex-secret-report"),
    ] {
        let r = app
            .call(
                Method::POST,
                &format!("/v1/tenants/{tenant}/admin/rules"),
                Some(token),
                Some(json!({"subject": "role:viewer", "object": object, "action": "read", "effect": "allow"})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
        made.insert(tenant, r.body["policy_version"].as_i64().expect("version"));
    }
    let global = app
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(json!({"subject": "role:viewer", "object": "installation-report", "action": "read", "effect": "allow"})),
        )
        .await;
    assert_eq!(global.status, StatusCode::CREATED, "{global:?}");
    let global_version = global.body["policy_version"].as_i64().expect("version");

    for (tenant, token, other) in [("acme", &alice, "globex"), ("globex", &bob, "acme")] {
        for path in ["audit", "policy/versions"] {
            let (versions, text) = tenant_history(&app, token, tenant, path).await;
            assert!(versions.contains(&made[tenant]), "{tenant} {path}: {text}");
            assert!(
                !versions.contains(&made[other]),
                "{tenant} {path} shows {other}'s"
            );
            assert!(
                !versions.contains(&global_version),
                "{tenant} {path} shows a global change"
            );
            assert!(
                !text.contains(other),
                "{tenant} {path} names {other}: {text}"
            );
            assert!(
                text.contains(&format!("{tenant}-secret-report")),
                "{tenant} {path}: {text}"
            );
        }
        let own = app
            .get(
                &format!(
                    "/v1/tenants/{tenant}/admin/policy/versions/{}/diff",
                    made[tenant]
                ),
                token,
            )
            .await;
        assert_eq!(own.status, StatusCode::OK, "{own:?}");
        assert_eq!(own.body["action"], "tenants.rules.add", "{own:?}");
        for hidden in [made[other], global_version] {
            let r = app
                .get(
                    &format!("/v1/tenants/{tenant}/admin/policy/versions/{hidden}/diff"),
                    token,
                )
                .await;
            assert_error(&r, StatusCode::NOT_FOUND, "not_found");
        }
        // The installation admin reads any tenant's history through the same route.
        let (versions, _) = tenant_history(&app, &admin, tenant, "audit").await;
        assert!(versions.contains(&made[tenant]) && !versions.contains(&made[other]));
    }
    // The installation's own history still holds everything.
    let all = app.get("/v1/admin/policy/versions?limit=500", &admin).await;
    let all: Vec<i64> = all.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["version"].as_i64())
        .collect();
    for v in [made["acme"], made["globex"], global_version] {
        assert!(all.contains(&v), "installation versions lack {v}");
    }
}

#[tokio::test]
async fn a_tenant_dry_run_refuses_exactly_what_the_edit_refuses_and_moves_nothing() {
    let app = TestApp::new().await;
    let admin = two_tenants(&app).await;
    let alice = token_in(&app, "alice", "acme").await;
    let bob = token_in(&app, "bob", "globex").await;
    let theirs = app
        .call(
            Method::POST,
            "/v1/tenants/globex/admin/rules",
            Some(&bob),
            Some(json!({"subject": "role:viewer", "object": "report", "action": "read", "effect": "allow"})),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{theirs:?}");
    let their_id = theirs.body["rule_ids"][0].as_i64().expect("id");
    let rule = |sub: &str, obj: &str| json!({"subject": sub, "object": obj, "action": "read", "effect": "allow"});
    // (what, dry-run body, the real edit: method, path, body)
    let cases: Vec<(&str, Value, Request)> = vec![
        (
            "another tenant's user",
            json!({"add": [rule("user:bob", "report")]}),
            (
                Method::POST,
                "/v1/tenants/acme/admin/rules",
                Some(rule("user:bob", "report")),
            ),
        ),
        (
            "everyone",
            json!({"add": [rule("*", "report")]}),
            (
                Method::POST,
                "/v1/tenants/acme/admin/rules",
                Some(rule("*", "report")),
            ),
        ),
        (
            "an object outside the tenant",
            json!({"add": [rule("role:viewer", "/v1/admin/rules")]}),
            (
                Method::POST,
                "/v1/tenants/acme/admin/rules",
                Some(rule("role:viewer", "/v1/admin/rules")),
            ),
        ),
        (
            "an invalid condition",
            json!({"add": [{"subject": "role:viewer", "object": "report", "action": "read", "effect": "allow", "condition": "r.sub.("}]}),
            (
                Method::POST,
                "/v1/tenants/acme/admin/rules",
                Some(
                    json!({"subject": "role:viewer", "object": "report", "action": "read", "effect": "allow", "condition": "r.sub.("}),
                ),
            ),
        ),
        (
            "another tenant's rule",
            json!({"delete": [their_id]}),
            (Method::DELETE, "", None),
        ),
        (
            "a rule inside the tenant",
            json!({"add": [rule("role:viewer", "report")]}),
            (
                Method::POST,
                "/v1/tenants/acme/admin/rules",
                Some(rule("role:viewer", "report")),
            ),
        ),
    ];
    let delete_theirs = format!("/v1/tenants/acme/admin/rules/{their_id}");
    for (what, dry, (method, path, body)) in cases {
        let before = app.policy_version(&admin).await;
        let d = app
            .call(
                Method::POST,
                "/v1/tenants/acme/admin/policy/dry-run",
                Some(&alice),
                Some(dry),
            )
            .await;
        assert_eq!(d.status, StatusCode::OK, "{what}: {d:?}");
        assert_eq!(
            app.policy_version(&admin).await,
            before,
            "{what}: the dry run moved the version"
        );
        let path = if path.is_empty() {
            delete_theirs.as_str()
        } else {
            path
        };
        let real = app.call(method, path, Some(&alice), body).await;
        let accepted = real.status.is_success();
        assert_eq!(
            d.body["accepted"], accepted,
            "{what}: dry run {d:?} vs edit {real:?}"
        );
        if !accepted {
            assert_eq!(
                d.body["refusal"]["status"],
                real.status.as_u16(),
                "{what}: {d:?} vs {real:?}"
            );
            assert_eq!(
                d.body["refusal"]["error"], real.body["error"],
                "{what}: {d:?} vs {real:?}"
            );
            assert_eq!(
                app.policy_version(&admin).await,
                before,
                "{what}: refused edit moved"
            );
        }
    }
}

#[tokio::test]
async fn the_shipped_invariants_keep_tenants_isolated_and_administrable_against_any_admin_edit() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let rules = app.get("/v1/admin/rules?limit=500", &admin).await;
    let tenant_admin_rule = rules.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| r["subject"] == "role:tenant-admin")
        .and_then(|r| r["id"].as_i64())
        .expect("the seed's tenant-admin rule");
    let rule = |sub: &str, obj: &str, act: &str| json!({"subject": sub, "object": obj, "action": act, "effect": "allow"});
    // (what, method, path, body): each flips a cell of the shipped invariants
    let cases: Vec<(&str, Request)> = vec![
        (
            "every member reads every tenant's admin API",
            (
                Method::POST,
                "/v1/admin/rules",
                Some(rule("role:user", "/v1/tenants/:tenant/admin/*", "GET")),
            ),
        ),
        (
            "editors manage their tenant's members",
            (
                Method::POST,
                "/v1/admin/rules",
                Some(rule(
                    "role:editor",
                    "/v1/tenants/:tenant/admin/members",
                    "*",
                )),
            ),
        ),
        (
            "tenant admins reach the installation's admin API",
            (
                Method::POST,
                "/v1/admin/rules",
                Some(rule("role:tenant-admin", "/v1/admin/*", "GET")),
            ),
        ),
        (
            "no tenant can be administered any more",
            (Method::DELETE, "/v1/admin/rules/TENANT_ADMIN_RULE", None),
        ),
    ];
    for (what, (method, path, body)) in cases {
        let path = path.replace("TENANT_ADMIN_RULE", &tenant_admin_rule.to_string());
        let before = app.policy_version(&admin).await;
        let r = app.call(method, &path, Some(&admin), body).await;
        assert_error(&r, StatusCode::CONFLICT, "invariant_violation");
        assert!(
            r.body.to_string().contains("acme-"),
            "{what}: the refusal names the tenant cells: {r:?}"
        );
        assert_eq!(
            app.policy_version(&admin).await,
            before,
            "{what} moved the version"
        );
    }
}

#[tokio::test]
async fn the_demo_ships_a_second_tenant_whose_admin_governs_it_and_reaches_nothing_else() {
    use warden::bootstrap::demo::DEMO_PASSWORD;
    let app = TestApp::with_config(|c| c.demo = true).await;
    let login = |user: &'static str, tenant: &'static str| {
        let app = &app;
        async move {
            let r = app
                .token_form(&format!(
                    "grant_type=password&username={user}&password={DEMO_PASSWORD}&tenant={tenant}"
                ))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{user} in {tenant}: {r:?}");
            r.body["access_token"].as_str().expect("token").to_owned()
        }
    };
    let carol = login("carol", "initech").await;
    let members = app.get("/v1/tenants/initech/admin/members", &carol).await;
    assert_eq!(members.status, StatusCode::OK, "{members:?}");
    assert_eq!(
        members.body,
        json!([
            {"name": "bob", "roles": ["role:editor"]},
            {"name": "carol", "roles": ["role:tenant-admin"]},
        ])
    );
    let history = app.get("/v1/tenants/initech/admin/audit", &carol).await;
    assert_eq!(
        history.body["total"], 2,
        "created, then its members: {history:?}"
    );
    for path in [
        "/v1/tenants/default/admin/members",
        "/v1/admin/users",
        "/v1/admin/tenants",
    ] {
        let r = app.get(path, &carol).await;
        assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    }
    // bob edits in default; in initech (no documents there) he sees none of default's
    let listed = |token: String| {
        let app = &app;
        async move {
            let r = app.get("/api/documents", &token).await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            r.body.as_array().map_or(0, Vec::len)
        }
    };
    assert!(listed(login("bob", "default").await).await > 0);
    assert_eq!(listed(login("bob", "initech").await).await, 0);
    // alice is not a member of initech
    let r = app
        .token_form(&format!(
            "grant_type=password&username=alice&password={DEMO_PASSWORD}&tenant=initech"
        ))
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "not_a_member");
}

/// A tenant admin's dry run shows who would gain what among their tenant's members only,
/// decided in their tenant: the accounts of other tenants are never named to them.
#[tokio::test]
async fn a_tenant_dry_run_shows_the_access_its_members_would_gain_and_names_no_one_else() {
    let app = TestApp::new().await;
    two_tenants(&app).await;
    let alice = token_in(&app, "alice", "acme").await;
    let r = app
        .call(
            Method::POST,
            "/v1/tenants/acme/admin/policy/dry-run",
            Some(&alice),
            Some(json!({"add": [{"subject": "role:editor", "object": "report", "action": "read", "effect": "allow"}]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["accepted"], true, "{r:?}");
    let gained: Vec<&str> = r.body["access"]["gained"]
        .as_array()
        .expect("gained")
        .iter()
        .map(|row| row["username"].as_str().expect("username"))
        .collect();
    assert_eq!(gained, ["carol"], "acme's editor, in acme: {r:?}");
    let text = r.body["access"].to_string();
    for outsider in ["bob", "dave", "admin"] {
        assert!(
            !text.contains(&format!("\"{outsider}\"")),
            "{outsider} is not acme's: {text}"
        );
    }
}
