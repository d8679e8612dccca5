//! Decisions are made on the resource the handler acts on: no respelling of a path escapes a
//! rule about it (issue: `/api/documents/04` and `/v1/admin/users/ADMIN` bypassed literal
//! denies).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::helpers::*;

/// Percent-encodes byte `i` of `s` with upper- or lower-case hex.
fn encode_at(s: &str, i: usize, upper: bool) -> String {
    let b = s.as_bytes()[i];
    let esc = if upper {
        format!("%{b:02X}")
    } else {
        format!("%{b:02x}")
    };
    format!("{}{}{}", &s[..i], esc, &s[i + 1..])
}

/// Every spelling of `prefix` + `last` a client might try for the same resource: the last
/// segment respelled (`variants`), each character of the path percent-encoded, case changes,
/// slashes, dot segments, fullwidth and overlong escapes.
fn respellings(prefix: &str, last: &str, variants: &[&str]) -> Vec<String> {
    let path = format!("{prefix}/{last}");
    let mut out: Vec<String> = variants.iter().map(|v| format!("{prefix}/{v}")).collect();
    for i in 1..path.len() {
        out.push(encode_at(&path, i, true));
        out.push(encode_at(&path, i, false));
    }
    out.push(path.to_uppercase());
    out.push(format!("{prefix}/{}", last.to_uppercase()));
    let first = last.chars().next().expect("non-empty").to_ascii_uppercase();
    out.push(format!("{prefix}/{first}{}", &last[1..]));
    out.extend([
        format!("{path}/"),
        format!("{path}//"),
        format!("/{path}"),
        format!("{prefix}//{last}"),
        format!("{prefix}/./{last}"),
        format!("{prefix}/x/../{last}"),
        format!("{prefix}/%2e/{last}"),
        format!(
            "{prefix}/%2E%2E/{}/{last}",
            prefix.rsplit('/').next().unwrap_or("")
        ),
        format!("{path}/."),
        format!("{path}%2f"),
        format!("{path}%00"),
        format!("{path}%20"),
        format!("{path};x"),
        format!("{path}%3b"),
        // overlong UTF-8 for the first character, and an invalid byte
        format!(
            "{prefix}/%C0%{:02X}{}",
            0x80 | (last.as_bytes()[0] & 0x3f),
            &last[1..]
        ),
        format!("{prefix}/%FF{last}"),
    ]);
    out
}

fn id_variants() -> Vec<&'static str> {
    vec![
        "01",
        "001",
        "0001",
        "+1",
        "+01",
        "%2B1",
        "%2b1",
        "0%31",
        "%EF%BC%91",
        "1.0",
        "1e0",
        "0x1",
        " 1",
        "%201",
        "1%09",
    ]
}

#[tokio::test]
async fn no_respelling_of_a_document_path_escapes_a_literal_deny() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    let alice = app.demo_token("alice").await;
    // document 1 (eng, classification 1): alice reads it until the literal deny exists
    assert_eq!(
        app.get("/api/documents/1", &alice).await.status,
        StatusCode::OK
    );
    app.add_rule(&admin,
        json!({"subject": "user:alice", "object": "/api/documents/1", "action": "GET", "effect": "deny"}),
    )
    .await;
    let mut tried = 0;
    for path in respellings("/api/documents", "1", &id_variants()) {
        let Ok(req) = Request::builder()
            .method(Method::GET)
            .uri(&path)
            .header(header::AUTHORIZATION, format!("Bearer {alice}"))
            .body(Body::empty())
        else {
            continue; // not a URI a client can send
        };
        tried += 1;
        let r = app.send(req).await;
        assert_ne!(r.status, StatusCode::OK, "{path} escaped the deny: {r:?}");
        assert!(r.status.is_client_error(), "{path}: {r:?}");
    }
    assert!(tried > 40, "only {tried} spellings were sendable");
    // the canonical spelling is denied; a respelling still reaches the document for others
    assert_error(
        &app.get("/api/documents/1", &alice).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_eq!(
        app.get("/api/documents/01", &admin).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn no_respelling_of_a_username_escapes_a_literal_deny_on_the_admin_api() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    app.drop_shipped_properties(&admin).await;
    // helpdesk may edit accounts, but not the admin's
    app.add_rule(&admin,
        json!({"subject": "role:helpdesk", "object": "/v1/admin/users/:name", "action": "PATCH", "effect": "allow"}),
    )
    .await;
    app.add_rule(&admin,
        json!({"subject": "role:helpdesk", "object": "/v1/admin/users/admin", "action": "PATCH", "effect": "deny"}),
    )
    .await;
    let assigned = app.assign(&admin, "user:erin", "role:helpdesk").await;
    assert!(assigned.status.is_success(), "{assigned:?}");
    let erin = app.demo_token("erin").await;
    let patch = json!({"attributes": {"department": "pwned"}});
    // the allow works on another account, so a bypass would really edit the admin
    let carol = app
        .call(
            Method::PATCH,
            "/v1/admin/users/carol",
            Some(&erin),
            Some(patch.clone()),
        )
        .await;
    assert_eq!(carol.status, StatusCode::OK, "{carol:?}");
    let mut tried = 0;
    for path in respellings(
        "/v1/admin/users",
        "admin",
        &["ADMIN", "Admin", "aDMIN", "%61dmin"],
    ) {
        let Ok(req) = Request::builder()
            .method(Method::PATCH)
            .uri(&path)
            .header(header::AUTHORIZATION, format!("Bearer {erin}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(patch.to_string()))
        else {
            continue;
        };
        tried += 1;
        let r = app.send(req).await;
        assert_ne!(r.status, StatusCode::OK, "{path} escaped the deny: {r:?}");
        assert!(r.status.is_client_error(), "{path}: {r:?}");
    }
    assert!(tried > 40, "only {tried} spellings were sendable");
    let shown = app.get("/v1/admin/users/admin", &admin).await;
    assert_eq!(shown.status, StatusCode::OK, "{shown:?}");
    assert_ne!(shown.body["attributes"]["department"], "pwned", "{shown:?}");
}

#[tokio::test]
async fn check_decides_on_the_canonical_path_or_refuses_the_spelling() {
    let app = TestApp::with_config(|c| c.demo = true).await;
    let admin = app.admin_token().await;
    let alice = app.demo_token("alice").await;
    let ask = |path: String| {
        let body = json!({"checks": [{"object": {"path": path}, "action": "GET"}]});
        app.call(Method::POST, "/v1/check", Some(&alice), Some(body))
    };
    let before = ask("/api/documents/1".into()).await;
    assert_eq!(before.body["results"][0]["allowed"], true, "{before:?}");
    app.add_rule(&admin,
        json!({"subject": "role:user", "object": "/api/documents/1", "action": "GET", "effect": "deny"}),
    )
    .await;
    let mut refused = 0;
    for path in respellings("/api/documents", "1", &id_variants()) {
        let r = ask(path.clone()).await;
        match r.status {
            StatusCode::OK => assert_eq!(
                r.body["results"][0]["allowed"], false,
                "{path} escaped the deny: {r:?}"
            ),
            StatusCode::UNPROCESSABLE_ENTITY => refused += 1,
            other => panic!("{path}: unexpected {other}: {r:?}"),
        }
    }
    assert!(refused > 10, "ambiguous spellings are refused, not guessed");
    let other = ask("/api/documents/%32".into()).await;
    assert_eq!(other.body["results"][0]["allowed"], true, "{other:?}");
}

#[test]
fn the_canonical_route_table_names_every_parameterised_route() {
    let doc = warden::http::api_doc();
    let documented: std::collections::BTreeSet<String> = doc
        .paths
        .paths
        .keys()
        .filter(|p| p.contains('{'))
        .cloned()
        .collect();
    let table: std::collections::BTreeSet<String> = warden::engine::resource::PARAM_ROUTES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(documented, table);
}
