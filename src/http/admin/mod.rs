//! `/v1/admin/*`: runtime policy administration. Every route is guarded by the policy like
//! any other (the seed grants `role:admin`; nothing here checks a role name).

pub mod analysis;
pub mod decisions;
pub mod matrices;
pub mod matrix_edit;
pub mod policy;
pub mod rules;
pub mod service_accounts;
pub mod tenant_matrices;
pub mod tenant_policy;
pub mod tenants;
pub mod users;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::principal::Principal;
use crate::engine::change::Applied;
use crate::http::error::ApiError;
use crate::http::guard::POLICY_VERSION_HEADER;
use crate::policy::change::Op;
use crate::state::AppState;
use crate::store::policy::ChangeMeta;

pub use rules::ChangeBody;

/// Admin routes (guarded by the policy in `http.rs`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(rules::list, rules::create))
        .routes(routes!(rules::replace, rules::remove))
        .routes(routes!(rules::roles))
        .routes(routes!(rules::assign, rules::unassign))
        .routes(routes!(users::list, users::create))
        .routes(routes!(users::show, users::patch, users::remove))
        .routes(routes!(users::reset_password))
        .routes(routes!(users::roles))
        .routes(routes!(service_accounts::list, service_accounts::create))
        .routes(routes!(service_accounts::show, service_accounts::remove))
        .routes(routes!(service_accounts::rotate))
        .routes(routes!(policy::show))
        .routes(routes!(policy::change))
        .routes(routes!(policy::versions))
        .routes(routes!(policy::diff))
        .routes(routes!(policy::compare))
        .routes(routes!(policy::rollback))
        .routes(routes!(policy::dry_run))
        .routes(routes!(policy::audit))
        .routes(routes!(decisions::recent))
        .routes(routes!(matrices::list))
        .routes(routes!(matrices::run))
        .routes(routes!(
            matrices::show,
            matrix_edit::put,
            matrix_edit::remove
        ))
        .routes(routes!(matrices::grid))
        .routes(routes!(matrices::why))
        .routes(routes!(analysis::who_can))
        .routes(routes!(analysis::what_can))
        .routes(routes!(analysis::review))
        .routes(routes!(tenants::create, tenants::list))
        .routes(routes!(tenants::update))
        .routes(routes!(tenants::members))
        .routes(routes!(tenants::put_member, tenants::delete_member))
        .routes(routes!(tenants::rules, tenants::create_rule))
        .routes(routes!(tenants::delete_rule))
        .routes(routes!(tenant_policy::versions))
        .routes(routes!(tenant_policy::diff))
        .routes(routes!(tenant_policy::audit))
        .routes(routes!(tenant_policy::dry_run))
        .routes(routes!(tenant_matrices::list))
        .routes(routes!(
            tenant_matrices::show,
            tenant_matrices::put,
            tenant_matrices::remove
        ))
}

/// `?limit=&offset=` (limit 1-500, default 50).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct Page {
    /// Page size (1-500, default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Items to skip.
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

impl Page {
    fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let limit = self.limit.unwrap_or(50);
        let offset = self.offset.unwrap_or(0);
        if !(1..=500).contains(&limit) {
            return Err(ApiError::validation("limit", "must be 1-500"));
        }
        if offset < 0 {
            return Err(ApiError::validation("offset", "must not be negative"));
        }
        Ok((limit, offset))
    }
}

/// Applies a change as the calling admin, honouring `If-Match`.
async fn apply(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    action: &str,
    summary: &str,
    ops: Vec<Op>,
) -> Result<Applied, ApiError> {
    let if_match = if_match(headers)?;
    let (state, actor) = (state.clone(), principal.user.username_key.clone());
    let (action, summary) = (action.to_owned(), summary.to_owned());
    detached(async move {
        let meta = ChangeMeta {
            actor: &actor,
            action: &action,
            summary: &summary,
        };
        let applied = state
            .engine
            .change(ops, if_match, &meta, state.now())
            .await
            .map_err(ApiError::from);
        match &applied {
            Ok(a) => tracing::info!(
                event = "policy_changed",
                actor = %actor,
                action = %action,
                policy_version = a.policy_version,
                "policy changed"
            ),
            Err(e) if matches!(e.code(), "lockout" | "invariant_violation") => tracing::warn!(
                event = "policy_change_refused",
                actor = %actor,
                action = %action,
                reason = e.code(),
                "policy change refused"
            ),
            Err(_) => {}
        }
        applied
    })
    .await
}

/// Runs a change to completion even if the request is dropped meanwhile (client gone,
/// timeout): a commit is never separated from the snapshot swap that follows it.
async fn detached<T: Send + 'static>(
    change: impl Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    // The request's span goes along, so the change's log lines keep its request id.
    let span = tracing::Span::current();
    tokio::spawn(tracing::Instrument::instrument(change, span))
        .await
        .map_err(ApiError::internal)?
}

/// What an `If-Match` header asks of the current policy version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IfMatch {
    /// No header, or `*`: any current version will do (RFC 9110 §13.1.1).
    Any,
    /// Exactly this version.
    Version(i64),
}

/// Reads `If-Match`: `*`, or one policy version as a strong entity tag (`"8"`, as sent in
/// `ETag`; a bare `8` is accepted too). A weak tag (`W/"8"`) never matches under the strong
/// comparison If-Match requires, so it is a 412 like any other mismatch.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let mut values = headers.get_all(header::IF_MATCH).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return match headers.contains_key(header::IF_MATCH) {
            false => Ok(None),
            true => Err(bad_if_match()),
        };
    };
    let text = value.to_str().map_err(|_| bad_if_match())?.trim();
    match parse_if_match(text)? {
        IfMatch::Any => Ok(None),
        IfMatch::Version(v) => Ok(Some(v)),
    }
}

fn parse_if_match(text: &str) -> Result<IfMatch, ApiError> {
    if text == "*" {
        return Ok(IfMatch::Any);
    }
    if text.starts_with("W/") {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "version_mismatch",
            "a weak entity tag never matches If-Match; send the ETag as given",
        ));
    }
    let bare = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    bare.parse()
        .ok()
        .filter(|v: &i64| *v >= 0 && bare.bytes().all(|b| b.is_ascii_digit()))
        .map(IfMatch::Version)
        .ok_or_else(bad_if_match)
}

fn bad_if_match() -> ApiError {
    ApiError::bad_request(
        "bad_request",
        "If-Match must be * or one policy version (an ETag such as \"8\")",
    )
}

/// The strong entity tag of a policy version: `"8"`.
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or_else(|_| {
        // A decimal integer in quotes is always a valid header value.
        HeaderValue::from_static("\"0\"")
    })
}

/// A response that shows one policy version: the body, `ETag: "<version>"` and
/// `warden-policy-version: <version>` (the guard keeps a header the handler set, so a write
/// answers with the version it created rather than the one it was authorized under).
pub struct Versioned<T> {
    status: StatusCode,
    version: i64,
    body: T,
}

impl<T> Versioned<T> {
    /// 200 with the version's tags.
    pub fn ok(version: i64, body: T) -> Self {
        Self::new(StatusCode::OK, version, body)
    }

    /// 201 with the version's tags.
    pub fn created(version: i64, body: T) -> Self {
        Self::new(StatusCode::CREATED, version, body)
    }

    fn new(status: StatusCode, version: i64, body: T) -> Self {
        Self {
            status,
            version,
            body,
        }
    }
}

impl<T: serde::Serialize> IntoResponse for Versioned<T> {
    fn into_response(self) -> Response {
        let mut res = (self.status, axum::Json(self.body)).into_response();
        let headers = res.headers_mut();
        headers.insert(header::ETAG, etag(self.version));
        headers.insert(POLICY_VERSION_HEADER, HeaderValue::from(self.version));
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_reads_star_tags_and_bare_versions() {
        let cases: [(&str, Option<IfMatch>); 9] = [
            ("*", Some(IfMatch::Any)),
            ("\"8\"", Some(IfMatch::Version(8))),
            ("8", Some(IfMatch::Version(8))),
            (" \"12\" ", Some(IfMatch::Version(12))),
            ("\"-1\"", None),
            ("\"+8\"", None),
            ("\"8\", \"9\"", None),
            ("\"eight\"", None),
            ("", None),
        ];
        for (text, expected) in cases {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::IF_MATCH,
                HeaderValue::from_str(text).expect("header"),
            );
            let got = if_match(&headers).map(|v| v.map_or(IfMatch::Any, IfMatch::Version));
            match expected {
                Some(e) => assert_eq!(got.ok(), Some(e), "{text:?}"),
                None => assert_eq!(
                    got.map_err(|e| e.status()),
                    Err(StatusCode::BAD_REQUEST),
                    "{text:?}"
                ),
            }
        }
    }

    #[test]
    fn a_weak_tag_never_matches_if_match() {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, HeaderValue::from_static("W/\"8\""));
        let e = if_match(&headers).expect_err("weak");
        assert_eq!(e.status(), StatusCode::PRECONDITION_FAILED);
        assert_eq!(e.code(), "version_mismatch");
    }

    #[test]
    fn etags_are_strong_quoted_versions() {
        assert_eq!(etag(8), "\"8\"");
    }
}
