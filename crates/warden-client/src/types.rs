//! Request and answer bodies of the calls this crate makes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
pub use warden_policy::AttrValue;

/// Tokens from `POST /v1/auth/token`.
#[derive(Clone, Deserialize)]
pub struct TokenSet {
    /// The access token (a JWT) to send as `Authorization: Bearer`.
    pub access_token: String,
    /// Seconds it is valid for.
    pub expires_in: i64,
    /// The refresh token (rotated on every use); absent for `client_credentials`.
    pub refresh_token: Option<String>,
    /// Granted scopes, space-separated.
    pub scope: String,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Tokens are secrets: never printed.
        f.debug_struct("TokenSet")
            .field("expires_in", &self.expires_in)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// One question for `/v1/check`: may the subject do `action` on `object`?
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Check {
    /// Who; `None` = the caller (the token's user).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<CheckSubject>,
    /// What.
    pub object: CheckObject,
    /// The action (`read`, `GET`, ...).
    pub action: String,
}

impl Check {
    /// The caller, on a resource type with attributes (an object-level check).
    pub fn object(kind: &str, attributes: BTreeMap<String, AttrValue>, action: &str) -> Self {
        Self {
            subject: None,
            object: CheckObject {
                kind: Some(kind.to_owned()),
                path: None,
                attributes,
            },
            action: action.to_owned(),
        }
    }

    /// The caller, on a request path with an HTTP method (a route-level check).
    pub fn route(path: &str, method: &str) -> Self {
        Self {
            subject: None,
            object: CheckObject {
                kind: None,
                path: Some(path.to_owned()),
                attributes: BTreeMap::new(),
            },
            action: method.to_owned(),
        }
    }

    /// The same question about another user (needs `any` on `check`).
    pub fn as_user(mut self, name: &str) -> Self {
        self.subject = Some(CheckSubject {
            name: name.to_owned(),
            scopes: None,
        });
        self
    }
}

/// A named subject of a [`Check`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CheckSubject {
    /// Username.
    pub name: String,
    /// Token scopes to assume; `None` = every scope the user may request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// The object of a [`Check`]: a resource type or a path, plus attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CheckObject {
    /// Resource type (`document`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Request path (`/api/documents/5`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Attributes (department, owner, classification, ...).
    pub attributes: BTreeMap<String, AttrValue>,
}

/// The answer to one [`Check`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckResult {
    /// Allowed?
    pub allowed: bool,
    /// Why a deny is one that no deny rule made (unknown subject, unevaluable rules).
    #[serde(default)]
    pub error: Option<String>,
}

/// A decided answer with the version it was decided under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The answer.
    pub result: CheckResult,
    /// The policy version.
    pub policy_version: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct CheckResponse {
    pub policy_version: i64,
    pub results: Vec<CheckResult>,
}

/// `GET /v1/me`: who the token names, and the subject the policy decides them as.
#[derive(Debug, Clone, Deserialize)]
pub struct Me {
    /// Id.
    pub id: i64,
    /// Name as registered.
    pub username: String,
    /// Roles, direct and inherited.
    pub roles: Vec<String>,
    /// Attributes.
    pub attributes: BTreeMap<String, AttrValue>,
    /// The token's scopes.
    pub token_scopes: Vec<String>,
    /// What the policy decides this caller as (a replica decides with it).
    pub policy_subject: PolicySubject,
}

/// The policy's view of a caller, as `/v1/me` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PolicySubject {
    /// `user:<name>`.
    pub principal: String,
    /// The lower-cased username.
    pub name: String,
    /// The token's effective scopes.
    pub scopes: Vec<String>,
    /// Attributes, `kind` included.
    pub attributes: BTreeMap<String, AttrValue>,
    /// The tenant the token decides in (`default` from a server without tenants).
    #[serde(default = "default_tenant")]
    pub tenant: String,
    /// Roles the credential itself carries (a federated token's).
    #[serde(default)]
    pub roles: Vec<String>,
}

fn default_tenant() -> String {
    warden_policy::rule::DEFAULT_TENANT.to_owned()
}

impl From<PolicySubject> for warden_policy::Subject {
    fn from(s: PolicySubject) -> Self {
        Self {
            principal: s.principal,
            name: s.name,
            scopes: s.scopes,
            attributes: s.attributes,
            tenant: s.tenant,
            roles: s.roles,
        }
    }
}

/// A rule as the admin API takes it (`POST /v1/admin/rules`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewRule {
    /// `role:<name>`, `user:<name>` or `*`.
    pub subject: String,
    /// Route pattern, resource type or `*`.
    pub object: String,
    /// Action or `*`.
    pub action: String,
    /// Required scope or `*`.
    pub scope: String,
    /// Condition ("" = always).
    pub condition: String,
    /// `allow` or `deny`.
    pub effect: String,
}

/// What an admin write answered: the version it created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The policy version the write created (send it as `Warden-Min-Version` to read it back
    /// from any instance).
    pub policy_version: i64,
}
