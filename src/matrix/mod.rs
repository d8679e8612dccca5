//! Allow/deny matrices: the expected answer of every (subject, object, action) cell, in a
//! YAML file, checked against a policy.
//!
//! Format (see `policies/matrices/seed.yaml`):
//! ```yaml
//! name: seed
//! subjects:                      # who asks: roles, attributes and token scopes
//!   alice: {roles: [viewer], attributes: {department: eng, clearance: 2}, scopes: [documents:read]}
//! objects:                       # what: a resource type or path, plus attributes
//!   eng-1: {type: document, attributes: {department: eng, owner: bob, classification: 1}}
//! actions: [read, update]
//! routes:                        # optional: the HTTP route an action also goes through
//!   read: GET /api/documents/:id
//! expect:                        # per subject: exactly these actions are allowed per object
//!   alice: {eng-1: [read]}
//! ```
//! Every subject must appear under `expect`; an object left out of a subject's grid means
//! "nothing allowed". For the `create` action the object's `owner` is the subject itself,
//! as in the documents API.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Deserialize;

use crate::authz::adapter::Loaded;
use crate::authz::rule::Assignment;
use crate::authz::seed::PolicyFile;
use crate::authz::{AttrValue, Object, Snapshot, Subject};

/// A matrix file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    /// Name.
    pub name: String,
    /// What it shows.
    #[serde(default)]
    pub description: String,
    /// Invariant matrices guard every policy edit (used by the admin API later).
    #[serde(default)]
    pub invariant: bool,
    /// Subjects by name.
    pub subjects: BTreeMap<String, MatrixSubject>,
    /// Objects by name.
    pub objects: BTreeMap<String, MatrixObject>,
    /// Actions to check on every object.
    pub actions: Vec<String>,
    /// Optional HTTP route per action: `"METHOD /path/:id"`.
    #[serde(default)]
    pub routes: BTreeMap<String, String>,
    /// Grid form: exactly these actions are allowed per subject per object (the rest denied).
    #[serde(default)]
    pub expect: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// List form: `[subject, object, action]` cells that must be allowed (`*` = any).
    #[serde(default)]
    pub allow: Vec<[String; 3]>,
    /// List form: `[subject, object, action]` cells that must be denied (`*` = any).
    #[serde(default)]
    pub deny: Vec<[String; 3]>,
}

/// A subject of a matrix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixSubject {
    /// Role names (without `role:`).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttrValue>,
    /// Token scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
}

/// An object of a matrix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixObject {
    /// Resource type or path.
    #[serde(rename = "type")]
    pub kind: String,
    /// Attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, AttrValue>,
}

/// A matrix file is inconsistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatrixError(pub String);

/// One evaluated cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    /// Subject name.
    pub subject: String,
    /// Object name.
    pub object: String,
    /// Action.
    pub action: String,
    /// Expected (None = not checked).
    pub expected: Option<bool>,
    /// Actual.
    pub actual: bool,
    /// What decided it (matched rule ids, or the route check that denied).
    pub reason: String,
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = |b: bool| if b { "allow" } else { "deny" };
        write!(
            f,
            "subject={} object={} action={} expected={} actual={} decided_by={}",
            self.subject,
            self.object,
            self.action,
            self.expected.map_or("-", word),
            word(self.actual),
            self.reason
        )
    }
}

impl Matrix {
    /// Parses YAML; errors carry line and column.
    pub fn from_yaml(text: &str) -> Result<Self, MatrixError> {
        let m: Matrix = serde_yaml_ng::from_str(text).map_err(|e| {
            let at = e
                .location()
                .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
                .unwrap_or_default();
            MatrixError(format!("{at}{e}"))
        })?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), MatrixError> {
        for (subject, grid) in &self.expect {
            if !self.subjects.contains_key(subject) {
                return Err(MatrixError(format!("expect: unknown subject `{subject}`")));
            }
            for (object, actions) in grid {
                if !self.objects.contains_key(object) {
                    return Err(MatrixError(format!(
                        "expect.{subject}: unknown object `{object}`"
                    )));
                }
                if let Some(a) = actions.iter().find(|a| !self.actions.contains(a)) {
                    return Err(MatrixError(format!(
                        "expect.{subject}.{object}: unknown action `{a}`"
                    )));
                }
            }
        }
        if !self.expect.is_empty()
            && let Some(s) = self.subjects.keys().find(|s| !self.expect.contains_key(*s))
        {
            return Err(MatrixError(format!("expect: subject `{s}` has no row")));
        }
        for (list, cells) in [("allow", &self.allow), ("deny", &self.deny)] {
            for [s, o, a] in cells {
                let known = (s == "*" || self.subjects.contains_key(s))
                    && (o == "*" || self.objects.contains_key(o))
                    && (a == "*" || self.actions.contains(a));
                if !known {
                    return Err(MatrixError(format!(
                        "{list}: [{s}, {o}, {a}] names an unknown subject, object or action"
                    )));
                }
            }
        }
        if self.expect.is_empty() && self.allow.is_empty() && self.deny.is_empty() {
            return Err(MatrixError(
                "a matrix needs `expect`, `allow` or `deny`".into(),
            ));
        }
        for (action, route) in &self.routes {
            if !self.actions.contains(action) {
                return Err(MatrixError(format!("routes: unknown action `{action}`")));
            }
            parse_route(route)?;
        }
        Ok(())
    }

    /// Expected answer of a cell; None when the matrix says nothing about it. A `deny`
    /// entry wins over an `allow` entry, and both over the grid.
    pub fn expected(&self, subject: &str, object: &str, action: &str) -> Option<bool> {
        let hit = |cells: &[[String; 3]]| {
            cells.iter().any(|[s, o, a]| {
                (s == "*" || s == subject) && (o == "*" || o == object) && (a == "*" || a == action)
            })
        };
        if hit(&self.deny) {
            return Some(false);
        }
        if hit(&self.allow) {
            return Some(true);
        }
        self.expect
            .get(subject)
            .map(|g| g.get(object).is_some_and(|a| a.contains(action)))
    }

    /// Number of cells.
    pub fn cell_count(&self) -> usize {
        self.subjects.len() * self.objects.len() * self.actions.len()
    }

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

    /// The casbin object of a matrix object for an action (for `create`, owned by `subject`).
    pub fn object(&self, name: &str, action: &str, subject: &str) -> Option<Object> {
        let o = self.objects.get(name)?;
        let mut attributes = o.attributes.clone();
        if action == "create" {
            attributes.insert("owner".into(), AttrValue::Str(subject.to_owned()));
        }
        Some(Object {
            resource: o.kind.clone(),
            attributes,
        })
    }

    /// The policy under test: `policy` plus one `user:<s> -> role:<r>` row per subject role.
    pub fn policy_with_subjects(&self, policy: &PolicyFile, version: i64) -> Loaded {
        // A live user who shares a subject's name must not lend it their roles.
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
        let mut cells = Vec::with_capacity(self.cell_count());
        for subject_name in self.subjects.keys() {
            let subject = self
                .subject(subject_name)
                .ok_or_else(|| MatrixError("subject".into()))?;
            for object_name in self.objects.keys() {
                for action in &self.actions {
                    let object = self
                        .object(object_name, action, subject_name)
                        .ok_or_else(|| MatrixError("object".into()))?;
                    let (actual, reason) = self.decide(snap, &subject, &object, action)?;
                    cells.push(Cell {
                        subject: subject_name.clone(),
                        object: object_name.clone(),
                        action: action.clone(),
                        expected: self.expected(subject_name, object_name, action),
                        actual,
                        reason,
                    });
                }
            }
        }
        Ok(cells)
    }

    fn decide(
        &self,
        snap: &Snapshot,
        subject: &Subject,
        object: &Object,
        action: &str,
    ) -> Result<(bool, String), MatrixError> {
        if let Some(route) = self.routes.get(action) {
            let (method, path) = parse_route(route)?;
            let d = snap.decide(subject, &Object::route(&route_path(path)), method);
            if !d.allowed {
                return Ok((false, format!("route {method} {path} denied")));
            }
        }
        let d = snap.decide(subject, object, action);
        let reason = match (&d.error, d.matched_rules.is_empty()) {
            (Some(e), _) => format!("evaluation error: {e}"),
            (None, true) => "no rule matched".to_owned(),
            (None, false) => format!("rules {:?}", d.matched_rules),
        };
        Ok((d.allowed, reason))
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

/// Cells whose expectation is not met.
pub fn failures(cells: &[Cell]) -> impl Iterator<Item = &Cell> {
    cells
        .iter()
        .filter(|c| c.expected.is_some_and(|e| e != c.actual))
}

/// Formats the failing cells as a readable table, or None when all pass.
pub fn report_failures(matrix: &Matrix, cells: &[Cell]) -> Option<String> {
    let failed: Vec<&Cell> = failures(cells).collect();
    if failed.is_empty() {
        return None;
    }
    let mut out = format!(
        "matrix `{}`: {} of {} cells failed\n",
        matrix.name,
        failed.len(),
        cells.len()
    );
    for c in failed {
        out.push_str(&format!("  {c}\n"));
    }
    Some(out)
}
