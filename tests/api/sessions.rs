//! Access tokens carry their session (`sid`, the refresh family): revoking the session
//! rejects them at once, not when they expire.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};

use crate::helpers::*;

fn tokens(r: &TestResponse) -> (String, String) {
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    (
        r.body["access_token"].as_str().expect("access").to_owned(),
        r.body["refresh_token"]
            .as_str()
            .expect("refresh")
            .to_owned(),
    )
}

async fn revoke(app: &TestApp, token: &str) {
    let req = Request::post("/v1/auth/revoke")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={token}")))
        .expect("request");
    assert_eq!(app.send(req).await.status, StatusCode::OK);
}

async fn assert_rejected(app: &TestApp, access: &str, why: &str) {
    let r = app.get("/v1/me", access).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{why}: {r:?}");
    assert_eq!(r.error_code(), "invalid_token", "{why}");
}

async fn assert_works(app: &TestApp, access: &str, why: &str) {
    let r = app.get("/v1/me", access).await;
    assert_eq!(r.status, StatusCode::OK, "{why}: {r:?}");
}

#[tokio::test]
async fn reuse_detection_rejects_the_familys_live_access_tokens_at_once() {
    let app = TestApp::new().await;
    app.register("alice", PASSWORD).await;
    let (first_access, first_refresh) = tokens(&app.login("alice", PASSWORD).await);
    let (rotated_access, _) = tokens(&app.refresh(&first_refresh).await);
    let (other_session, _) = tokens(&app.login("alice", PASSWORD).await);
    assert_works(&app, &rotated_access, "before the replay").await;
    // a stolen, already used refresh token is replayed: the family dies
    assert_error(
        &app.refresh(&first_refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    assert_rejected(&app, &rotated_access, "the rotated access token").await;
    assert_rejected(&app, &first_access, "the first access token").await;
    assert_works(&app, &other_session, "another session of the same user").await;
}

#[tokio::test]
async fn revoking_a_refresh_token_rejects_its_sessions_access_tokens_at_once() {
    let app = TestApp::new().await;
    app.register("alice", PASSWORD).await;
    let (access, refresh) = tokens(&app.login("alice", PASSWORD).await);
    let (other_session, _) = tokens(&app.login("alice", PASSWORD).await);
    revoke(&app, &refresh).await;
    assert_rejected(&app, &access, "the revoked session's access token").await;
    assert_works(&app, &other_session, "another session").await;
}

#[tokio::test]
async fn revoking_an_access_token_revokes_its_session() {
    let app = TestApp::new().await;
    app.register("alice", PASSWORD).await;
    let (access, refresh) = tokens(&app.login("alice", PASSWORD).await);
    let (other_session, _) = tokens(&app.login("alice", PASSWORD).await);
    revoke(&app, &access).await;
    assert_rejected(&app, &access, "the revoked access token").await;
    assert_error(
        &app.refresh(&refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    );
    assert_works(&app, &other_session, "another session").await;
    // a forged or garbage token revokes nothing and still answers 200
    revoke(&app, "eyJhbGciOiJub25lIn0.e30.").await;
    assert_works(&app, &other_session, "after a garbage revoke").await;
}

#[tokio::test]
async fn logout_all_rejects_every_sessions_access_tokens_and_refresh_tokens() {
    let app = TestApp::new().await;
    app.register("alice", PASSWORD).await;
    let (a1, r1) = tokens(&app.login("alice", PASSWORD).await);
    let (a2, r2) = tokens(&app.login("alice", PASSWORD).await);
    let r = app
        .call(Method::POST, "/v1/auth/logout-all", Some(&a1), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    for (access, refresh) in [(a1, r1), (a2, r2)] {
        assert_rejected(&app, &access, "after logout-all").await;
        assert_error(
            &app.refresh(&refresh).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        );
    }
}
