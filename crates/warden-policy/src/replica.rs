//! The policy as a replica receives it: everything needed to compile a [`Policy`] that
//! decides exactly like the server's (the model text, the rules and the role assignments of
//! one version). `GET /v1/policy/stream` sends one per version; `warden-client`'s replica
//! compiles it with [`PolicyDocument::compile`].

use serde::{Deserialize, Serialize};

use crate::decide::Policy;
use crate::model::ModelError;
use crate::rule::{Assignment, Rule, RuleError, RuleText};

/// One policy version, as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PolicyDocument {
    /// The policy version.
    pub version: i64,
    /// The Casbin model text (`model.conf`) the rules are compiled under.
    pub model: String,
    /// Every rule, in load (id) order.
    pub rules: Vec<RuleText>,
    /// Every role assignment (`g` row): users to roles and role inheritance.
    pub assignments: Vec<AssignmentText>,
}

/// A `g` row as text: `member` inherits `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AssignmentText {
    /// Stable id.
    pub id: i64,
    /// `user:<name>` or `role:<name>`.
    pub member: String,
    /// `role:<name>`.
    pub role: String,
    /// The tenant it holds in, or `*` (every tenant; left out of the JSON when global).
    #[serde(
        default = "crate::rule::global",
        skip_serializing_if = "crate::rule::is_global"
    )]
    pub domain: String,
}

/// Why a document does not compile (it was not written by a Warden of this model, or was
/// altered): a replica keeps its previous policy, or decides nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicaError {
    /// A rule or assignment is invalid.
    #[error("rule or assignment {id}: {err}")]
    Row {
        /// The row's id.
        id: i64,
        /// What is wrong with it.
        err: RuleError,
    },
    /// The model is refused.
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl PolicyDocument {
    /// The document of a compiled policy at `version` under `model`.
    pub fn of(version: i64, model: &str, policy: &Policy) -> Self {
        Self {
            version,
            model: model.to_owned(),
            rules: policy.rules().iter().map(Rule::text).collect(),
            assignments: policy
                .assignments()
                .iter()
                .map(|a| AssignmentText {
                    id: a.id,
                    member: a.member.clone(),
                    role: a.role.clone(),
                    domain: a.domain.clone(),
                })
                .collect(),
        }
    }

    /// Validates every row and compiles the policy, as the server does on load.
    ///
    /// # Errors
    /// The first invalid row, or the model compiler's refusal.
    pub fn compile(&self) -> Result<Policy, ReplicaError> {
        let rules = self
            .rules
            .iter()
            .map(|t| Rule::from_text(t).map_err(|err| ReplicaError::Row { id: t.id, err }))
            .collect::<Result<Vec<_>, _>>()?;
        let assignments = self
            .assignments
            .iter()
            .map(|a| {
                Assignment::parse(a.id, &a.member, &a.role)
                    .and_then(|g| g.in_domain(&a.domain))
                    .map_err(|err| ReplicaError::Row { id: a.id, err })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Policy::from_rows(&self.model, rules, &assignments)?)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::MODEL;
    use crate::{AttrValue, Object, Subject};

    fn seed() -> Policy {
        let rules = vec![
            Rule::parse(1, "role:user", "/v1/me", "GET", "*", "", "allow").expect("rule"),
            Rule::parse(
                2,
                "role:viewer",
                "document",
                "read",
                "*",
                "r.sub.department == r.obj.department",
                "allow",
            )
            .expect("rule"),
            Rule::parse(3, "user:bob", "document", "read", "*", "", "deny").expect("rule"),
        ];
        let assignments = vec![
            Assignment::parse(1, "role:viewer", "role:user").expect("g"),
            Assignment::parse(2, "user:alice", "role:viewer").expect("g"),
            Assignment::parse(3, "user:bob", "role:viewer").expect("g"),
            // carol is a viewer in acme only: the document carries the domain.
            Assignment::parse(4, "user:carol", "role:viewer")
                .and_then(|g| g.in_domain("acme"))
                .expect("g"),
        ];
        Policy::from_rows(MODEL, rules, &assignments).expect("policy")
    }

    fn subject(name: &str, department: &str) -> Subject {
        in_tenant(name, department, crate::rule::DEFAULT_TENANT)
    }

    fn in_tenant(name: &str, department: &str, tenant: &str) -> Subject {
        Subject {
            principal: format!("user:{name}"),
            name: name.to_owned(),
            scopes: vec![],
            attributes: BTreeMap::from([(
                "department".to_owned(),
                AttrValue::Str(department.to_owned()),
            )]),
            tenant: tenant.to_owned(),
            roles: vec![],
        }
    }

    #[test]
    fn a_document_round_trips_through_json_and_decides_like_the_policy_it_came_from() {
        let policy = seed();
        let doc = PolicyDocument::of(7, MODEL, &policy);
        let json = serde_json::to_string(&doc).expect("json");
        let back: PolicyDocument = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, doc);
        let replica = back.compile().expect("compiles");
        let doc_in = |d: &str| Object {
            resource: "document".into(),
            attributes: BTreeMap::from([("department".to_owned(), AttrValue::Str(d.into()))]),
        };
        for tenant in [crate::rule::DEFAULT_TENANT, "acme"] {
            for (who, dept, obj, act) in [
                ("alice", "eng", doc_in("eng"), "read"),
                ("alice", "eng", doc_in("ops"), "read"),
                ("bob", "eng", doc_in("eng"), "read"),
                ("carol", "eng", doc_in("eng"), "read"),
                ("alice", "eng", Object::route("/v1/me"), "GET"),
                ("carol", "eng", Object::route("/v1/me"), "GET"),
            ] {
                let sub = in_tenant(who, dept, tenant);
                assert_eq!(
                    replica.decide(&sub, &obj, act),
                    policy.decide(&sub, &obj, act),
                    "{who} in {tenant} {obj:?} {act}"
                );
            }
        }
        // The domain survived the trip: carol reads in acme, not in default.
        assert!(
            replica
                .decide(&in_tenant("carol", "eng", "acme"), &doc_in("eng"), "read")
                .allowed
        );
        assert!(
            !replica
                .decide(&subject("carol", "eng"), &doc_in("eng"), "read")
                .allowed
        );
        assert!(
            replica
                .decide(&subject("alice", "eng"), &doc_in("eng"), "read")
                .allowed
        );
        assert!(
            !replica
                .decide(&subject("bob", "eng"), &doc_in("eng"), "read")
                .allowed
        );
    }

    #[test]
    fn a_document_with_an_invalid_row_does_not_compile() {
        let mut doc = PolicyDocument::of(1, MODEL, &seed());
        doc.rules[1].effect = "maybe".into();
        assert!(matches!(
            doc.compile(),
            Err(ReplicaError::Row { id: 2, .. })
        ));
        let mut doc = PolicyDocument::of(1, MODEL, &seed());
        doc.assignments[0].role = "viewer".into();
        assert!(matches!(
            doc.compile(),
            Err(ReplicaError::Row { id: 1, .. })
        ));
        let mut doc = PolicyDocument::of(1, MODEL, &seed());
        doc.model = "[request_definition]\nr = sub\n".into();
        assert!(matches!(doc.compile(), Err(ReplicaError::Model(_))));
    }
}
