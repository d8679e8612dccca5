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
