//! Policy reads and writes carry the version they show as a strong `ETag` and in
//! `warden-policy-version`; `If-Match` follows RFC 9110.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::*;

fn a_rule(action: &str) -> Value {
    json!({"subject": "role:user", "object": "/etag-test", "action": action, "effect": "allow"})
}

async fn add_rule(
    app: &TestApp,
    admin: &str,
    if_match: Option<&str>,
    action: &str,
) -> TestResponse {
    let mut req = Request::post("/v1/admin/rules")
        .header(header::AUTHORIZATION, format!("Bearer {admin}"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(v) = if_match {
        req = req.header(header::IF_MATCH, v);
    }
    app.send(
        req.body(Body::from(a_rule(action).to_string()))
            .expect("req"),
    )
    .await
}

fn header_of<'a>(r: &'a TestResponse, name: &str) -> &'a str {
    r.headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} is set: {r:?}"))
        .to_str()
        .expect("text")
}

#[tokio::test]
async fn if_match_star_matches_whatever_version_is_current() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let r = add_rule(&app, &admin, Some("*"), "GET").await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
}

#[tokio::test]
async fn policy_reads_carry_the_version_as_a_strong_etag() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    for path in ["/v1/admin/policy", "/v1/admin/rules", "/v1/admin/roles"] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {r:?}");
        let version = header_of(&r, "warden-policy-version");
        assert_eq!(header_of(&r, "etag"), format!("\"{version}\""), "{path}");
    }
}

#[tokio::test]
async fn a_write_answers_with_the_version_it_created_in_etag_and_header() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let before = app.get("/v1/admin/policy", &admin).await.body["policy_version"]
        .as_i64()
        .expect("version");
    let r = add_rule(&app, &admin, None, "GET").await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let created = r.body["policy_version"].as_i64().expect("version");
    assert_eq!(created, before + 1);
    assert_eq!(header_of(&r, "warden-policy-version"), created.to_string());
    assert_eq!(header_of(&r, "etag"), format!("\"{created}\""));

    // Every kind of write, not only rule creation.
    let rule_id = r.body["rule_ids"][0].as_i64().expect("id");
    let writes = [
        (
            Method::PUT,
            format!("/v1/admin/rules/{rule_id}"),
            Some(a_rule("PUT")),
        ),
        (Method::DELETE, format!("/v1/admin/rules/{rule_id}"), None),
        (
            Method::POST,
            "/v1/admin/policy/changes".to_owned(),
            Some(json!({"add": [a_rule("POST")]})),
        ),
        (
            Method::POST,
            "/v1/admin/policy/rollback".to_owned(),
            Some(json!({"version": before})),
        ),
    ];
    for (method, path, body) in writes {
        let r = app.call(method.clone(), &path, Some(&admin), body).await;
        assert!(r.status.is_success(), "{method} {path}: {r:?}");
        let v = r.body["policy_version"].as_i64().expect("version");
        assert_eq!(
            header_of(&r, "warden-policy-version"),
            v.to_string(),
            "{method} {path}"
        );
        assert_eq!(header_of(&r, "etag"), format!("\"{v}\""), "{method} {path}");
    }
}

#[tokio::test]
async fn the_etag_of_a_read_is_what_if_match_accepts_and_a_stale_one_is_412() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let read = app.get("/v1/admin/policy", &admin).await;
    let etag = header_of(&read, "etag").to_owned();
    let r = add_rule(&app, &admin, Some(&etag), "GET").await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_error(
        &add_rule(&app, &admin, Some(&etag), "PUT").await,
        StatusCode::PRECONDITION_FAILED,
        "version_mismatch",
    );
    let weak = format!("W/{}", header_of(&r, "etag"));
    assert_error(
        &add_rule(&app, &admin, Some(&weak), "PUT").await,
        StatusCode::PRECONDITION_FAILED,
        "version_mismatch",
    );
    assert_error(
        &add_rule(&app, &admin, Some("\"eight\""), "PUT").await,
        StatusCode::BAD_REQUEST,
        "bad_request",
    );
}
