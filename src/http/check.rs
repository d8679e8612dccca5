//! `POST /v1/check`: other services ask "may X do Y on Z?" in batches.

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::principal::Principal;
use crate::engine::RESERVED_ATTRIBUTES;
use crate::http::error::{ApiError, Json};
use crate::policy::{AttrValue, Object, Subject};
use crate::state::AppState;
use crate::store;
use crate::store::users::UserRow;

/// Most checks in one request.
pub const MAX_CHECKS: usize = 100;

/// Route (guarded by the policy in `http.rs`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(check))
}

/// A batch of questions.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// 1-100 checks.
    pub checks: Vec<CheckItem>,
    /// Include matched rules and condition results (needs permission `explain` on `check`).
    #[serde(default)]
    pub explain: bool,
    /// The tenant every check is decided in; omitted = the token's (`tid`). Another tenant
    /// than the token's only for an installation admin (403 otherwise).
    pub tenant: Option<String>,
}

/// One question.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckItem {
    /// Who; omitted = the caller. Naming someone else needs permission `any` on `check`.
    pub subject: Option<CheckSubject>,
    /// What.
    pub object: CheckObject,
    /// The action (`read`, `GET`, ...).
    pub action: String,
}

/// A named subject.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckSubject {
    /// A local username, or a trusted issuer's subject as `<issuer alias>:<sub>` (the
    /// principal `user:<alias>:<sub>` its tokens act as).
    pub name: String,
    /// Token scopes to assume; omitted = every scope the user may request (a federated
    /// subject: the scopes its `claims` grant). Scopes the subject could not hold are dropped.
    pub scopes: Option<Vec<String>>,
    /// Only for a federated subject: the claims its token would carry (`groups`,
    /// `department`, `scope`, ...), mapped exactly as the issuer's configuration maps a token's
    /// (`role_map`, typed attributes, scopes). Omitted = a token with no claims but the
    /// subject. A subject linked to a local account gets that account's roles and attributes on
    /// top, as its tokens do.
    #[schema(value_type = Option<Object>)]
    pub claims: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The object: a resource type or a path, plus attributes.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckObject {
    /// Resource type (`document`). Exactly one of `type` and `path`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Request path (`/api/documents/5`).
    pub path: Option<String>,
    /// Attributes (department, owner, classification, ...).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, AttrValue>,
}

/// The answer to one check.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckResult {
    /// Allowed?
    pub allowed: bool,
    /// Why the answer is a deny that no matching deny rule made: an unknown or disabled
    /// subject, or rules that could not be evaluated (each named in `unevaluated`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Rules that applied but whose condition could not be evaluated for this check (an
    /// attribute missing or of the wrong type), with or without `explain`: an `allow` rule
    /// among them granted nothing (another rule may still have allowed), a `deny` rule denied.
    /// `attributes` says what to send (`r.obj.NAME`: `object.attributes.NAME`) or have an
    /// admin set (`r.sub.NAME`: the subject's attributes). Absent when there are none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unevaluated: Option<Vec<crate::policy::decide::Unevaluated>>,
    /// With `explain`: ids of the rules that matched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_rules: Option<Vec<i64>>,
    /// With `explain`: every applicable rule's condition and its result.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<crate::policy::decide::ConditionResult>>,
}

/// Answers, in request order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CheckResponse {
    /// The policy version every answer was decided under.
    pub policy_version: i64,
    /// One per check.
    pub results: Vec<CheckResult>,
}

fn parse_object(
    i: usize,
    o: CheckObject,
    matching: crate::engine::resource::PathMatching,
) -> Result<Object, ApiError> {
    let field = |f: &str| format!("checks[{i}].object.{f}");
    let resource = match (o.kind, o.path) {
        (Some(t), None) => t,
        // The same canonical spelling a routed request is decided on: a respelling of a path
        // must not escape a rule about it.
        (None, Some(p)) => crate::engine::resource::canonical_path(&p, matching)
            .map_err(|e| ApiError::validation(&field("path"), e))?,
        _ => {
            return Err(ApiError::validation(
                &field("type"),
                "give exactly one of `type` and `path`",
            ));
        }
    };
    if resource.is_empty() || resource.len() > 1024 {
        return Err(ApiError::validation(
            &field("type"),
            "must be 1-1024 characters",
        ));
    }
    if let Some(bad) = o
        .attributes
        .keys()
        .find(|k| RESERVED_ATTRIBUTES.contains(&k.as_str()) || k.is_empty() || k.len() > 64)
    {
        return Err(ApiError::validation(
            &field("attributes"),
            format!("`{bad}` is not an allowed attribute name"),
        ));
    }
    Ok(Object {
        resource,
        attributes: o.attributes,
    })
}

const UNKNOWN_SUBJECT: &str = "unknown or disabled subject";

/// The subject a check names (decided in the request's tenant by the caller): a local
/// account, or a trusted issuer's subject with the claims its token would carry. Ok(Err) is
/// a subject that cannot be decided for (unknown, disabled): that check's answer is a deny.
async fn named_subject(
    state: &AppState,
    i: usize,
    s: CheckSubject,
) -> Result<Result<Subject, String>, ApiError> {
    // Only scopes the subject could actually hold: asking "with documents:write" about a
    // user who may never request it must not answer "allowed".
    let narrow = |holds: &[String], asked: Option<Vec<String>>| match asked {
        Some(asked) => asked.into_iter().filter(|x| holds.contains(x)).collect(),
        None => holds.to_vec(),
    };
    let Some((alias, sub)) = s.name.split_once(':') else {
        if s.claims.is_some() {
            return Err(ApiError::validation(
                &format!("checks[{i}].subject.claims"),
                "only a federated subject (`<issuer alias>:<sub>`) is decided from token \
                 claims; a local account's roles and attributes are the stored ones",
            ));
        }
        return Ok(
            match store::users::find_by_username(&state.db, &s.name).await? {
                Some(u) if !u.disabled => {
                    let scopes = narrow(&u.scopes, s.scopes);
                    Ok(u.subject(scopes))
                }
                _ => Err(UNKNOWN_SUBJECT.to_owned()),
            },
        );
    };
    let Some(cfg) = state.federation.issuers().find(|c| c.alias == alias) else {
        return Ok(Err(UNKNOWN_SUBJECT.to_owned()));
    };
    if !crate::auth::federation::mapping::is_subject(sub) {
        return Ok(Err(UNKNOWN_SUBJECT.to_owned()));
    }
    let claims = s.claims.unwrap_or_default();
    // The name says who; claims naming someone else are a mistake, not a second subject.
    if let Some(other) = crate::auth::federation::mapping::claim(&claims, &cfg.subject_claim)
        && other.as_str() != Some(sub)
    {
        return Err(ApiError::validation(
            &format!("checks[{i}].subject.claims"),
            format!(
                "the `{}` claim names another subject than `name`",
                cfg.subject_claim
            ),
        ));
    }
    let identity = crate::auth::federation::mapping::map_for(cfg, sub.to_owned(), &claims, 0, 0)
        .map_err(|e| ApiError::validation(&format!("checks[{i}].subject.claims"), e))?;
    let identity = std::sync::Arc::new(identity);
    // A linked subject is its account (roles and attributes admins gave it win), never
    // created here: a check provisions nothing.
    let principal = match identity.link {
        false => crate::auth::principal::federated(identity),
        true => {
            use crate::http::federated::{Link, existing_link};
            match existing_link(&state.db, &cfg.issuer, &identity.subject).await? {
                Link::Account(user) => {
                    match crate::auth::principal::linked(identity, UserRow::clone(&user)) {
                        Ok(p) => p,
                        Err(_) => return Ok(Err(UNKNOWN_SUBJECT.to_owned())),
                    }
                }
                // Its token is refused (the account was deleted, or the name its account
                // would get is taken): so is a question about it.
                Link::Gone => return Ok(Err(UNKNOWN_SUBJECT.to_owned())),
                Link::None => {
                    let key = store::users::username_key(&identity.local_username());
                    if store::lifecycle::name_taken(&state.db, &key).await? {
                        return Ok(Err(UNKNOWN_SUBJECT.to_owned()));
                    }
                    crate::auth::principal::federated(identity)
                }
            }
        }
    };
    let mut subject = principal.subject().clone();
    subject.scopes = narrow(&subject.scopes, s.scopes);
    Ok(Ok(subject))
}

/// Ask the policy a batch of questions.
#[utoipa::path(post, path = "/v1/check", tag = "authz", security(("bearer" = [])), request_body = CheckRequest,
    responses((status = 200, body = CheckResponse), (status = 403, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn check(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<CheckRequest>,
) -> Result<Json<CheckResponse>, ApiError> {
    if req.checks.is_empty() || req.checks.len() > MAX_CHECKS {
        return Err(ApiError::validation(
            "checks",
            format!("must hold 1-{MAX_CHECKS} checks"),
        ));
    }
    // One snapshot for the whole batch, so every answer shares one policy version.
    let snap = state.engine.snapshot()?;
    let mut caller = principal.subject().clone();
    let tenant = crate::http::guard::decided_in(&snap, &caller, req.tenant.as_deref())?;
    let permission = |action: &str| {
        snap.decide(&caller, &Object::route("check"), action)
            .allowed
    };
    if req.explain && !permission("explain") {
        return Err(ApiError::forbidden());
    }
    if req.checks.iter().any(|c| c.subject.is_some()) && !permission("any") {
        return Err(ApiError::forbidden());
    }
    // The caller's own permissions (above) are its token's; the checks are in `tenant`.
    caller.tenant.clone_from(&tenant);
    let mut results = Vec::with_capacity(req.checks.len());
    for (i, item) in req.checks.into_iter().enumerate() {
        let is_path = item.object.path.is_some();
        let object = parse_object(i, item.object, state.config.path_matching)?;
        // A path is asked about as a request: HEAD needs what GET needs, as on every route.
        let action = if is_path {
            crate::engine::resource::route_action(&item.action)
        } else {
            &item.action
        };
        let subject: Result<Subject, String> = match item.subject {
            None => Ok(caller.clone()),
            Some(s) => named_subject(&state, i, s).await?.map(|mut sub| {
                sub.tenant.clone_from(&tenant);
                sub
            }),
        };
        let result = match subject {
            Err(e) => CheckResult {
                allowed: false,
                error: Some(e),
                unevaluated: None,
                matched_rules: None,
                conditions: None,
            },
            Ok(subject) => {
                let d = crate::http::guard::observed(
                    &state,
                    "check",
                    &subject,
                    &object,
                    action,
                    || Ok(snap.decide(&subject, &object, action)),
                )?;
                // Rules that could not be evaluated are named to every caller, with the
                // attributes to send (never values, never the condition text: that stays
                // with `explain`), so a caller can fix the check rather than guess.
                CheckResult {
                    allowed: d.allowed,
                    error: d.error,
                    unevaluated: (!d.unevaluated.is_empty()).then_some(d.unevaluated),
                    matched_rules: req.explain.then_some(d.matched_rules),
                    conditions: req.explain.then(|| snap.explain(&subject, &object, action)),
                }
            }
        };
        results.push(result);
    }
    Ok(Json(CheckResponse {
        policy_version: snap.version(),
        results,
    }))
}
