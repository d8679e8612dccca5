//! `POST /v1/plan`: the policy for one (subject, action, object type) as a condition over the
//! object's attributes, so an application can filter a whole list with one query instead of
//! asking about every object.

use std::collections::BTreeMap;

use axum::extract::State;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::principal::Principal;
use crate::http::error::{ApiError, Json};
use crate::policy::Object;
use crate::policy::analysis::{self, AttrType, Plan, Schema};
use crate::state::AppState;
use crate::store;

/// Route (guarded by the policy in `http.rs`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(plan))
}

/// What to plan.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// The action (`read`, ...).
    pub action: String,
    /// The resource type (`document`).
    pub object_type: String,
    /// `user:<name>`; omitted = the caller. Naming someone else needs permission `any` on
    /// `check`, as in `/v1/check`; their scopes are every scope they may request.
    pub subject: Option<String>,
    /// The attributes every object of the type carries, with their types (`{"department":
    /// "string", "classification": "int"}`): the plan is then simplified for such objects.
    /// Omitted = Warden's documents for `document`, otherwise objects with any attributes
    /// (the plan then tests types where a condition needs them).
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<BTreeMap<String, AttrType>>,
}

/// The plan for the caller (or the named subject), decided under one policy version.
#[utoipa::path(post, path = "/v1/plan", tag = "authz", security(("bearer" = [])), request_body = PlanRequest,
    responses((status = 200, body = Plan), (status = 403, body = crate::http::error::ErrorBody),
        (status = 404, body = crate::http::error::ErrorBody), (status = 422, body = crate::http::error::ErrorBody)))]
pub async fn plan(
    State(state): State<AppState>,
    principal: Principal,
    Json(req): Json<PlanRequest>,
) -> Result<Json<Plan>, ApiError> {
    for (field, v) in [("action", &req.action), ("object_type", &req.object_type)] {
        if v.is_empty() || v.len() > 256 {
            return Err(ApiError::validation(field, "must be 1-256 characters"));
        }
    }
    if req.object_type.starts_with('/') {
        return Err(ApiError::validation(
            "object_type",
            "a resource type (`document`), not a path",
        ));
    }
    let snap = state.engine.snapshot()?;
    let caller = principal.subject();
    let subject = match req.subject {
        None => caller.clone(),
        Some(named) => {
            if !snap.decide(caller, &Object::route("check"), "any").allowed {
                return Err(ApiError::forbidden());
            }
            let Some(name) = named.strip_prefix("user:") else {
                return Err(ApiError::validation("subject", "must be user:<name>"));
            };
            match store::users::find_by_username(&state.db, name).await? {
                Some(u) if !u.disabled => u.subject(u.scopes.clone()),
                // A disabled account may do nothing at all.
                Some(_) => return Ok(Json(Plan::new(analysis::Cond::False))),
                None => return Err(ApiError::not_found("user")),
            }
        }
    };
    let schema = match req.attributes {
        Some(a) => Some(Schema::new(a.iter().map(|(n, t)| (n.as_str(), *t)))),
        None if req.object_type == "document" => Some(store::documents::schema()),
        None => None,
    };
    Ok(Json(analysis::plan(
        snap.policy(),
        &subject,
        &req.action,
        &req.object_type,
        schema.as_ref(),
    )))
}
