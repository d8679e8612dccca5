//! Running a matrix against any Casbin model and policy (not only Warden's).
//!
//! The request is built from the model's `r = ...` tokens by name: `sub` is the subject,
//! `dom` the domain, `obj` the object, `act` the action. A subject or object with attributes
//! is passed as a map of them (ABAC); otherwise as its name. casbin-rs panics on effects it
//! does not know and on some bad patterns; both are caught and reported, never crash the run.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use casbin::{CoreApi, DefaultModel, Enforcer, StringAdapter};
use serde::Serialize;

use super::explain::{Matched, describe_chain, reason, role_chain};
use super::limits::Budget;
use super::warden::{Coord, parallel};
use super::{Cell, Matrix, MatrixError};
use crate::policy::AttrValue;

/// The four effects casbin-rs implements; any other panics at the first decision.
const SUPPORTED_EFFECTS: [&str; 4] = [
    "some(where (p_eft == allow))",
    "some(where (p_eft == allow)) && !some(where (p_eft == deny))",
    "priority(p_eft) || deny",
    "!some(where (p_eft == deny))",
];

/// A request value: a name, or a map of attributes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// Plain string.
    Name(String),
    /// Attributes (ABAC).
    Attributes(BTreeMap<String, AttrValue>),
}

/// Which matrix dimension feeds each request token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dim {
    Subject,
    Domain,
    Object,
    Action,
}

/// A loaded model + policy.
pub struct GenericPolicy {
    enforcer: Enforcer,
    dims: Vec<Dim>,
    /// The `p` lines of the policy text (for coverage), as written.
    pub rules: Vec<String>,
    /// Position of `sub` and `eft` in a `p` row, for explaining decisions.
    sub_at: Option<usize>,
    eft_at: Option<usize>,
    /// `g` rows: (member, role, domain).
    edges: Vec<(String, String, Option<String>)>,
}

impl std::fmt::Debug for GenericPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenericPolicy")
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

fn err(what: &str, e: impl std::fmt::Display) -> MatrixError {
    MatrixError::Invalid(format!("{what}: {e}"))
}

impl GenericPolicy {
    /// Builds an enforcer from model and policy text plus extra `g` lines.
    pub async fn load(
        model_text: &str,
        policy_text: &str,
        extra_g: &[(String, String)],
    ) -> Result<Self, MatrixError> {
        let model = DefaultModel::from_str(model_text)
            .await
            .map_err(|e| err("model", e))?;
        let effect = model_value(&model, "e").unwrap_or_default();
        if !SUPPORTED_EFFECTS.contains(&effect.as_str()) {
            return Err(MatrixError::Invalid(format!(
                "model: policy effect `{effect}` is not supported by casbin-rs"
            )));
        }
        let dims = model_tokens(&model, "r")
            .iter()
            .map(|t| match t.as_str() {
                "r_sub" => Ok(Dim::Subject),
                "r_dom" => Ok(Dim::Domain),
                "r_obj" => Ok(Dim::Object),
                "r_act" => Ok(Dim::Action),
                other => Err(MatrixError::Invalid(format!(
                    "model: request field `{}` has no matrix dimension (use sub, dom, obj, act)",
                    other.trim_start_matches("r_")
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut text = policy_text.to_owned();
        for (member, role) in extra_g {
            text.push_str(&format!("\ng, {member}, {role}"));
        }
        let rules = policy_text
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("p"))
            .map(str::to_owned)
            .collect();
        let p_tokens = model_tokens(&model, "p");
        let at = |t: &str| p_tokens.iter().position(|x| x == t);
        let (sub_at, eft_at) = (at("p_sub"), at("p_eft"));
        let edges = text
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(',').map(str::trim).collect();
                match f.as_slice() {
                    ["g", m, r] => Some((m.to_string(), r.to_string(), None)),
                    ["g", m, r, d] => Some((m.to_string(), r.to_string(), Some(d.to_string()))),
                    _ => None,
                }
            })
            .collect();
        let enforcer = Enforcer::new(model, StringAdapter::new(text))
            .await
            .map_err(|e| err("policy", e))?;
        Ok(Self {
            enforcer,
            dims,
            rules,
            sub_at,
            eft_at,
            edges,
        })
    }

    /// Why `rows` (the matched `p` rows) gave `allowed` to `subject` (in `domain`).
    fn why(
        &self,
        allowed: bool,
        rows: &[Vec<String>],
        subject: Option<&str>,
        domain: Option<&str>,
    ) -> String {
        let edges = self
            .edges
            .iter()
            .filter(|(_, _, d)| d.is_none() || d.as_deref() == domain)
            .map(|(m, r, _)| (m.as_str(), r.as_str()));
        let matched: Vec<Matched> = rows
            .iter()
            .map(|row| {
                let rule_sub = self.sub_at.and_then(|i| row.get(i)).map(String::as_str);
                let via = match (subject, rule_sub) {
                    (Some(s), Some(r)) => role_chain(edges.clone(), s, r).map_or_else(
                        || format!("{r} (matched by the model)"),
                        |c| describe_chain(&c, s),
                    ),
                    _ => "the model's matcher".to_owned(),
                };
                Matched {
                    label: format!("`p, {}`", row.join(", ")),
                    deny: self
                        .eft_at
                        .and_then(|i| row.get(i))
                        .is_some_and(|e| e == "deny"),
                    via,
                }
            })
            .collect();
        reason(allowed, &matched)
    }

    /// Decides one cell; a casbin error or panic is reported as a deny with its reason.
    /// `subject` (a plain name) and `domain` are used to explain the decision.
    pub fn decide(
        &self,
        values: &[Value],
        subject: Option<&str>,
        domain: Option<&str>,
    ) -> (bool, String, Vec<String>) {
        let result = catch_unwind(AssertUnwindSafe(|| match values {
            [a] => self.enforcer.enforce_ex((a,)),
            [a, b] => self.enforcer.enforce_ex((a, b)),
            [a, b, c] => self.enforcer.enforce_ex((a, b, c)),
            [a, b, c, d] => self.enforcer.enforce_ex((a, b, c, d)),
            _ => Err(casbin::Error::RequestError(
                casbin::error::RequestError::UnmatchRequestDefinition(4, values.len()),
            )),
        }));
        match result {
            Ok(Ok((allowed, rows))) => {
                let matched: Vec<String> = rows
                    .iter()
                    .map(|r| format!("p, {}", r.join(", ")))
                    .collect();
                (allowed, self.why(allowed, &rows, subject, domain), matched)
            }
            Ok(Err(e)) => (false, format!("evaluation error: {e}"), Vec::new()),
            Err(_) => (
                false,
                "evaluation error: casbin panicked".to_owned(),
                Vec::new(),
            ),
        }
    }
}

fn model_value(model: &DefaultModel, sec: &str) -> Option<String> {
    use casbin::Model;
    model
        .get_model()
        .get(sec)
        .and_then(|m| m.get(sec))
        .map(|a| a.value.clone())
}

fn model_tokens(model: &DefaultModel, sec: &str) -> Vec<String> {
    use casbin::Model;
    model
        .get_model()
        .get(sec)
        .and_then(|m| m.get(sec))
        .map(|a| a.tokens.clone())
        .unwrap_or_default()
}

impl Matrix {
    fn value_of(&self, attrs: &BTreeMap<String, AttrValue>, name: &str) -> Value {
        if attrs.is_empty() {
            Value::Name(name.to_owned())
        } else {
            Value::Attributes(attrs.clone())
        }
    }

    /// The extra `g` rows for subjects' `roles`.
    pub fn generic_roles(&self) -> Vec<(String, String)> {
        self.subjects
            .iter()
            .flat_map(|(n, s)| s.roles.iter().map(move |r| (n.clone(), r.clone())))
            .collect()
    }

    /// Evaluates every cell against a generic policy.
    pub fn run_generic(&self, policy: &GenericPolicy) -> Result<Vec<Cell>, MatrixError> {
        let coords = self.coordinates();
        let all: Vec<usize> = (0..coords.len()).collect();
        self.run_generic_cells(policy, &coords, &all, &Budget::unlimited())
    }

    /// Evaluates the cells at `indices` of `coords` against a generic policy, on all cores.
    pub fn run_generic_cells(
        &self,
        policy: &GenericPolicy,
        coords: &[Coord<'_>],
        indices: &[usize],
        budget: &Budget,
    ) -> Result<Vec<Cell>, MatrixError> {
        if policy.dims.contains(&Dim::Domain) && self.domains.is_empty() {
            return Err(MatrixError::Invalid(
                "the model's request has `dom`: list `domains` in the matrix".into(),
            ));
        }
        if !policy.dims.contains(&Dim::Domain) && !self.domains.is_empty() {
            return Err(MatrixError::Invalid(
                "the matrix lists `domains` but the model's request has no `dom`".into(),
            ));
        }
        parallel(indices, budget, |&i| {
            let (s, d, o, a) = coords[i];
            let values: Vec<Value> = policy
                .dims
                .iter()
                .map(|dim| match dim {
                    Dim::Subject => self.value_of(&self.subjects[s].attributes, s),
                    Dim::Domain => Value::Name(d.unwrap_or_default().to_owned()),
                    Dim::Object => {
                        let obj = &self.objects[o];
                        self.value_of(&obj.attributes, obj.kind.as_deref().unwrap_or(o))
                    }
                    Dim::Action => Value::Name(a.to_owned()),
                })
                .collect();
            // a subject passed as attributes has no name the role graph knows
            let name = matches!(values.first(), Some(Value::Name(_)))
                .then_some(s)
                .filter(|_| policy.dims.first() == Some(&Dim::Subject));
            let (actual, reason, matched) = policy.decide(&values, name, d);
            Cell {
                subject: s.to_owned(),
                domain: d.map(str::to_owned),
                object: o.to_owned(),
                action: a.to_owned(),
                expected: self.expected(s, d, o, a),
                actual,
                reason,
                matched,
            }
        })
    }
}
