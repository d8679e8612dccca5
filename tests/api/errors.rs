//! Every failure is JSON `{error, message}` with a precise status; nothing internal leaks.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn malformed_json_is_400_with_the_json_shape() {
    let app = TestApp::new().await;
    let req = Request::post("/v1/auth/register")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{\"username\": "))
        .expect("req");
    assert_error(&app.send(req).await, StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn a_wrong_content_type_is_415() {
    let app = TestApp::new().await;
    let req = Request::post("/v1/auth/register")
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("hi"))
        .expect("req");
    assert_error(
        &app.send(req).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
}

#[tokio::test]
async fn a_wrongly_typed_field_is_422() {
    let app = TestApp::new().await;
    let r = app
        .call(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(json!({"username": 5, "password": PASSWORD})),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test]
async fn bodies_over_64_kib_are_413_on_json_and_form_endpoints() {
    let app = TestApp::new().await;
    let big = "x".repeat(65 * 1024);
    let json_req = Request::post("/v1/auth/register")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            json!({"username": "alice", "password": big}).to_string(),
        ))
        .expect("req");
    assert_error(
        &app.send(json_req).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    let form_req = Request::post("/v1/auth/token")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!(
            "grant_type=password&username=a&password={big}"
        )))
        .expect("req");
    assert_error(
        &app.send(form_req).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = TestApp::new().await;
    assert_error(
        &app.call(Method::GET, "/nope", None, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    assert_error(
        &app.call(Method::DELETE, "/healthz", None, None).await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
}

#[tokio::test]
async fn a_bad_path_parameter_is_a_json_400() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    assert_error(
        &app.get("/api/documents/not-a-number", &token).await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
}

#[tokio::test]
async fn health_docs_and_openapi_need_no_token_and_work_offline() {
    let app = TestApp::new().await;
    assert_eq!(
        app.call(Method::GET, "/healthz", None, None).await.status,
        StatusCode::OK
    );
    let ready = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{ready:?}");
    assert!(ready.body["policy_version"].as_i64().expect("version") >= 1);
    let spec = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(spec.status, StatusCode::OK);
    for path in [
        "/v1/auth/register",
        "/v1/auth/token",
        "/v1/auth/revoke",
        "/v1/auth/logout-all",
        "/v1/me",
        "/.well-known/jwks.json",
        "/healthz",
        "/readyz",
        "/v1/check",
        "/api/documents",
        "/api/documents/{id}",
    ] {
        assert!(
            spec.body["paths"].get(path).is_some(),
            "{path} is described"
        );
    }
    let docs = app.call(Method::GET, "/docs/", None, None).await;
    assert_eq!(docs.status, StatusCode::OK, "{docs:?}");
    let html = docs.body.as_str().unwrap_or_default();
    assert!(
        !html.contains("cdn.") && !html.contains("unpkg"),
        "no CDN: {html}"
    );
}

#[tokio::test]
async fn a_closed_database_is_503_not_a_leak() {
    let app = TestApp::new().await;
    let token = app.admin_token().await;
    app.state.db.close().await;
    let r = app.get("/v1/me", &token).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{r:?}");
    assert!(!r.body.to_string().to_lowercase().contains("sql"));
    assert_eq!(
        app.call(Method::GET, "/readyz", None, None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn a_request_past_the_deadline_is_a_json_503() {
    // A zero deadline expires at the first await of any handler that does real work.
    let app = TestApp::with_config(|c| c.request_timeout = std::time::Duration::ZERO).await;
    let r = app.login("admin", ADMIN_PASSWORD).await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, "timeout");
}

/// Every `(code, status)` the source constructs: `ApiError::new(StatusCode::X, "code"`,
/// `conflict("code"`, `bad_request("code"` and the token endpoint's `oauth("code"`. A status
/// that is not a `StatusCode::` constant (the extractor rejections) is `None`.
fn codes_in_source() -> Vec<(String, Option<u16>)> {
    const CALLS: [(&str, Option<u16>); 6] = [
        ("ApiError::new(", None),
        ("Self::new(", None),
        ("ApiError::conflict(", Some(409)),
        ("ApiError::bad_request(", Some(400)),
        ("Self::bad_request(", Some(400)),
        ("oauth(", Some(400)),
    ];
    let status_of = |name: &str| match name {
        "BAD_REQUEST" => Some(400),
        "UNAUTHORIZED" => Some(401),
        "FORBIDDEN" => Some(403),
        "NOT_FOUND" => Some(404),
        "METHOD_NOT_ALLOWED" => Some(405),
        "REQUEST_TIMEOUT" => Some(408),
        "CONFLICT" => Some(409),
        "PRECONDITION_FAILED" => Some(412),
        "PAYLOAD_TOO_LARGE" => Some(413),
        "UNSUPPORTED_MEDIA_TYPE" => Some(415),
        "UNPROCESSABLE_ENTITY" => Some(422),
        "TOO_MANY_REQUESTS" => Some(429),
        "INTERNAL_SERVER_ERROR" => Some(500),
        "SERVICE_UNAVAILABLE" => Some(503),
        _ => Some(0), // not an error status, or missing here: fails below if it has a code
    };
    let mut found = Vec::new();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for path in crate::helpers::rust_sources(&src) {
        let text = std::fs::read_to_string(&path).expect("source");
        for (call, fixed) in CALLS {
            for (at, _) in text.match_indices(call) {
                let mut rest = text[at + call.len()..].trim_start();
                let mut status = fixed;
                if let Some(after) = rest.strip_prefix("StatusCode::") {
                    let name: String = after
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    status = status_of(&name);
                    rest = after[name.len()..].trim_start_matches([',', ' ', '\n']);
                } else if fixed.is_none() {
                    // `new(status, "code"`: a status decided at run time.
                    rest = rest.split_once(',').map_or("", |(_, r)| r).trim_start();
                }
                let Some(quoted) = rest.strip_prefix('"') else {
                    continue; // a code passed through a variable, found at its source
                };
                let code: String = quoted
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if quoted[code.len()..].starts_with('"') && !code.is_empty() {
                    assert_ne!(status, Some(0), "add the status of `{code}` to this test");
                    found.push((code, status));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// `(status, codes)` rows of the README's error table.
fn codes_in_readme() -> Vec<(u16, Vec<String>)> {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README");
    let section = readme
        .split("\n## Errors\n")
        .nth(1)
        .expect("README has an Errors section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix('|')?.split('|');
            let status: u16 = cells.next()?.trim().parse().ok()?;
            let codes = cells
                .next()?
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            Some((status, codes))
        })
        .collect()
}

#[test]
fn the_readme_lists_every_error_code_the_server_emits_with_its_status() {
    let source = codes_in_source();
    let names: Vec<&str> = source.iter().map(|(c, _)| c.as_str()).collect();
    // The scan must see the codes we know are there, or it proves nothing.
    for known in [
        "unauthenticated",
        "invalid_token",
        "forbidden",
        "lockout",
        "version_mismatch",
        "payload_too_large",
        "invalid_grant",
        "timeout",
    ] {
        assert!(names.contains(&known), "the scan finds {known}: {source:?}");
    }
    let readme = codes_in_readme();
    assert!(
        readme.len() >= 10,
        "the README has an error table: {readme:?}"
    );
    for (code, status) in &source {
        let listed: Vec<u16> = readme
            .iter()
            .filter(|(_, codes)| codes.contains(code))
            .map(|(s, _)| *s)
            .collect();
        assert!(!listed.is_empty(), "README's error table lacks `{code}`");
        if let Some(status) = status {
            assert!(
                listed.contains(status),
                "README lists `{code}` under {listed:?}, the server sends {status}"
            );
        }
    }
    for (status, codes) in &readme {
        for code in codes {
            assert!(
                names.contains(&code.as_str()),
                "README lists `{code}` ({status}), which the server never sends"
            );
        }
    }
}
