//! `TestApp` methods for service accounts and the client_credentials grant.

use axum::body::Body;
use axum::http::{Method, Request, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use super::{TestApp, TestResponse};

/// A created service account's credentials.
#[derive(Debug, Clone)]
pub struct ServiceCredentials {
    pub client_id: String,
    pub client_secret: String,
}

impl TestApp {
    /// `POST /v1/admin/service-accounts` as `admin`, unchecked.
    pub async fn create_service_account(&self, admin: &str, body: Value) -> TestResponse {
        self.call(
            Method::POST,
            "/v1/admin/service-accounts",
            Some(admin),
            Some(body),
        )
        .await
    }

    /// Creates service account `name` with `roles` and `scopes` (201 asserted).
    pub async fn service_account(
        &self,
        admin: &str,
        name: &str,
        roles: &[&str],
        scopes: &[&str],
    ) -> ServiceCredentials {
        let r = self
            .create_service_account(
                admin,
                json!({"name": name, "roles": roles, "scopes": scopes}),
            )
            .await;
        assert_eq!(r.status, axum::http::StatusCode::CREATED, "{r:?}");
        ServiceCredentials {
            client_id: r.body["client_id"].as_str().expect("client_id").to_owned(),
            client_secret: r.body["client_secret"]
                .as_str()
                .expect("client_secret")
                .to_owned(),
        }
    }

    /// `POST /v1/admin/service-accounts/{name}/secret` with `body` (None: no body).
    pub async fn rotate_service_secret(
        &self,
        admin: &str,
        name: &str,
        body: Option<Value>,
    ) -> TestResponse {
        let path = format!("/v1/admin/service-accounts/{name}/secret");
        self.call(Method::POST, &path, Some(admin), body).await
    }

    /// `DELETE /v1/admin/service-accounts/{name}`.
    pub async fn delete_service_account(&self, admin: &str, name: &str) -> TestResponse {
        let path = format!("/v1/admin/service-accounts/{name}");
        self.call(Method::DELETE, &path, Some(admin), None).await
    }

    /// The client_credentials grant with HTTP Basic (`client_secret_basic`): id and secret
    /// form-urlencoded, then base64 (RFC 6749 §2.3.1); `extra` is appended to the form.
    pub async fn client_token_basic(&self, id: &str, secret: &str, extra: &str) -> TestResponse {
        let enc = |s: &str| url_encode(s);
        let basic = STANDARD.encode(format!("{}:{}", enc(id), enc(secret)));
        self.client_token_with(&format!("Basic {basic}"), extra)
            .await
    }

    /// The client_credentials grant with an explicit `Authorization` value.
    pub async fn client_token_with(&self, authorization: &str, extra: &str) -> TestResponse {
        let req = Request::post("/v1/auth/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::AUTHORIZATION, authorization)
            .body(Body::from(format!("grant_type=client_credentials{extra}")))
            .expect("request");
        self.send(req).await
    }

    /// The client_credentials grant with `client_secret_post`.
    pub async fn client_token_post(&self, id: &str, secret: &str, extra: &str) -> TestResponse {
        self.token_form(&format!(
            "grant_type=client_credentials&client_id={}&client_secret={}{extra}",
            url_encode(id),
            url_encode(secret)
        ))
        .await
    }

    /// A service's access token (Basic; 200 asserted).
    pub async fn service_token(&self, creds: &ServiceCredentials) -> String {
        let r = self
            .client_token_basic(&creds.client_id, &creds.client_secret, "")
            .await;
        assert_eq!(r.status, axum::http::StatusCode::OK, "{r:?}");
        r.body["access_token"].as_str().expect("access").to_owned()
    }
}

/// Form-urlencodes every byte outside `[A-Za-z0-9*._-]` (spaces as `+`).
pub fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'.' | b'_' | b'-' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
