//! One error type for the whole HTTP surface.
//!
//! Every failure a client can see is an [`ApiError`]: a precise status, a stable snake_case
//! `error` code and a human `message`, rendered as `{"error": ..., "message": ...}`. Domain
//! errors (`StoreError`, `AuthzError`, `ChangeError`, ...) convert into it with `From`, and 5xx variants log
//! their cause and return a fixed message so no SQL, path or panic text reaches a client.

use std::borrow::Cow;

use axum::extract::rejection::{
    BytesRejection, FormRejection, JsonRejection, PathRejection, QueryRejection,
};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::policy::{ChangeError, Conflict};

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, machine-readable code (e.g. `forbidden`, `invalid_grant`).
    pub error: Cow<'static, str>,
    /// Human-readable explanation; never contains internals.
    pub message: Cow<'static, str>,
    /// Structured details where a client needs them (e.g. the matrix cells an edit flips).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

/// An error that is rendered to the client as JSON with a precise status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    message: Cow<'static, str>,
    retry_after: Option<u64>,
    www_authenticate: Option<&'static str>,
    details: Option<serde_json::Value>,
    /// Caused by a failing database: counted in `warden_store_errors_total`.
    store_failed: bool,
}

/// Response extension marking an answer caused by a failing database (see
/// [`crate::http::observe`], which counts them).
#[derive(Debug, Clone, Copy)]
pub struct StoreFailed;

/// Response extension: the stable `error` code of an error answer, for middleware that
/// reports it elsewhere (forward-auth's `X-Warden-Error`) without parsing the body.
#[derive(Debug, Clone)]
pub struct ErrorCode(pub Cow<'static, str>);

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// A new error with an explicit status and code.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
            www_authenticate: None,
            details: None,
            store_failed: false,
        }
    }

    /// Attaches structured details to the body.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 400 with a specific code (OAuth2 codes such as `invalid_grant` use this too).
    pub fn bad_request(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 422: the request was well-formed but a field is invalid. The message names the field,
    /// and so do the details (`{"field": "condition"}`), for a form to show it in place.
    pub fn validation(field: &str, problem: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("{field}: {problem}"),
        )
        .with_details(serde_json::json!({ "field": field }))
    }

    /// 401 for a missing, malformed, expired or revoked bearer token (RFC 6750).
    pub fn invalid_token(message: impl Into<Cow<'static, str>>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", message);
        e.www_authenticate = Some(r#"Bearer error="invalid_token""#);
        e
    }

    /// 401 `invalid_client` (RFC 6749 §5.2): the client's id or secret is wrong, or it sent
    /// none. Always with the Basic challenge: a client that authenticated with Basic must
    /// get it, and one that sent its secret in the body learns which scheme is supported.
    pub fn invalid_client(message: impl Into<Cow<'static, str>>) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_client", message);
        e.www_authenticate = Some(r#"Basic realm="warden", charset="UTF-8""#);
        e
    }

    /// 401 when no credentials were presented at all (RFC 6750 §3.1: no error code).
    pub fn missing_token() -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "a bearer token is required",
        );
        e.www_authenticate = Some("Bearer");
        e
    }

    /// 403 without any policy details.
    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "you are not allowed to do this",
        )
    }

    /// 404 for a missing resource or route.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    /// 409 with a specific code.
    pub fn conflict(code: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many attempts; retry later",
        );
        e.retry_after = Some(retry_after_secs.max(1));
        e
    }

    /// 408: the request body did not arrive within `--body-read-timeout-secs` (the transport
    /// closes the connection after this answer).
    pub fn body_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "the request body arrived too slowly",
        )
    }

    /// 503: the policy or the database is unavailable (lost, restarting, partitioned away);
    /// decisions fail closed. `Retry-After: 1`: the condition is expected to pass.
    pub fn unavailable(message: &'static str) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message).with_retry_after(1)
    }

    /// 500 with a fixed message; the cause is logged, never returned.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal server error",
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The structured details, if any.
    pub fn details(&self) -> Option<&serde_json::Value> {
        self.details.as_ref()
    }

    /// Adds `Retry-After` (for 503s that a client should retry).
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs.max(1));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = ErrorCode(self.code.clone());
        let body = ErrorBody {
            error: self.code,
            message: self.message,
            details: self.details,
        };
        let mut res = (self.status, axum::Json(body)).into_response();
        let headers = res.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if let Some(value) = self.www_authenticate {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
        }
        if self.store_failed {
            res.extensions_mut().insert(StoreFailed);
        }
        res.extensions_mut().insert(code);
        res
    }
}

/// Maps an axum body/extractor rejection by its status, keeping axum's text only where it
/// describes the client's input (serde's messages name the field and never contain internals).
fn from_rejection(status: StatusCode, text: String) -> ApiError {
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(
            status,
            "payload_too_large",
            "request body exceeds the size limit",
        ),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(status, "unsupported_media_type", text),
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::new(status, "validation_failed", text),
        s if s.is_client_error() => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", text),
        _ => ApiError::internal(text),
    }
}

/// Whether a body extractor failed because the body timed out: axum wraps the body's error a
/// few layers deep (rejection, buffering, body-limit box), so the whole source chain is looked at.
fn body_timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.is::<crate::serve::BodyTimedOut>() {
            return true;
        }
        next = e.source();
    }
    false
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if body_timed_out(&r) {
            return ApiError::body_timeout();
        }
        from_rejection(r.status(), r.body_text())
    }
}

impl From<FormRejection> for ApiError {
    fn from(r: FormRejection) -> Self {
        if body_timed_out(&r) {
            return ApiError::body_timeout();
        }
        from_rejection(r.status(), r.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        if body_timed_out(&r) {
            return ApiError::body_timeout();
        }
        from_rejection(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        from_rejection(r.status(), r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        from_rejection(r.status(), r.body_text())
    }
}

/// Decisions cannot be made: every decision fails closed.
impl From<crate::engine::AuthzError> for ApiError {
    fn from(_: crate::engine::AuthzError) -> Self {
        ApiError::unavailable("the policy is not available; all access is denied")
    }
}

/// The one place a refused or failed change becomes a status, a stable code and a body. The
/// human text is the change error's own (`Display`), except for internal errors, whose cause
/// is logged and never returned.
impl From<ChangeError> for ApiError {
    fn from(e: ChangeError) -> Self {
        let message = e.to_string();
        match e {
            ChangeError::Invalid {
                field,
                message,
                column,
            } => match column {
                Some(column) => ApiError::validation(field, message)
                    .with_details(serde_json::json!({ "field": field, "column": column })),
                None => ApiError::validation(field, message),
            },
            ChangeError::NotFound(what) => ApiError::not_found(&what),
            ChangeError::Conflict { code, message } => match code {
                Conflict::RuleExists => ApiError::conflict("rule_exists", message),
                Conflict::AssignmentExists => ApiError::conflict("assignment_exists", message),
                Conflict::Duplicate => ApiError::conflict("conflict", message),
            },
            ChangeError::VersionMismatch { .. } => {
                ApiError::new(StatusCode::PRECONDITION_FAILED, "version_mismatch", message)
            }
            ChangeError::InvariantViolation { cells } => {
                ApiError::conflict("invariant_violation", message)
                    .with_details(serde_json::json!({ "cells": cells }))
            }
            ChangeError::InvariantFails { cells, failing } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invariant_fails", message)
                    .with_details(serde_json::json!({ "cells": cells, "failing": failing }))
            }
            ChangeError::PropertyViolated {
                matrix,
                counterexample,
            } => ApiError::conflict("property_violated", message).with_details(
                serde_json::json!({ "matrix": matrix, "counterexample": counterexample }),
            ),
            ChangeError::Lockout { routes } => ApiError::conflict("lockout", message)
                .with_details(serde_json::json!({ "routes": routes })),
            ChangeError::Unavailable(message) => ApiError::unavailable(message),
            ChangeError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

/// An account that was not created: a store failure answers as any store failure; a hashing
/// failure is internal.
impl From<crate::auth::accounts::AccountError> for ApiError {
    fn from(e: crate::auth::accounts::AccountError) -> Self {
        match e {
            crate::auth::accounts::AccountError::Store(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

/// A lifecycle step that did nothing: a bad set-password token is 400
/// `invalid_set_password_token` (one answer for unknown, used and expired), a wrong current
/// password 403 `wrong_password`, too many of those 429.
impl From<crate::auth::lifecycle::LifecycleError> for ApiError {
    fn from(e: crate::auth::lifecycle::LifecycleError) -> Self {
        use crate::auth::lifecycle::LifecycleError;
        match e {
            LifecycleError::BadToken => ApiError::bad_request(
                "invalid_set_password_token",
                LifecycleError::BadToken.to_string(),
            ),
            LifecycleError::WrongPassword => ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_password",
                "the current password is wrong",
            ),
            LifecycleError::Throttled(retry_after) => ApiError::rate_limited(retry_after),
            LifecycleError::Changed => {
                ApiError::conflict("concurrent_change", "the account changed meanwhile; retry")
            }
            LifecycleError::NoAccount => ApiError::not_found("user"),
            LifecycleError::Store(e) => e.into(),
            LifecycleError::Issue(e) => e.into(),
            hash @ LifecycleError::Hash(_) => ApiError::internal(hash),
        }
    }
}

/// A token that names no caller: 401 `invalid_token` with the reason; a store failure
/// answers as any store failure.
impl From<crate::auth::principal::AuthError> for ApiError {
    fn from(e: crate::auth::principal::AuthError) -> Self {
        match e {
            crate::auth::principal::AuthError::Rejected(why) => ApiError::invalid_token(why),
            crate::auth::principal::AuthError::Store(e) => e.into(),
        }
    }
}

/// A token that could not be issued: the service failed (a store failure answers as any).
impl From<crate::auth::tokens::IssueError> for ApiError {
    fn from(e: crate::auth::tokens::IssueError) -> Self {
        match e {
            crate::auth::tokens::IssueError::Store(e) => e.into(),
            other => ApiError::internal(other),
        }
    }
}

/// A grant that gave no tokens: the OAuth2 error codes of RFC 6749 §5.2 (400), a throttled
/// client (429 with `Retry-After`), or a failure of the service.
impl From<crate::auth::sessions::GrantError> for ApiError {
    fn from(e: crate::auth::sessions::GrantError) -> Self {
        use crate::auth::sessions::GrantError;
        match e {
            GrantError::InvalidRequest(m) => ApiError::bad_request("invalid_request", m),
            GrantError::InvalidGrant(m) => ApiError::bad_request("invalid_grant", m),
            GrantError::InvalidScope(m) => ApiError::bad_request("invalid_scope", m),
            GrantError::InvalidClient(m) => ApiError::invalid_client(m),
            GrantError::NotAMember(m) => ApiError::new(StatusCode::FORBIDDEN, "not_a_member", m),
            GrantError::Throttled(retry_after) => ApiError::rate_limited(retry_after),
            GrantError::Issue(e) => e.into(),
            GrantError::Store(e) => e.into(),
            hash @ GrantError::Hash(_) => ApiError::internal(hash),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        let mut e = match e {
            crate::store::StoreError::Conflict(what) => {
                return ApiError::conflict("conflict", what);
            }
            crate::store::StoreError::Unavailable(cause) => {
                tracing::error!(%cause, "database unavailable");
                ApiError::unavailable("the database is unavailable")
            }
            other => ApiError::internal(other),
        };
        e.store_failed = true;
        e
    }
}

/// JSON body extractor whose rejections are [`ApiError`]s (never axum's plain-text defaults).
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path extractor with JSON rejections.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Query extractor with JSON rejections.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = ApiError::internal("SELECT * FROM users failed at /var/lib/warden.db");
        assert_eq!(e.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.to_string().contains("SELECT"));
        assert!(!e.to_string().contains("/var/lib"));
    }

    #[test]
    fn rate_limited_never_says_retry_after_zero() {
        let res = ApiError::rate_limited(0).into_response();
        assert_eq!(res.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn invalid_token_sets_the_rfc6750_challenge() {
        let res = ApiError::invalid_token("expired").into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers()[header::WWW_AUTHENTICATE],
            r#"Bearer error="invalid_token""#
        );
    }
}
