//! Tokens of trusted external OpenID Connect issuers (`--oidc-config`): accepted like
//! Warden's own, mapped to roles, scopes and attributes, and every forgery refused (the
//! attack table). The issuers here are tiny in-test servers on 127.0.0.1 publishing keys the
//! tests generate, so each test signs exactly the token it needs.

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use warden::config::Config;

use crate::helpers::oidc::{FakeIssuer, Mode, TestKey, issuer_yaml, unsigned};
use crate::helpers::*;

fn trust(config: &mut Config, yaml: &str) {
    config.federation =
        warden::auth::federation::config::parse(yaml, &config.issuer).expect("oidc config");
}

fn now_of(app: &TestApp) -> i64 {
    use warden::clock::Clock as _;
    app.clock.now()
}

/// A viewer of eng with clearance 2 and `documents:read`, issued now by `iss`; `changes`
/// overrides claims (`null` removes one).
fn claims(iss: &str, now: i64, changes: Value) -> Value {
    let mut c = json!({
        "iss": iss, "aud": "warden-api", "sub": "42", "iat": now, "exp": now + 300,
        "groups": ["viewer"], "scope": "documents:read", "department": "eng", "clearance": 2,
        "org_id": "acme",
    });
    for (k, v) in changes.as_object().expect("object") {
        match v {
            Value::Null => {
                c.as_object_mut().expect("object").remove(k);
            }
            v => {
                c[k] = v.clone();
            }
        }
    }
    c
}

/// The claims name the tenant `acme` (`org_id`, the test issuers' `tenant_claim`): it
/// exists in every test app, so federated callers act there.
async fn app_trusting(yaml: String) -> TestApp {
    with_acme(TestApp::with_config(|c| trust(c, &yaml)).await).await
}

async fn with_acme(app: TestApp) -> TestApp {
    let admin = app.admin_token().await;
    let r = app
        .call(
            Method::POST,
            "/v1/admin/tenants",
            Some(&admin),
            Some(json!({"name": "acme"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    app
}

fn read_check(department: &str, classification: i64) -> Value {
    json!({"checks": [{"object": {"type": "document", "attributes":
        {"department": department, "classification": classification, "owner": "zed"}},
        "action": "read"}]})
}

#[tokio::test]
async fn a_federated_token_acts_with_the_roles_scopes_and_attributes_its_claims_map_to() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app = app_trusting(issuer_yaml("corp", &idp.url, "EdDSA", "")).await;
    let now = now_of(&app);
    let token = key.sign(&claims(&idp.url, now, json!({})));

    let me = app.get("/v1/me", &token).await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    assert_eq!(me.body["username"], "corp:42", "{me:?}");
    assert_eq!(me.body["token_scopes"], json!(["documents:read"]));
    assert_eq!(
        me.body["roles"],
        json!(["user", "viewer"]),
        "viewer and what it inherits"
    );

    // the viewer rule reads department and clearance from the claims
    let check = |body| app.call(Method::POST, "/v1/check", Some(&token), Some(body));
    let r = check(read_check("eng", 2)).await;
    assert_eq!(r.body["results"][0]["allowed"], true, "{r:?}");
    let r = check(read_check("eng", 3)).await;
    assert_eq!(
        r.body["results"][0]["allowed"], false,
        "clearance 2 < 3: {r:?}"
    );
    let r = check(read_check("sales", 0)).await;
    assert_eq!(
        r.body["results"][0]["allowed"], false,
        "another department: {r:?}"
    );

    // the same subject at another issuer is another person: `sub` is namespaced
    let admin = app.admin_token().await;
    let me_admin = app.get("/v1/me", &admin).await;
    assert_eq!(
        me_admin.status,
        StatusCode::OK,
        "Warden's own tokens keep working"
    );
}

#[tokio::test]
async fn roles_the_policy_does_not_know_grant_nothing_and_are_never_created() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app = app_trusting(issuer_yaml("corp", &idp.url, "EdDSA", "")).await;
    let now = now_of(&app);
    let token = key.sign(&claims(
        &idp.url,
        now,
        json!({"groups": ["superuser", "root"]}),
    ));
    let r = app.get("/v1/me", &token).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    let admin = app.admin_token().await;
    let roles = app.get("/v1/admin/roles", &admin).await;
    let text = roles.body.to_string();
    assert!(
        !text.contains("superuser"),
        "a claimed role is never created: {text}"
    );
    // an admin group in the claims is the admin role: mapping is the operator's choice
    let token = key.sign(&claims(&idp.url, now, json!({"groups": "admin"})));
    let r = app.get("/v1/admin/rules", &token).await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "space-separated roles map too: {r:?}"
    );
}

#[tokio::test]
async fn an_attribute_claim_of_the_wrong_type_is_absent_and_never_allows() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app = app_trusting(issuer_yaml("corp", &idp.url, "EdDSA", "")).await;
    let now = now_of(&app);
    for (clearance, allowed) in [(json!(3), true), (json!("3"), false), (json!(3.5), false)] {
        let token = key.sign(&claims(&idp.url, now, json!({"clearance": clearance})));
        let r = app
            .call(
                Method::POST,
                "/v1/check",
                Some(&token),
                Some(read_check("eng", 1)),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        assert_eq!(
            r.body["results"][0]["allowed"], allowed,
            "clearance {clearance}: {r:?}"
        );
    }
}

/// The attack table: every token here is refused with 401 `invalid_token`, never allowed.
#[tokio::test]
async fn forged_and_misaddressed_federated_tokens_are_refused_with_401() {
    let a = TestKey::ed25519("a1");
    let b = TestKey::p256("b1");
    // a key nobody publishes, under the published kid
    let stranger = TestKey::ed25519("a1");
    let idp_a = FakeIssuer::start(&[&a], Mode::Serve).await;
    let idp_b = FakeIssuer::start(&[&b], Mode::Serve).await;
    let yaml = format!(
        "{}{}",
        issuer_yaml("corpa", &idp_a.url, "EdDSA", ""),
        issuer_yaml("corpb", &idp_b.url, "ES256", "")
    );
    let app = app_trusting(yaml).await;
    let now = now_of(&app);
    let iss = idp_a.url.as_str();
    let good = claims(iss, now, json!({}));
    let ok = app.get("/v1/me", &a.sign(&good)).await;
    assert_eq!(
        ok.status,
        StatusCode::OK,
        "the baseline token works: {ok:?}"
    );
    let ok_b = app
        .get("/v1/me", &b.sign(&claims(&idp_b.url, now, json!({}))))
        .await;
    assert_eq!(
        ok_b.status,
        StatusCode::OK,
        "issuer B's own token works: {ok_b:?}"
    );

    let with = |changes: Value| claims(iss, now, changes);
    let table: Vec<(&str, String)> = vec![
        (
            "signed by an unknown key under a published kid",
            stranger.sign(&good),
        ),
        ("signed under an unknown kid", a.sign_as("nope", &good)),
        ("issuer B's key under issuer A's iss", b.sign(&good)),
        (
            "issuer B's key and kid under issuer A's iss (ES256 not trusted for A)",
            b.sign_as("b1", &good),
        ),
        ("alg none", unsigned("a1", &good)),
        (
            "HS256 keyed with the issuer's public key",
            a.hs256_with_public_key(&good),
        ),
        ("wrong aud", a.sign(&with(json!({"aud": "someone-else"})))),
        (
            "expired",
            a.sign(&with(json!({"iat": now - 400, "exp": now - 100}))),
        ),
        (
            "not yet valid (nbf)",
            a.sign(&with(json!({"nbf": now + 600}))),
        ),
        (
            "issued in the future",
            a.sign(&with(json!({"iat": now + 600, "exp": now + 900}))),
        ),
        (
            "older than max_token_age_secs",
            a.sign(&with(json!({"iat": now - 7200, "exp": now + 300}))),
        ),
        ("no exp", a.sign(&with(json!({"exp": null})))),
        (
            "exp of the wrong type",
            a.sign(&with(json!({"exp": "tomorrow"}))),
        ),
        ("sub of the wrong type", a.sign(&with(json!({"sub": 42})))),
        (
            "groups of the wrong type",
            a.sign(&with(json!({"groups": 7}))),
        ),
        (
            "iss spelled with a trailing slash",
            a.sign(&with(json!({"iss": format!("{iss}/")}))),
        ),
        ("a trusted issuer's token with the payload edited", {
            let t = a.sign(&good);
            let parts: Vec<&str> = t.split('.').collect();
            use base64::Engine as _;
            let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(with(json!({"groups": ["admin"]})).to_string());
            format!("{}.{forged}.{}", parts[0], parts[2])
        }),
    ];
    let mut wrong = Vec::new();
    for (name, token) in &table {
        for path in ["/v1/me", "/v1/admin/rules"] {
            let r = app.get(path, token).await;
            if r.status != StatusCode::UNAUTHORIZED || r.error_code() != "invalid_token" {
                wrong.push(format!("{name} on {path}: {} {}", r.status, r.body));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "not refused with 401:\n{}",
        wrong.join("\n")
    );
}

#[tokio::test]
async fn a_kid_flood_costs_the_issuer_at_most_one_jwks_read_per_interval() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let extra = "  refresh_interval_secs: 7200\n  min_refresh_interval_secs: 3600\n";
    let app = app_trusting(issuer_yaml("corp", &idp.url, "EdDSA", extra)).await;
    let now = now_of(&app);
    assert_eq!(idp.jwks_hits(), 1, "read once at start");
    for i in 0..50 {
        let t = key.sign_as(&format!("random-{i}"), &claims(&idp.url, now, json!({})));
        assert_eq!(app.get("/v1/me", &t).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        idp.jwks_hits(),
        1,
        "no read within the interval, whatever the kids"
    );

    // the counter does count: with no interval every unknown kid is a read
    let idp2 = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app2 = app_trusting(issuer_yaml(
        "corp",
        &idp2.url,
        "EdDSA",
        "  min_refresh_interval_secs: 0\n",
    ))
    .await;
    for i in 0..5 {
        let t = key.sign_as(&format!("random-{i}"), &claims(&idp2.url, now, json!({})));
        assert_eq!(
            app2.get("/v1/me", &t).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(idp2.jwks_hits() >= 6, "{}", idp2.jwks_hits());
}

#[tokio::test]
async fn a_rotated_key_works_after_the_refresh_its_unknown_kid_asks_for() {
    let old = TestKey::ed25519("old");
    let new = TestKey::ed25519("new");
    let idp = FakeIssuer::start(&[&old], Mode::Serve).await;
    let app = app_trusting(issuer_yaml(
        "corp",
        &idp.url,
        "EdDSA",
        "  min_refresh_interval_secs: 0\n",
    ))
    .await;
    let now = now_of(&app);
    let c = claims(&idp.url, now, json!({}));
    assert_eq!(
        app.get("/v1/me", &old.sign(&c)).await.status,
        StatusCode::OK
    );
    idp.publish(&[&new]);
    assert_eq!(
        app.get("/v1/me", &new.sign(&c)).await.status,
        StatusCode::OK
    );
    // the retired key signs nothing new
    let fresh = claims(&idp.url, now, json!({"jti": "another"}));
    let r = app.get("/v1/me", &old.sign(&fresh)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
}

#[tokio::test]
async fn an_unreachable_issuer_is_refused_with_401_until_its_keys_are_read() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Fail).await;
    let app = app_trusting(issuer_yaml(
        "corp",
        &idp.url,
        "EdDSA",
        "  min_refresh_interval_secs: 0\n",
    ))
    .await;
    let now = now_of(&app);
    let token = key.sign(&claims(&idp.url, now, json!({})));
    let r = app.get("/v1/me", &token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("not reachable")),
        "{r:?}"
    );
    let admin = app.admin_token().await;
    assert_eq!(
        app.get("/v1/me", &admin).await.status,
        StatusCode::OK,
        "Warden's own tokens keep working"
    );
    idp.set_mode(Mode::Serve);
    let r = app.get("/v1/me", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
}

#[tokio::test]
async fn an_issuer_that_redirects_elsewhere_is_not_followed() {
    let key = TestKey::ed25519("k1");
    let elsewhere = FakeIssuer::start(&[&key], Mode::Serve).await;
    let idp = FakeIssuer::start(&[&key], Mode::RedirectTo(elsewhere.url.clone())).await;
    let app = app_trusting(issuer_yaml(
        "corp",
        &idp.url,
        "EdDSA",
        "  min_refresh_interval_secs: 0\n",
    ))
    .await;
    let now = now_of(&app);
    let r = app
        .get("/v1/me", &key.sign(&claims(&idp.url, now, json!({}))))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert!(idp.discovery_hits() >= 1);
    assert_eq!(elsewhere.discovery_hits(), 0, "the redirect was followed");
    assert_eq!(elsewhere.jwks_hits(), 0);
}

#[tokio::test]
async fn account_endpoints_refuse_a_federated_caller() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app = app_trusting(issuer_yaml("corp", &idp.url, "EdDSA", "")).await;
    let now = now_of(&app);
    let token = key.sign(&claims(&idp.url, now, json!({})));
    let r = app
        .call(Method::POST, "/v1/auth/logout-all", Some(&token), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    assert_eq!(r.error_code(), "federated_caller");
}

/// The seed matrix, cell for cell, for federated callers whose tokens carry the matrix
/// subjects' roles, attributes and scopes: the same answers as the engine (and so as the
/// local users `matrices::the_seed_matrix_holds_through_http...` runs).
#[tokio::test]
async fn the_seed_matrix_holds_for_federated_callers_as_for_local_ones() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app = app_trusting(issuer_yaml("corp", &idp.url, "EdDSA", "")).await;
    let now = now_of(&app);
    let m = crate::matrices::seed_matrix();
    let mut tokens = BTreeMap::new();
    for (name, s) in &m.subjects {
        let mut c = json!({
            "iss": idp.url, "aud": "warden-api", "sub": name, "iat": now, "exp": now + 3000,
            "groups": s.roles, "scope": s.scopes.join(" "),
        });
        for (attr, value) in &s.attributes {
            c[attr] = serde_json::to_value(value).expect("attr");
        }
        tokens.insert(name.clone(), key.sign(&c));
    }
    let http =
        crate::matrices::http_cells_as(&app, &m, &tokens, &|n: &str| format!("corp:{n}")).await;
    let engine = crate::matrices::engine_cells(&m).await;
    let disagreements: Vec<String> = engine
        .iter()
        .zip(&http)
        .filter(|(e, h)| e.actual != h.actual)
        .map(|(e, h)| format!("  engine: {e}\n  federated: {h}"))
        .collect();
    assert!(
        disagreements.is_empty(),
        "federated callers decided differently:\n{}",
        disagreements.join("\n")
    );
    if let Some(report) = warden::matrix::report_failures(&m, &http) {
        panic!("{report}");
    }
}

#[tokio::test]
async fn warden_publishes_rfc_8414_metadata_for_its_own_token_endpoint() {
    let app = TestApp::with_config(|c| c.issuer = "https://warden.example.com".into()).await;
    let r = app
        .call(
            Method::GET,
            "/.well-known/oauth-authorization-server",
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["issuer"], "https://warden.example.com");
    assert_eq!(
        r.body["token_endpoint"],
        "https://warden.example.com/v1/auth/token"
    );
    assert_eq!(
        r.body["revocation_endpoint"],
        "https://warden.example.com/v1/auth/revoke"
    );
    assert_eq!(
        r.body["jwks_uri"],
        "https://warden.example.com/.well-known/jwks.json"
    );
    let grants = r.body["grant_types_supported"].to_string();
    for g in ["password", "refresh_token", "client_credentials"] {
        assert!(grants.contains(g), "{grants}");
    }
    let scopes = r.body["scopes_supported"].to_string();
    assert!(scopes.contains("documents:read"), "{scopes}");
}

/// Tokens of a real, independent OpenID Connect provider (panva/oidc-provider, started from
/// tests/oidc/provider.mjs): a user's token from a grant that needs no browser and a
/// service's from client_credentials, mapped with Auth0-style `permissions` as scopes.
#[tokio::test]
async fn tokens_of_a_real_oidc_provider_are_authorized_by_their_mapped_claims() {
    let Some(idp) = crate::helpers::oidc::RealProvider::start_or_skip(
        "tokens_of_a_real_oidc_provider_are_authorized_by_their_mapped_claims",
    ) else {
        return;
    };
    let yaml = format!(
        "- alias: node
  issuer: {}
  audiences: [urn:warden:api]
  algorithms: [ES256]
  roles_claim: groups
  scopes_claim: permissions
  attribute_claims:
    department: {{claim: department, type: string}}
    clearance: {{claim: clearance, type: number}}
",
        idp.issuer
    );
    // The provider signs with the machine's clock: so does this app.
    let app = with_acme(TestApp::with_config(|c| trust(c, &yaml)).await).await;
    let account = |name: &str| format!("grant_type=urn:warden:test:account&account={name}");
    let alice = idp.token(&account("alice")).await;
    let me = app.get("/v1/me", &alice).await;
    assert_eq!(me.status, StatusCode::OK, "{me:?}");
    assert_eq!(me.body["username"], "node:alice");
    assert_eq!(
        me.body["token_scopes"],
        json!(["documents:read"]),
        "from permissions"
    );
    let app = &app;
    let decide = |token: String, body: Value| async move {
        let r = app
            .call(Method::POST, "/v1/check", Some(&token), Some(body))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        r.body["results"][0]["allowed"].as_bool().expect("allowed")
    };
    assert!(
        decide(alice.clone(), read_check("eng", 2)).await,
        "alice reads eng 2"
    );
    assert!(
        !decide(alice.clone(), read_check("eng", 3)).await,
        "not above clearance 2"
    );
    assert!(
        !decide(alice, read_check("sales", 0)).await,
        "not another department"
    );
    // clearance "3" (a string) is no number: the viewer rule cannot be evaluated for her
    let mallory = idp.token(&account("mallory")).await;
    assert!(!decide(mallory, read_check("eng", 1)).await);
    // a service: client_credentials, the client's own claims (an auditor)
    let service = idp
        .token("grant_type=client_credentials&scope=documents:read")
        .await;
    assert!(
        decide(service.clone(), read_check("sales", 2)).await,
        "auditors read all"
    );
    let create = json!({"checks": [{"object": {"type": "document", "attributes":
        {"department": "audit", "classification": 0, "owner": "zed"}}, "action": "create"}]});
    assert!(!decide(service, create).await, "auditors never write");
}

async fn linking_app(idp: &FakeIssuer) -> TestApp {
    app_trusting(issuer_yaml(
        "corp",
        &idp.url,
        "EdDSA",
        "  provision: link\n",
    ))
    .await
}

/// `provision: link`: the first token creates `corp.alice` (role `user` in `default`, where
/// these tokens act: they name no tenant); an admin's roles
/// and attributes then apply on top of the token's, and the account's attributes win over
/// the claims where both give one.
#[tokio::test]
async fn a_linked_subject_gets_an_account_whose_admin_given_roles_and_attributes_apply() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app = linking_app(&idp).await;
    let now = now_of(&app);
    // no roles in the token, department eng, no clearance
    let token = key.sign(&claims(
        &idp.url,
        now,
        json!({"sub": "alice", "groups": [], "clearance": null, "org_id": null}),
    ));
    let me = app.get("/v1/me", &token).await;
    assert_eq!(
        me.status,
        StatusCode::OK,
        "role user comes with the account: {me:?}"
    );
    assert_eq!(me.body["username"], "corp.alice");
    let admin = app.admin_token().await;
    let shown = app.get("/v1/admin/users/corp.alice", &admin).await;
    assert_eq!(shown.status, StatusCode::OK, "{shown:?}");

    let check = |body| app.call(Method::POST, "/v1/check", Some(&token), Some(body));
    let r = check(read_check("eng", 0)).await;
    assert_eq!(
        r.body["results"][0]["allowed"], false,
        "no viewer role yet: {r:?}"
    );

    let r = app.assign(&admin, "user:corp.alice", "role:viewer").await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = app
        .call(
            Method::PATCH,
            "/v1/admin/users/corp.alice",
            Some(&admin),
            Some(json!({"attributes": {"clearance": 2, "department": "sales"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    // the account's department (sales) wins over the token's (eng)
    let r = check(read_check("sales", 2)).await;
    assert_eq!(r.body["results"][0]["allowed"], true, "{r:?}");
    let r = check(read_check("eng", 0)).await;
    assert_eq!(r.body["results"][0]["allowed"], false, "{r:?}");

    // a second token of the same subject is the same account
    let again = key.sign(&claims(
        &idp.url,
        now,
        json!({"sub": "alice", "jti": "2", "org_id": null}),
    ));
    let me = app.get("/v1/me", &again).await;
    assert_eq!(me.body["id"], shown.body["id"], "{me:?}");
}

#[tokio::test]
async fn disabling_a_linked_account_denies_its_federated_tokens_at_once() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app = linking_app(&idp).await;
    let now = now_of(&app);
    let token = key.sign(&claims(
        &idp.url,
        now,
        json!({"sub": "bob", "org_id": null}),
    ));
    assert_eq!(app.get("/v1/me", &token).await.status, StatusCode::OK);
    let admin = app.admin_token().await;
    let r = app
        .call(
            Method::PATCH,
            "/v1/admin/users/corp.bob",
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = app.get("/v1/me", &token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("disabled")),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_subject_is_never_linked_to_a_local_account_that_merely_has_its_name() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app = linking_app(&idp).await;
    let r = app.register("corp.carol", PASSWORD).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let now = now_of(&app);
    let token = key.sign(&claims(
        &idp.url,
        now,
        json!({"sub": "carol", "org_id": null}),
    ));
    let r = app.get("/v1/me", &token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert!(
        r.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("taken")),
        "{r:?}"
    );
}

/// Operators see federated callers: tokens counted by issuer and result in /metrics, and
/// decisions logged under `<alias>:<sub>` (issuer and subject).
#[tokio::test]
async fn federated_tokens_are_counted_by_issuer_and_their_decisions_logged_with_it() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let yaml = issuer_yaml("corp", &idp.url, "EdDSA", "");
    let log = tempfile::tempdir().expect("dir");
    let path = log.path().join("decisions.jsonl");
    let app = TestApp::with_config(|c| {
        trust(c, &yaml);
        c.decision_log.sink = Some(warden::decisions::Sink::File(path.clone()));
    })
    .await;
    let app = with_acme(app).await;
    let now = now_of(&app);
    let good = key.sign(&claims(&idp.url, now, json!({})));
    let expired = key.sign(&claims(
        &idp.url,
        now,
        json!({"iat": now - 600, "exp": now - 300}),
    ));
    assert_eq!(app.get("/v1/me", &good).await.status, StatusCode::OK);
    assert_eq!(app.get("/v1/me", &good).await.status, StatusCode::OK);
    assert_eq!(
        app.get("/v1/me", &expired).await.status,
        StatusCode::UNAUTHORIZED
    );
    let text = crate::operations::scrape(&app).await;
    let series = |result: &str| {
        crate::operations::value(
            &text,
            &format!("warden_federated_tokens_total{{issuer=\"corp\",result=\"{result}\"}}"),
        )
    };
    assert_eq!(series("accepted"), 2.0, "{text}");
    assert_eq!(series("refused"), 1.0, "{text}");
    app.state
        .decisions
        .settle(std::time::Duration::from_secs(5))
        .await;
    let logged = app.state.decisions.recent("corp:42", 10);
    assert!(
        !logged.is_empty(),
        "the route decisions of corp:42 are logged"
    );
    assert!(logged.iter().all(|r| r.resource == "/v1/me" && r.allowed));
}

#[tokio::test]
async fn forward_auth_decides_a_federated_caller_like_a_local_one() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let yaml = issuer_yaml("corp", &idp.url, "EdDSA", "");
    let app = TestApp::with_config(|c| {
        trust(c, &yaml);
        crate::forward::trust_gateway(c);
    })
    .await;
    let app = with_acme(app).await;
    let now = now_of(&app);
    let viewer = key.sign(&claims(&idp.url, now, json!({})));
    let nobody = key.sign(&claims(&idp.url, now, json!({"groups": []})));
    let forged = TestKey::ed25519("k1").sign(&claims(&idp.url, now, json!({})));
    for (token, want) in [
        (&viewer, StatusCode::NO_CONTENT),
        (&nobody, StatusCode::FORBIDDEN),
        (&forged, StatusCode::UNAUTHORIZED),
    ] {
        let r = crate::forward::forward(&app, token, "GET", "/api/documents").await;
        assert_eq!(r.status, want, "{r:?}");
        if want == StatusCode::NO_CONTENT {
            assert_eq!(r.headers["x-warden-user"], "corp:42");
            assert_eq!(
                r.headers["x-warden-roles"], "user,viewer",
                "the token's roles"
            );
        }
    }
}

/// `warden serve --oidc-config FILE` refuses a file with an unknown key, naming it, and an
/// HMAC algorithm, before it stores anything.
#[test]
fn serve_refuses_an_oidc_config_with_an_unknown_key_or_an_hmac_algorithm() {
    let dir = tempfile::tempdir().expect("dir");
    for (text, named) in [
        (
            issuer_yaml("corp", "https://idp.example.com", "RS256", "")
                .replace("audiences", "audience"),
            "unknown field `audience`",
        ),
        (
            issuer_yaml("corp", "https://idp.example.com", "HS256", ""),
            "`HS256` is never accepted",
        ),
    ] {
        let file = dir.path().join("oidc.yaml");
        std::fs::write(&file, text).expect("write");
        let db = dir.path().join("w.db");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
            .env_clear()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--database-url", &format!("sqlite://{}", db.display())])
            .arg("--oidc-config")
            .arg(&file)
            .output()
            .expect("run warden");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(named), "{stderr}");
        assert!(!db.exists(), "nothing stored");
    }
}

/// Keys are read again on the issuer's schedule, with no token asking for it.
#[tokio::test]
async fn the_jwks_is_read_again_every_refresh_interval() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let _app = app_trusting(issuer_yaml(
        "corp",
        &idp.url,
        "EdDSA",
        "  refresh_interval_secs: 1\n  min_refresh_interval_secs: 1\n",
    ))
    .await;
    assert_eq!(idp.jwks_hits(), 1, "read once at start");
    // The schedule runs on real time: wait for it (at most 10 s), asking nothing meanwhile.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while idp.jwks_hits() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(idp.jwks_hits() >= 2, "{}", idp.jwks_hits());
}

/// The issuer's tenant claim names the tenant a federated caller acts in: a rule of that
/// tenant applies to them, one of another tenant does not, and a token naming a tenant that
/// does not exist or is disabled is refused (401) like a local token of a disabled tenant.
#[tokio::test]
async fn a_federated_caller_acts_in_the_tenant_its_claim_names_while_that_tenant_is_enabled() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app = app_trusting(issuer_yaml("corp", &idp.url, "EdDSA", "")).await;
    let admin = app.admin_token().await;
    let r = app
        .call(
            Method::POST,
            "/v1/admin/tenants",
            Some(&admin),
            Some(json!({"name": "globex"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    // A rule of acme only: viewers there may read reports.
    let r = app
        .call(
            Method::POST,
            "/v1/tenants/acme/admin/rules",
            Some(&admin),
            Some(json!({"subject": "role:viewer", "object": "report", "action": "read", "effect": "allow"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let now = now_of(&app);
    let report = json!({"checks": [{"object": {"type": "report"}, "action": "read"}]});
    for (org, want) in [("acme", true), ("globex", false)] {
        let token = key.sign(&claims(&idp.url, now, json!({"org_id": org})));
        let r = app
            .call(
                Method::POST,
                "/v1/check",
                Some(&token),
                Some(report.clone()),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{org}: {r:?}");
        assert_eq!(r.body["results"][0]["allowed"], want, "{org}: {r:?}");
    }
    // Unknown, then disabled: refused before any decision.
    let token = key.sign(&claims(&idp.url, now, json!({"org_id": "initech"})));
    let r = app.get("/v1/me", &token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    let r = app
        .call(
            Method::PATCH,
            "/v1/admin/tenants/globex",
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let token = key.sign(&claims(&idp.url, now, json!({"org_id": "globex"})));
    let r = app.get("/v1/me", &token).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
    assert_eq!(r.body["error"], "invalid_token", "{r:?}");
}

/// Every document-ish object a check can be asked about: two departments, a low and a
/// classified level, owned by the federated subject `corp:42` or by someone else, under
/// every document action.
fn federated_check_grid() -> Vec<Value> {
    let mut checks = Vec::new();
    for department in ["eng", "sales"] {
        for classification in [1, 3] {
            for owner in ["corp:42", "zed"] {
                for action in ["read", "update", "delete", "create"] {
                    checks.push(json!({"object": {"type": "document", "attributes": {
                        "department": department, "classification": classification,
                        "owner": owner}}, "action": action}));
                }
            }
        }
    }
    checks
}

fn allowed(r: &TestResponse) -> Vec<bool> {
    allowed_as("", r)
}

fn allowed_as(who: &str, r: &TestResponse) -> Vec<bool> {
    assert_eq!(r.status, StatusCode::OK, "{who} {r:?}");
    r.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|x| x["allowed"].as_bool().expect("allowed"))
        .collect()
}

/// An admin's `/v1/check` may name a federated subject as `<alias>:<sub>` with the claims its
/// token would carry: the answers are, cell by cell, the ones that subject's own token gets
/// (roles through the issuer's mapping, typed attributes, scopes, ownership by
/// `corp:42`), over roles x departments x clearances x objects x actions.
#[tokio::test]
async fn a_check_naming_a_federated_subject_answers_what_its_own_token_is_answered() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app = app_trusting(issuer_yaml("corp", &idp.url, "EdDSA", "")).await;
    let now = now_of(&app);
    let admin = app.admin_token().await;
    let grid = federated_check_grid();
    let (mut allows, mut denies) = (0, 0);
    for groups in [
        json!(["viewer"]),
        json!(["editor"]),
        json!(["auditor"]),
        json!(["user"]),
    ] {
        for department in ["eng", "sales"] {
            for clearance in [1, 3] {
                // the claims as the IdP would issue them (in `default`: no tenant claim)
                let stated = json!({"groups": groups, "department": department,
                    "clearance": clearance, "scope": "documents:read documents:write"});
                let mut token_claims = claims(&idp.url, now, json!({"org_id": null}));
                for (k, v) in stated.as_object().expect("object") {
                    token_claims[k] = v.clone();
                }
                let token = key.sign(&token_claims);
                let own = allowed_as(
                    &format!("{groups}"),
                    &app.call(
                        Method::POST,
                        "/v1/check",
                        Some(&token),
                        Some(json!({"checks": grid})),
                    )
                    .await,
                );
                let named: Vec<Value> = grid
                    .iter()
                    .map(|c| {
                        let mut c = c.clone();
                        c["subject"] = json!({"name": "corp:42", "claims": stated});
                        c
                    })
                    .collect();
                let asked = allowed(
                    &app.call(
                        Method::POST,
                        "/v1/check",
                        Some(&admin),
                        Some(json!({"checks": named})),
                    )
                    .await,
                );
                assert_eq!(
                    own, asked,
                    "groups {groups} {department} clearance {clearance}"
                );
                allows += own.iter().filter(|a| **a).count();
                denies += own.iter().filter(|a| !**a).count();
            }
        }
    }
    assert!(
        allows > 20 && denies > 20,
        "a grid that can tell answers apart: {allows} allowed, {denies} denied"
    );
}

/// What a named federated subject may not be: claims for a local account (its stored
/// roles and attributes are the truth), claims naming another subject, claims of the wrong
/// shape (each 422 at its field); an issuer nobody configured is an unknown subject (a deny
/// that says so, like an unknown username); and naming anyone still needs permission `any`.
#[tokio::test]
async fn a_named_federated_subject_is_validated_like_a_token_and_never_guessed() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app = app_trusting(issuer_yaml("corp", &idp.url, "EdDSA", "")).await;
    let admin = app.admin_token().await;
    let check = |subject: Value| {
        json!({"checks": [{"subject": subject, "object": {"type": "document", "attributes":
            {"department": "eng", "classification": 0, "owner": "zed"}}, "action": "read"}]})
    };
    let ask = |body: Value| app.call(Method::POST, "/v1/check", Some(&admin), Some(body));
    let r = ask(check(
        json!({"name": "admin", "claims": {"groups": ["admin"]}}),
    ))
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        r.body["details"]["field"], "checks[0].subject.claims",
        "{r:?}"
    );
    let r = ask(check(
        json!({"name": "corp:42", "claims": {"sub": "43", "groups": ["viewer"]}}),
    ))
    .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    let r = ask(check(json!({"name": "corp:42", "claims": {"groups": 7}}))).await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    // the same name in the claims is fine, and a viewer of eng reads eng
    let r = ask(check(
        json!({"name": "corp:42", "claims": {"sub": "42", "groups": ["viewer"],
        "department": "eng", "clearance": 1, "scope": "documents:read"}}),
    ))
    .await;
    assert_eq!(allowed(&r), [true]);
    // scopes the claims do not grant are not assumed
    let r = ask(check(
        json!({"name": "corp:42", "scopes": ["documents:read"], "claims": {"groups": ["viewer"],
        "department": "eng", "clearance": 1, "scope": "documents:write"}}),
    ))
    .await;
    assert_eq!(allowed(&r), [false]);
    // without claims: nothing but what rules grant the principal by name
    let r = ask(check(json!({"name": "corp:42"}))).await;
    assert_eq!(allowed(&r), [false]);
    assert!(r.body["results"][0].get("error").is_none(), "{r:?}");
    for unknown in ["nope:42", "corp:", ":42"] {
        let r = ask(check(
            json!({"name": unknown, "claims": {"groups": ["admin"]}}),
        ))
        .await;
        assert_eq!(allowed(&r), [false], "{unknown}");
        assert_eq!(
            r.body["results"][0]["error"], "unknown or disabled subject",
            "{unknown}"
        );
    }
    let (user, _) = app.user_tokens("alice").await;
    let r = app
        .call(
            Method::POST,
            "/v1/check",
            Some(&user),
            Some(check(
                json!({"name": "corp:42", "claims": {"groups": ["admin"]}}),
            )),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
}

/// A named subject of a `provision: link` issuer that has a local account is that account,
/// as its tokens are: the roles and attributes admins gave it apply and win over the stated
/// claims, a disabled account is refused; a subject not yet linked is decided from its claims
/// alone and no account is created by asking.
#[tokio::test]
async fn a_named_linked_subject_is_its_account_and_asking_provisions_nothing() {
    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app = linking_app(&idp).await;
    let now = now_of(&app);
    let admin = app.admin_token().await;
    let token = key.sign(&claims(
        &idp.url,
        now,
        json!({"sub": "alice", "groups": [], "org_id": null}),
    ));
    assert_eq!(app.get("/v1/me", &token).await.status, StatusCode::OK);
    let r = app.assign(&admin, "user:corp.alice", "role:viewer").await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let r = app
        .call(
            Method::PATCH,
            "/v1/admin/users/corp.alice",
            Some(&admin),
            Some(json!({"attributes": {"clearance": 2, "department": "sales"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let read = |name: &str, department: &str| {
        json!({"checks": [{"subject": {"name": name, "claims": {"department": "eng",
            "scope": "documents:read"}},
            "object": {"type": "document", "attributes":
            {"department": department, "classification": 1, "owner": "zed"}}, "action": "read"}]})
    };
    let ask = |body: Value| app.call(Method::POST, "/v1/check", Some(&admin), Some(body));
    // the account's role and department (sales) win over the stated department (eng)
    assert_eq!(allowed(&ask(read("corp:alice", "sales")).await), [true]);
    assert_eq!(allowed(&ask(read("corp:alice", "eng")).await), [false]);
    // not linked yet: the claims alone (no role), and still no account afterwards
    assert_eq!(allowed(&ask(read("corp:bob", "eng")).await), [false]);
    assert_eq!(
        app.get("/v1/admin/users/corp.bob", &admin).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .call(
            Method::PATCH,
            "/v1/admin/users/corp.alice",
            Some(&admin),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let r = ask(read("corp:alice", "sales")).await;
    assert_eq!(allowed(&r), [false]);
    assert_eq!(r.body["results"][0]["error"], "unknown or disabled subject");
    // deleted: its token is refused, so a question about it is not answered from the claims
    let r = app
        .call(
            Method::DELETE,
            "/v1/admin/users/corp.alice",
            Some(&admin),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{r:?}");
    assert_eq!(
        app.get("/v1/me", &token).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = ask(read("corp:alice", "eng")).await;
    assert_eq!(allowed(&r), [false]);
    assert_eq!(r.body["results"][0]["error"], "unknown or disabled subject");
}

/// A matrix file may name federated subjects as `<alias>:<sub>` (with roles, attributes and
/// scopes, and owning objects): the engine's answers and the HTTP answers to those subjects'
/// real federated tokens agree cell for cell and meet the matrix; stored as a live invariant,
/// it refuses an edit that takes a federated subject's access away, naming that subject.
#[tokio::test]
async fn a_matrix_naming_federated_subjects_holds_for_their_tokens_and_guards_edits() {
    let text = r#"
name: federated
invariant: true
subjects:
  "corp:42": {roles: [viewer], attributes: {department: eng, clearance: 2}, scopes: [documents:read, documents:write]}
  "corp:ops@example.com": {roles: [editor], attributes: {department: eng, clearance: 3}, scopes: [documents:read, documents:write]}
  "corp:7": {roles: [], attributes: {department: eng, clearance: 3}, scopes: [documents:read]}
objects:
  eng-1-own: {type: document, attributes: {department: eng, owner: "corp:42", classification: 1}}
  eng-1: {type: document, attributes: {department: eng, owner: zed, classification: 1}}
  eng-3: {type: document, attributes: {department: eng, owner: zed, classification: 3}}
  sales-0: {type: document, attributes: {department: sales, owner: zed, classification: 0}}
actions: [read, update]
routes: {read: GET /api/documents/:id, update: PUT /api/documents/:id}
expect:
  "corp:42": {eng-1-own: [read, update], eng-1: [read]}
  "corp:ops@example.com": {eng-1-own: [read, update], eng-1: [read, update], eng-3: [read, update]}
  "corp:7": {}
"#;
    let m = warden::matrix::Matrix::from_yaml(text).expect("matrix");
    let engine = crate::matrices::engine_cells(&m).await;
    assert!(
        warden::matrix::report_failures(&m, &engine).is_none(),
        "engine"
    );

    let key = TestKey::ed25519("k1");
    let idp = FakeIssuer::start(&[&key], Mode::Serve).await;
    let app = app_trusting(issuer_yaml("corp", &idp.url, "EdDSA", "")).await;
    let now = now_of(&app);
    let mut tokens = BTreeMap::new();
    for (name, s) in &m.subjects {
        let sub = name.strip_prefix("corp:").expect("federated");
        let mut c = claims(
            &idp.url,
            now,
            json!({"sub": sub, "groups": s.roles, "scope": s.scopes.join(" "), "org_id": null,
                   "department": null, "clearance": null}),
        );
        for (attr, value) in &s.attributes {
            c[attr] = serde_json::to_value(value).expect("attr");
        }
        tokens.insert(name.clone(), key.sign(&c));
    }
    let http = crate::matrices::http_cells_as(&app, &m, &tokens, &|n: &str| n.to_owned()).await;
    for (e, h) in engine.iter().zip(&http) {
        assert_eq!(e.actual, h.actual, "engine {e} / federated token {h}");
    }
    if let Some(report) = warden::matrix::report_failures(&m, &http) {
        panic!("{report}");
    }

    // live: the matrix guards the policy for those subjects
    let admin = app.admin_token().await;
    let req = axum::http::Request::builder()
        .method(Method::PUT)
        .uri("/v1/admin/matrices/federated")
        .header(axum::http::header::AUTHORIZATION, format!("Bearer {admin}"))
        .header(axum::http::header::CONTENT_TYPE, "application/yaml")
        .body(axum::body::Body::from(text.to_owned()))
        .expect("request");
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let v = app.policy_version(&admin).await;
    let r = app
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(
                json!({"subject": "role:editor", "object": "document", "action": "update",
                        "condition": "r.sub.name == \"corp:ops@example.com\"", "effect": "deny"}),
            ),
        )
        .await;
    assert_error(&r, StatusCode::CONFLICT, "invariant_violation");
    let cells = r.body["details"]["cells"].as_array().expect("cells");
    assert!(
        !cells.is_empty() && cells.iter().all(|c| c["subject"] == "corp:ops@example.com"),
        "{r:?}"
    );
    assert_eq!(app.policy_version(&admin).await, v);
}
