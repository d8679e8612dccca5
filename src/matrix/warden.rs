//! Running a matrix against Warden's own model (a [`Snapshot`]).

use super::{Cell, Matrix, MatrixError};
use crate::authz::adapter::Loaded;
use crate::authz::rule::Assignment;
use crate::authz::seed::PolicyFile;
use crate::authz::{AttrValue, Object, Snapshot, Subject};

impl Matrix {
    /// The casbin subject of a matrix subject.
    pub fn subject(&self, name: &str) -> Option<Subject> {
        let s = self.subjects.get(name)?;
        Some(Subject {
            principal: format!("user:{name}"),
            name: name.to_owned(),
            scopes: s.scopes.clone(),
            attributes: s.attributes.clone(),
        })
    }

    /// The casbin object of a matrix object for an action (for `create`, owned by `subject`,
    /// as in the documents API).
    pub fn object(&self, name: &str, action: &str, subject: &str) -> Option<Object> {
        let o = self.objects.get(name)?;
        let mut attributes = o.attributes.clone();
        if action == "create" && attributes.contains_key("owner") {
            attributes.insert("owner".into(), AttrValue::Str(subject.to_owned()));
        }
        Some(Object {
            resource: o.kind.clone().unwrap_or_else(|| name.to_owned()),
            attributes,
        })
    }

    /// The policy under test: `policy` plus one `user:<s> -> role:<r>` row per subject role.
    /// A live user who shares a subject's name does not lend it their roles.
    pub fn policy_with_subjects(&self, policy: &PolicyFile, version: i64) -> Loaded {
        let mut assignments: Vec<Assignment> = policy
            .assignments
            .iter()
            .filter(|a| {
                !a.member
                    .strip_prefix("user:")
                    .is_some_and(|n| self.subjects.contains_key(n))
            })
            .cloned()
            .collect();
        for (name, s) in &self.subjects {
            for role in &s.roles {
                assignments.push(Assignment {
                    id: 0,
                    member: format!("user:{name}"),
                    role: format!("role:{role}"),
                });
            }
        }
        Loaded {
            version,
            rules: policy.rules.clone(),
            assignments,
        }
    }

    /// Evaluates every cell against a snapshot (route check first when the action has one).
    pub fn run(&self, snap: &Snapshot) -> Result<Vec<Cell>, MatrixError> {
        if !self.domains.is_empty() {
            return Err(MatrixError(
                "Warden's model has no domains; give `model` and `policy` for a domain model"
                    .into(),
            ));
        }
        let mut cells = Vec::with_capacity(self.cell_count());
        let mut subject_cache: Option<(&str, Subject)> = None;
        for (s, _, o, a) in self.coordinates() {
            if subject_cache.as_ref().is_none_or(|(name, _)| *name != s) {
                subject_cache = self.subject(s).map(|sub| (s, sub));
            }
            let subject = &subject_cache
                .as_ref()
                .ok_or_else(|| MatrixError("subject".into()))?
                .1;
            let object = self
                .object(o, a, s)
                .ok_or_else(|| MatrixError("object".into()))?;
            let (actual, reason, matched) = self.decide(snap, subject, &object, a)?;
            cells.push(Cell {
                subject: s.to_owned(),
                domain: None,
                object: o.to_owned(),
                action: a.to_owned(),
                expected: self.expected(s, None, o, a),
                actual,
                reason,
                matched,
            });
        }
        Ok(cells)
    }

    fn decide(
        &self,
        snap: &Snapshot,
        subject: &Subject,
        object: &Object,
        action: &str,
    ) -> Result<(bool, String, Vec<String>), MatrixError> {
        if let Some(route) = self.routes.get(action) {
            let (method, path) = parse_route(route)?;
            let d = snap.decide(subject, &Object::route(&route_path(path)), method);
            if !d.allowed {
                return Ok((
                    false,
                    format!("route {method} {path} denied"),
                    d.matched_rules.iter().map(i64::to_string).collect(),
                ));
            }
        }
        let d = snap.decide(subject, object, action);
        let matched: Vec<String> = d.matched_rules.iter().map(i64::to_string).collect();
        let reason = match (&d.error, matched.is_empty()) {
            (Some(e), _) => format!("evaluation error: {e}"),
            (None, true) => "no rule matched".to_owned(),
            (None, false) => format!("rules {}", matched.join(",")),
        };
        Ok((d.allowed, reason, matched))
    }
}

/// Splits `"METHOD /path"`.
pub fn parse_route(route: &str) -> Result<(&str, &str), MatrixError> {
    route
        .split_once(' ')
        .filter(|(m, p)| !m.is_empty() && p.starts_with('/'))
        .ok_or_else(|| MatrixError(format!("route `{route}` must look like `GET /path/:id`")))
}

/// A concrete path for a route pattern (`:param` segments become `1`).
pub fn route_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|s| if s.starts_with(':') { "1" } else { s })
        .collect::<Vec<_>>()
        .join("/")
}
