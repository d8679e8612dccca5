//! Allow/deny matrices: the expected answer of every (subject, [domain,] object, action) cell,
//! in a YAML file, checked against a policy — Warden's own, or any Casbin model + policy.
//!
//! The format is documented in `policies/matrices/README.md`. In short:
//! ```yaml
//! name: seed
//! model: model.conf          # optional: any casbin model (relative to this file)
//! policy: policy.csv         # optional: its policy; without both, Warden's model and rules
//! invariant: false           # true: guards every admin edit
//! subjects:                  # roles, attributes and token scopes
//!   alice: {roles: [viewer], attributes: {department: eng, clearance: 2}, scopes: [documents:read]}
//! domains: [tenant1]         # only for models whose request has `dom`
//! objects:                   # a resource type or path (default: the key), plus attributes
//!   eng-1: {type: document, attributes: {department: eng, owner: bob, classification: 1}}
//! actions: [read, update]
//! routes: {read: GET /api/documents/:id}   # Warden only: the HTTP route an action also passes
//! expect: {alice: {eng-1: [read]}}         # grid: exactly these allowed, the rest denied
//! allow: [[alice, "*", read]]              # list form, `*` wildcards; deny wins over allow
//! deny: [[alice, eng-1, update]]
//! ```

pub mod explain;
pub mod generic;
pub mod limits;
pub mod report;
pub mod run;
pub mod seed;
pub mod warden;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::policy::AttrValue;

/// A matrix file. Serialises to the same format (what `GET /v1/admin/matrices/{name}`
/// shows as JSON).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    /// Name.
    pub name: String,
    /// What it shows.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Invariant matrices guard every policy edit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub invariant: bool,
    /// Casbin model under test (relative to the file); default Warden's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Casbin policy under test (relative to the file); default Warden's rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Subjects by name.
    pub subjects: BTreeMap<String, MatrixSubject>,
    /// Domains (tenants), for models whose request has a `dom` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    /// Objects by name.
    pub objects: BTreeMap<String, MatrixObject>,
    /// Actions to check on every object.
    pub actions: Vec<String>,
    /// Optional HTTP route per action: `"METHOD /path/:id"` (Warden's model only).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, String>,
    /// Grid form: exactly these actions are allowed per subject per object (the rest denied).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expect: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// List form: cells that must be allowed: `[subject, object, action]`, or
    /// `[subject, domain, object, action]` with domains; `*` = any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<Vec<String>>,
    /// List form: cells that must be denied (wins over `allow`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<Vec<String>>,
    /// Properties proved for every request, not only the listed cells (Warden's model only;
    /// an invariant matrix's properties guard every admin edit: 409 `property_violated`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub properties: Vec<crate::policy::analysis::Property>,
    /// Where the file was read from (for resolving `model`/`policy`).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

impl Matrix {
    /// Properties are proved over Warden's model: named, with objects and actions, and a
    /// premise that parses.
    fn validate_properties(&self) -> Result<(), MatrixError> {
        if !self.properties.is_empty() && self.model.is_some() {
            return Err(MatrixError::Invalid(
                "`properties` are proved over Warden's model: drop `model` and `policy`".into(),
            ));
        }
        let mut names = BTreeSet::new();
        for p in &self.properties {
            let problem = if p.name.is_empty() || !names.insert(p.name.as_str()) {
                Some("a property needs a name of its own".to_owned())
            } else if p.objects.is_empty() || p.actions.is_empty() {
                Some("list at least one object and one action".to_owned())
            } else if let Some(r) = p.with_roles.iter().find(|r| {
                let name = |x: &str| x.strip_prefix("role:").unwrap_or(x).to_owned();
                p.without_roles.iter().any(|w| name(w) == name(r))
            }) {
                // It would cover nobody, and so hold whatever the policy says.
                Some(format!("`{r}` is in both with_roles and without_roles"))
            } else {
                p.when.as_deref().and_then(|w| {
                    crate::policy::condition::Condition::parse(w)
                        .err()
                        .map(|e| format!("`when`: {e}"))
                })
            };
            if let Some(problem) = problem {
                return Err(MatrixError::Invalid(format!(
                    "properties.{}: {problem}",
                    p.name
                )));
            }
        }
        Ok(())
    }
}

/// A subject of a matrix.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixSubject {
    /// Role names (Warden: without `role:`; other models: added as `g, subject, role`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Attributes. For other models, a subject with attributes is passed as a map of them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, AttrValue>,
    /// Token scopes (Warden only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// The tenant the subject asks in and holds its roles in (Warden only): a cell reads
    /// (tenant, subject, object, action). Absent: `default`, with roles held globally (what a
    /// matrix meant before tenants).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

/// An object of a matrix.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MatrixObject {
    /// Resource type or path; default: the object's key.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Attributes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, AttrValue>,
}

/// Why a matrix could not be run (exit code 2 in the CLI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatrixError {
    /// The matrix or its policy is invalid: the text says where (file, field, line).
    #[error("{0}")]
    Invalid(String),
    /// A file or the database it names could not be read.
    #[error("{0}")]
    Unreadable(String),
    /// The run was stopped: it ran out of time.
    #[error("the matrix run was stopped: it ran out of time")]
    Stopped,
    /// A worker thread panicked (a bug).
    #[error("a matrix worker panicked")]
    WorkerPanicked,
    /// The request named a cell, subject or object the matrix does not have.
    #[error("the matrix has no such {0}")]
    Missing(&'static str),
}

impl MatrixError {
    /// The same error, said of `place` (a file name): the kind is kept.
    pub fn at(self, place: &str) -> Self {
        match self {
            MatrixError::Invalid(m) => MatrixError::Invalid(format!("{place}: {m}")),
            MatrixError::Unreadable(m) => MatrixError::Unreadable(format!("{place}: {m}")),
            other => other,
        }
    }
}

/// One evaluated cell.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cell {
    /// Subject name.
    pub subject: String,
    /// Domain, for domain models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Object name.
    pub object: String,
    /// Action.
    pub action: String,
    /// Expected (None = not checked).
    pub expected: Option<bool>,
    /// Actual.
    pub actual: bool,
    /// What decided it (matched rules, the route check, or an evaluation error).
    pub reason: String,
    /// Rules that matched (ids for Warden, policy lines otherwise), for coverage.
    #[serde(skip)]
    pub matched: Vec<String>,
}

impl Cell {
    /// Did the cell meet its expectation (unchecked cells pass)?
    pub fn passed(&self) -> bool {
        self.expected.is_none_or(|e| e == self.actual)
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = |b: bool| if b { "allow" } else { "deny" };
        write!(f, "subject={}", self.subject)?;
        if let Some(d) = &self.domain {
            write!(f, " domain={d}")?;
        }
        write!(
            f,
            " object={} action={} expected={} actual={} decided_by={}",
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
            MatrixError::Invalid(format!("{at}{e}"))
        })?;
        m.validate()?;
        Ok(m)
    }

    /// Reads and parses a file; errors name the file.
    pub fn from_file(path: &Path) -> Result<Self, MatrixError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| MatrixError::Unreadable(format!("{}: {e}", path.display())))?;
        let mut m = Self::from_yaml(&text)
            .map_err(|e| MatrixError::Invalid(format!("{}: {e}", path.display())))?;
        m.source = Some(path.to_path_buf());
        Ok(m)
    }

    /// Resolves `model`/`policy` relative to the file.
    pub fn policy_files(&self) -> Option<(PathBuf, PathBuf)> {
        let base = self
            .source
            .as_ref()
            .and_then(|p| p.parent())
            .unwrap_or(Path::new("."));
        Some((
            base.join(self.model.as_ref()?),
            base.join(self.policy.as_ref()?),
        ))
    }

    fn width(&self) -> usize {
        if self.domains.is_empty() { 3 } else { 4 }
    }

    fn validate(&self) -> Result<(), MatrixError> {
        if self.model.is_some() != self.policy.is_some() {
            return Err(MatrixError::Invalid(
                "give both `model` and `policy`, or neither".into(),
            ));
        }
        self.validate_properties()?;
        for (subject, grid) in &self.expect {
            if !self.subjects.contains_key(subject) {
                return Err(MatrixError::Invalid(format!(
                    "expect: unknown subject `{subject}`"
                )));
            }
            for (object, actions) in grid {
                if !self.objects.contains_key(object) {
                    return Err(MatrixError::Invalid(format!(
                        "expect.{subject}: unknown object `{object}`"
                    )));
                }
                if let Some(a) = actions.iter().find(|a| !self.actions.contains(a)) {
                    return Err(MatrixError::Invalid(format!(
                        "expect.{subject}.{object}: unknown action `{a}`"
                    )));
                }
            }
        }
        if !self.expect.is_empty()
            && let Some(s) = self.subjects.keys().find(|s| !self.expect.contains_key(*s))
        {
            return Err(MatrixError::Invalid(format!(
                "expect: subject `{s}` has no row"
            )));
        }
        for (list, cells) in [("allow", &self.allow), ("deny", &self.deny)] {
            for cell in cells {
                if cell.len() != self.width() {
                    return Err(MatrixError::Invalid(format!(
                        "{list}: {cell:?} needs {} entries",
                        self.width()
                    )));
                }
                let (s, o, a) = (&cell[0], &cell[cell.len() - 2], &cell[cell.len() - 1]);
                let d_ok = self.width() == 3 || cell[1] == "*" || self.domains.contains(&cell[1]);
                let known = (s == "*" || self.subjects.contains_key(s))
                    && d_ok
                    && (o == "*" || self.objects.contains_key(o))
                    && (a == "*" || self.actions.contains(a));
                if !known {
                    return Err(MatrixError::Invalid(format!(
                        "{list}: {cell:?} names an unknown subject, domain, object or action"
                    )));
                }
            }
        }
        if self.expect.is_empty() && self.allow.is_empty() && self.deny.is_empty() {
            return Err(MatrixError::Invalid(
                "a matrix needs `expect`, `allow` or `deny`".into(),
            ));
        }
        // An empty dimension means an empty grid: the matrix would check no cell and pass
        // with nothing tested. (With every dimension non-empty, each `expect` row and each
        // `allow`/`deny` entry, whose names were checked above, covers at least one cell.)
        for (dimension, empty) in [
            ("subjects", self.subjects.is_empty()),
            ("objects", self.objects.is_empty()),
            ("actions", self.actions.is_empty()),
        ] {
            if empty {
                return Err(MatrixError::Invalid(format!(
                    "this matrix checks no cell: `{dimension}` is empty, so it would pass \
                     with nothing tested"
                )));
            }
        }
        for (action, route) in &self.routes {
            if !self.actions.contains(action) {
                return Err(MatrixError::Invalid(format!(
                    "routes: unknown action `{action}`"
                )));
            }
            warden::parse_route(route)?;
        }
        Ok(())
    }

    /// Expected answer of a cell; None when the matrix says nothing about it.
    pub fn expected(
        &self,
        subject: &str,
        domain: Option<&str>,
        object: &str,
        action: &str,
    ) -> Option<bool> {
        let want: Vec<&str> = match domain {
            Some(d) => vec![subject, d, object, action],
            None => vec![subject, object, action],
        };
        let hit = |cells: &[Vec<String>]| {
            cells.iter().any(|c| {
                c.len() == want.len() && c.iter().zip(&want).all(|(c, w)| c == "*" || c == w)
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

    /// Every (subject, domain, object, action) of the matrix, in a stable order.
    pub fn coordinates(&self) -> Vec<(&str, Option<&str>, &str, &str)> {
        let domains: Vec<Option<&str>> = if self.domains.is_empty() {
            vec![None]
        } else {
            self.domains.iter().map(|d| Some(d.as_str())).collect()
        };
        // No `with_capacity`: the size comes from the file. Callers bound it first
        // (`checked_cell_count`); this grows only as far as the cells really go.
        let mut out = Vec::new();
        for s in self.subjects.keys() {
            for d in &domains {
                for o in self.objects.keys() {
                    for a in &self.actions {
                        out.push((s.as_str(), *d, o.as_str(), a.as_str()));
                    }
                }
            }
        }
        out
    }

    /// Number of cells (saturating: see [`Matrix::checked_cell_count`] before allocating).
    pub fn cell_count(&self) -> usize {
        self.checked_cell_count().unwrap_or(usize::MAX)
    }

    /// Number of cells, or None when it does not fit in a `usize`. A few kilobytes of YAML can
    /// name billions of cells: check this against a limit before evaluating anything.
    pub fn checked_cell_count(&self) -> Option<usize> {
        self.subjects
            .len()
            .checked_mul(self.domains.len().max(1))?
            .checked_mul(self.objects.len())?
            .checked_mul(self.actions.len())
    }
}

/// Cells whose expectation is not met.
pub fn failures(cells: &[Cell]) -> impl Iterator<Item = &Cell> {
    cells.iter().filter(|c| !c.passed())
}

/// Formats the failing cells as a readable list, or None when all pass.
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

/// Finds matrix files: each argument is a file or a directory (searched for *.yaml/*.yml).
pub fn collect_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, MatrixError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            while let Some(dir) = stack.pop() {
                let entries = std::fs::read_dir(&dir)
                    .map_err(|e| MatrixError::Unreadable(format!("{}: {e}", dir.display())))?;
                for e in entries.filter_map(Result::ok) {
                    let path = e.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                        out.push(path);
                    }
                }
            }
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(MatrixError::Invalid(format!(
                "{}: no such file or directory",
                p.display()
            )));
        }
    }
    out.sort();
    Ok(out)
}
