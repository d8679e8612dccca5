//! Choosing the policy under test and running a matrix against it, with coverage.

use super::generic::GenericPolicy;
use super::limits::Budget;
use super::report::{Coverage, MatrixResult, unexercised};
use super::{Cell, Matrix, MatrixError};
use crate::policy::model::MODEL;
use crate::policy::rule::RuleSet;
use crate::policy::seed::parse_policy;

/// Above this many cell re-evaluations, the "changes no decision" analysis is skipped.
const NO_EFFECT_BUDGET: usize = 1_000_000;

/// The policy a matrix is checked against.
#[derive(Debug, Clone)]
pub enum PolicyUnderTest {
    /// Warden's model with these rules.
    Warden(RuleSet),
    /// Any casbin model and policy (text).
    Casbin {
        /// model.conf text.
        model: String,
        /// policy.csv text.
        policy: String,
    },
}

fn same_model(text: &str) -> bool {
    let norm = |s: &str| {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    };
    norm(text) == norm(MODEL)
}

impl PolicyUnderTest {
    /// From model and policy text: Warden's own model is run by Warden's engine (with its
    /// path matcher, scopes and native cross-check); any other by plain casbin.
    pub fn from_text(model: String, policy: String) -> Result<Self, MatrixError> {
        if same_model(&model) {
            let file =
                parse_policy(&policy).map_err(|e| MatrixError::Invalid(format!("policy: {e}")))?;
            Ok(Self::Warden(file))
        } else {
            Ok(Self::Casbin { model, policy })
        }
    }

    /// From files.
    pub fn from_files(
        model: &std::path::Path,
        policy: &std::path::Path,
    ) -> Result<Self, MatrixError> {
        let read = |p: &std::path::Path| {
            std::fs::read_to_string(p)
                .map_err(|e| MatrixError::Unreadable(format!("{}: {e}", p.display())))
        };
        Self::from_text(read(model)?, read(policy)?)
    }
}

fn normalise_line(line: &str) -> String {
    line.split(',')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Evaluates every cell of a matrix within a budget, without the coverage analysis (which
/// re-evaluates per rule and costs far more than the cells on a large policy).
pub async fn cells_within(
    m: &Matrix,
    file: &str,
    put: &PolicyUnderTest,
    budget: &Budget,
) -> Result<MatrixResult, MatrixError> {
    let (cells, _) = cells_for(m, put, None, budget).await?;
    Ok(MatrixResult::new(m, file, cells, Coverage::default()))
}

/// Evaluates the cells at `indices` (all cells when None); returns them and the policy's
/// rules as they appear in `Cell::matched`.
async fn cells_for(
    m: &Matrix,
    put: &PolicyUnderTest,
    indices: Option<&[usize]>,
    budget: &Budget,
) -> Result<(Vec<Cell>, Vec<String>), MatrixError> {
    let coords = m.coordinates();
    let all: Vec<usize>;
    let indices = match indices {
        Some(i) => i,
        None => {
            all = (0..coords.len()).collect();
            &all
        }
    };
    match put {
        PolicyUnderTest::Warden(file) => {
            let snap = m.policy_under_test(file)?;
            let rules = file.rules.iter().map(|r| r.id.to_string()).collect();
            Ok((m.run_cells(&snap, &coords, indices, budget)?, rules))
        }
        PolicyUnderTest::Casbin { model, policy } => {
            let g = GenericPolicy::load(model, policy, &m.generic_roles()).await?;
            let mut cells = m.run_generic_cells(&g, &coords, indices, budget)?;
            for c in &mut cells {
                c.matched = c.matched.iter().map(|l| normalise_line(l)).collect();
            }
            Ok((cells, g.rules.iter().map(|l| normalise_line(l)).collect()))
        }
    }
}

fn without_rule(put: &PolicyUnderTest, rule: &str) -> PolicyUnderTest {
    match put {
        PolicyUnderTest::Warden(file) => {
            let mut f = file.clone();
            f.rules.retain(|r| r.id.to_string() != rule);
            PolicyUnderTest::Warden(f)
        }
        PolicyUnderTest::Casbin { model, policy } => {
            let mut removed = false;
            let text = policy
                .lines()
                .filter(|l| {
                    let drop = !removed && normalise_line(l.trim()) == rule;
                    removed |= drop;
                    !drop
                })
                .collect::<Vec<_>>()
                .join("\n");
            PolicyUnderTest::Casbin {
                model: model.clone(),
                policy: text,
            }
        }
    }
}

/// Checks a matrix against a policy, with coverage.
///
/// A rule that did not match in a cell cannot change that cell's decision when removed, so
/// the "changes no decision" analysis re-evaluates, per rule, only the cells it matched in.
pub async fn check(
    m: &Matrix,
    file: &str,
    put: &PolicyUnderTest,
) -> Result<MatrixResult, MatrixError> {
    check_within(m, file, put, &Budget::unlimited()).await
}

/// [`check`] within a budget. The cells must all be evaluated in time (else an error); the
/// optional "changes no decision" analysis does at most [`Budget::extra_work`]
/// re-evaluations and is left out (empty) when the budget runs out during it.
pub async fn check_within(
    m: &Matrix,
    file: &str,
    put: &PolicyUnderTest,
    budget: &Budget,
) -> Result<MatrixResult, MatrixError> {
    let (cells, rules) = cells_for(m, put, None, budget).await?;
    let mut coverage = Coverage {
        unexercised: unexercised(&rules, &cells),
        no_effect: Vec::new(),
    };
    let matched_cells = |rule: &str| -> Vec<usize> {
        cells
            .iter()
            .enumerate()
            .filter(|(_, c)| c.matched.iter().any(|r| r == rule))
            .map(|(i, _)| i)
            .collect()
    };
    let work: usize = rules.iter().map(|r| matched_cells(r).len()).sum();
    if work <= budget.extra_work().unwrap_or(NO_EFFECT_BUDGET) {
        for rule in &rules {
            let affected = matched_cells(rule);
            if affected.is_empty() {
                // listed as unexercised: no cell of this matrix says anything about it
                continue;
            }
            let other = match cells_for(m, &without_rule(put, rule), Some(&affected), budget).await
            {
                Ok((other, _)) => other,
                Err(_) if budget.exhausted() => {
                    coverage.no_effect.clear();
                    break;
                }
                Err(e) => return Err(e),
            };
            if other
                .iter()
                .zip(&affected)
                .all(|(a, &i)| a.actual == cells[i].actual)
            {
                coverage.no_effect.push(rule.clone());
            }
        }
    }
    // Warden rules are matched by id; show them as text.
    if let PolicyUnderTest::Warden(file) = put {
        let text = |id: &String| {
            file.rules
                .iter()
                .find(|r| &r.id.to_string() == id)
                .map_or_else(|| id.clone(), ToString::to_string)
        };
        coverage.unexercised = coverage.unexercised.iter().map(text).collect();
        coverage.no_effect = coverage.no_effect.iter().map(text).collect();
    }
    Ok(MatrixResult::new(m, file, cells, coverage))
}
