//! The service-account routes' request and response bodies, and how an account is shown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::Snapshot;
use crate::policy::AttrValue;
use crate::store::service_accounts::ServiceAccount;

/// `POST /v1/admin/service-accounts` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccount {
    /// 3-64 characters of `[A-Za-z0-9._-]`, unique case-insensitively among users and
    /// service accounts (it is the subject `user:<name>` in the policy).
    pub name: String,
    /// Roles to assign (`reader` or `role:reader`); each must exist in the policy.
    #[serde(default)]
    pub roles: Vec<String>,
    /// Scopes the service may request; its tokens carry at most these.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Attributes the policy reads (`r.sub.*`), as for users. `kind` is Warden's.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub attributes: BTreeMap<String, AttrValue>,
}

/// A secret that works now (never its value).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SecretView {
    /// When it was made (Unix seconds).
    pub created_at: i64,
    /// When it stops working: null for the current secret, the end of the overlap for the
    /// one the last rotation replaced.
    pub expires_at: Option<i64>,
}

/// A service account as shown to admins (never a secret).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceAccountView {
    /// Its name: the policy's subject `user:<name>`.
    pub name: String,
    /// Its client id (public).
    pub client_id: String,
    /// Roles assigned directly (`role:<name>`).
    pub roles: Vec<String>,
    /// Scopes it may request.
    pub scopes: Vec<String>,
    /// Attributes.
    #[schema(value_type = Object)]
    pub attributes: BTreeMap<String, AttrValue>,
    /// Disabled (through `PATCH /v1/admin/users/{name}`)?
    pub disabled: bool,
    /// When it was created.
    pub created_at: i64,
    /// Its working secrets, newest first.
    pub secrets: Vec<SecretView>,
}

/// The answer to a create: the account and its secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedServiceAccount {
    /// The account.
    #[serde(flatten)]
    pub account: ServiceAccountView,
    /// The secret. Store it now: Warden keeps only its hash and never shows it again.
    pub client_secret: String,
    /// The policy version the creation made.
    pub policy_version: i64,
}

/// `POST .../{name}/secret` body (optional: `{}` or no body at all is the default overlap).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecret {
    /// How long the replaced secret (and the tokens it obtained) keeps working, in seconds:
    /// 0-604800, default 3600. A secret still in an earlier overlap stops at once.
    pub overlap_secs: Option<i64>,
}

/// The answer to a rotation: the new secret, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    /// The client id (unchanged).
    pub client_id: String,
    /// The new secret. Store it now: it is never shown again.
    pub client_secret: String,
    /// When the replaced secret stops working (Unix seconds).
    pub previous_secret_expires_at: i64,
    /// The policy version the rotation made.
    pub policy_version: i64,
}

/// A page of service accounts.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceAccountPage {
    /// All service accounts.
    pub total: i64,
    /// This page.
    pub items: Vec<ServiceAccountView>,
}

/// `a` as admins see it, with its direct roles in `snap`.
pub(super) fn view(snap: Option<&Snapshot>, a: ServiceAccount) -> ServiceAccountView {
    let member = format!("user:{}", a.user.username_key);
    let mut roles: Vec<String> = snap
        .map(|s| {
            s.assignments()
                .iter()
                .filter(|x| x.member == member)
                .map(|x| x.role.clone())
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    ServiceAccountView {
        name: a.user.username,
        client_id: a.client_id,
        roles,
        scopes: a.user.scopes,
        attributes: a.user.attributes,
        disabled: a.user.disabled,
        created_at: a.created_at,
        secrets: a
            .secrets
            .into_iter()
            .map(|s| SecretView {
                created_at: s.created_at,
                expires_at: s.expires_at,
            })
            .collect(),
    }
}
