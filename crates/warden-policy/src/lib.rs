//! The pure policy core: rules, conditions, the compiled model, the rule index and the
//! decision function. Nothing here knows HTTP, SQL or an async runtime; the engine
//! (`engine`) loads rows from the store, builds a [`decide::Policy`] and swaps it in.

pub mod analysis;
pub mod change;
pub mod condition;
pub mod decide;
pub mod error;
pub mod index;
pub mod model;
pub mod replica;
pub mod rule;
pub mod scope;
pub mod seed;
pub mod stored_matrix;
pub mod username;

use std::collections::BTreeMap;

use serde::Serialize;

pub use condition::AttrValue;
pub use error::{ChangeError, Conflict, Flip};

/// The subject attribute Warden sets on every subject to say what it is: `user` or
/// `service` (`r.sub.kind`). No stored attribute may use the name.
pub const KIND_ATTRIBUTE: &str = "kind";

/// The subject attribute that carries the request's tenant (`r.sub.tenant`, see
/// [`Subject::tenant`]). No stored attribute may use the name.
pub const TENANT_ATTRIBUTE: &str = "tenant";

/// Who is asking. Serialised into the casbin request as `r.sub` (the oracle).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Subject {
    /// `user:<name>`: what role assignments and user rules refer to.
    pub principal: String,
    /// The plain user name (compared with `r.obj.owner`).
    pub name: String,
    /// Scopes of the presented token.
    pub scopes: Vec<String>,
    /// The tenant the request is decided in (`r.sub.tenant`, the Casbin domain): the token's
    /// `tid`, [`rule::DEFAULT_TENANT`] when it has none. Only rules of this tenant or global
    /// ones apply, and the principal holds its roles in this tenant or globally.
    pub tenant: String,
    /// Attributes (department, clearance, ...), flattened into `r.sub.*`.
    #[serde(flatten)]
    pub attributes: BTreeMap<String, AttrValue>,
    /// Roles the caller's credential carries (`role:<name>`: a federated token's mapped
    /// roles), held on top of those the policy assigns to `principal`, with everything they
    /// inherit. A role the policy does not know grants nothing. Empty for local callers.
    #[serde(skip)]
    pub roles: Vec<String>,
}

/// What is being accessed. Serialised as `r.obj`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Object {
    /// Request path (`/api/documents/5`) or resource type (`document`).
    pub resource: String,
    /// Attributes (department, owner, classification, ...), flattened into `r.obj.*`.
    #[serde(flatten)]
    pub attributes: BTreeMap<String, AttrValue>,
}

impl Object {
    /// An object with no attributes (route-level checks).
    pub fn route(path: &str) -> Self {
        Self {
            resource: path.to_owned(),
            attributes: BTreeMap::new(),
        }
    }
}
