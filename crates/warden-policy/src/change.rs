//! The pure part of a policy change: its operations on validated values ([`Op`]), the policy
//! they make ([`apply`]: a rule set in, a rule set out) and the checks on the role graph that
//! need nothing but the proposed rows.

use std::collections::{HashMap, HashSet};

use super::error::{ChangeError, Conflict};
use super::rule::{Assignment, Rule, RuleSet, RuleText, legacy_domain, parse_subject};
use super::stored_matrix::{MAX_MATRICES, MatrixText, check_stored_name};

/// One operation of a change, on validated values: once you hold an `Op`, its rule parses
/// and its assignment is well formed (the constructors check; the change protocol checks the
/// rest against the current policy).
#[derive(Debug, Clone)]
pub enum Op {
    /// Insert a rule.
    AddRule(Rule),
    /// Replace a rule's columns, keeping its id.
    UpdateRule(i64, Rule),
    /// Delete a rule.
    DeleteRule(i64),
    /// Insert a `g` row.
    AddAssignment(Assignment),
    /// Delete a `g` row.
    RemoveAssignment(Assignment),
    /// Create or replace a matrix (by its name).
    PutMatrix(MatrixText),
    /// Delete a matrix.
    DeleteMatrix(String),
    /// Replace every rule and every role -> role row (a rollback or an import). Rules with an
    /// id keep it; rules with id 0 get new ids.
    Restore {
        /// The rules.
        rules: Vec<Rule>,
        /// The role -> role rows.
        inheritance: Vec<Assignment>,
        /// The matrices, when the restored state records them (None: the matrices stay as
        /// they are, for a version stored before matrices lived in the policy, or a policy
        /// file without them).
        matrices: Option<Vec<MatrixText>>,
    },
}

impl Op {
    /// Adds the rule `t` (422 naming the column when it does not parse).
    pub fn add_rule(t: &RuleText) -> Result<Self, ChangeError> {
        Ok(Op::AddRule(validate_rule(t)?))
    }

    /// Replaces rule `id` with `t`.
    pub fn update_rule(id: i64, t: &RuleText) -> Result<Self, ChangeError> {
        let mut rule = validate_rule(t)?;
        rule.id = id;
        Ok(Op::UpdateRule(id, rule))
    }

    /// Gives `member` the role `role`, where the installation's admin API has always given
    /// it ([`legacy_domain`]: role inheritance and `role:admin` globally, any other role in
    /// the default tenant).
    pub fn assign(member: &str, role: &str) -> Result<Self, ChangeError> {
        Ok(Op::AddAssignment(assignment(member, role)?))
    }

    /// Takes the role `role` from `member` (as [`Op::assign`] gave it).
    pub fn unassign(member: &str, role: &str) -> Result<Self, ChangeError> {
        Ok(Op::RemoveAssignment(assignment(member, role)?))
    }

    /// Gives `member` the role `role` in `domain` (a tenant, or `*`: every tenant).
    pub fn assign_in(member: &str, role: &str, domain: &str) -> Result<Self, ChangeError> {
        Ok(Op::AddAssignment(assignment_in(member, role, domain)?))
    }

    /// Takes the role `role` in `domain` from `member`.
    pub fn unassign_in(member: &str, role: &str, domain: &str) -> Result<Self, ChangeError> {
        Ok(Op::RemoveAssignment(assignment_in(member, role, domain)?))
    }

    /// Restores `rules` and the role -> role rows `inheritance` (`(role:a, role:b)`: a
    /// inherits b), as a rollback or an import.
    pub fn restore(
        rules: &[RuleText],
        inheritance: &[(String, String)],
        matrices: Option<&[MatrixText]>,
    ) -> Result<Self, ChangeError> {
        if let Some(m) = matrices {
            for t in m {
                check_stored_name(&t.name).map_err(|e| ChangeError::invalid("matrix", e))?;
            }
        }
        Ok(Op::Restore {
            matrices: matrices.map(<[MatrixText]>::to_vec),
            rules: rules
                .iter()
                .map(|t| {
                    validate_rule(t).map(|mut r| {
                        r.id = t.id;
                        r
                    })
                })
                .collect::<Result<_, _>>()?,
            inheritance: inheritance
                .iter()
                .map(|(member, role)| assignment(member, role))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The account or role the operation names as a subject or member (an edit may only
    /// name existing accounts), with the field that names it.
    pub fn subjects(&self) -> Vec<(&'static str, &str)> {
        match self {
            Op::AddRule(r) | Op::UpdateRule(_, r) => vec![("subject", r.subject.as_str())],
            Op::AddAssignment(a) => vec![("member", a.member.as_str())],
            Op::Restore { rules, .. } => rules
                .iter()
                .map(|r| ("subject", r.subject.as_str()))
                .collect(),
            Op::DeleteRule(_)
            | Op::RemoveAssignment(_)
            | Op::PutMatrix(_)
            | Op::DeleteMatrix(_) => Vec::new(),
        }
    }

    /// Creates or replaces the matrix stored as `name` (the installation's, or a tenant's
    /// `<tenant>/<name>`) with `text` (its name checked; its content is the engine's to parse
    /// and check).
    pub fn put_matrix(name: &str, text: &str) -> Result<Self, ChangeError> {
        check_stored_name(name).map_err(|e| ChangeError::invalid("matrix", e))?;
        Ok(Op::PutMatrix(MatrixText {
            name: name.to_owned(),
            text: text.to_owned(),
        }))
    }

    /// Whether the operation changes rules, role -> role rows or matrices (what a version's
    /// snapshot records), not only an account's roles.
    pub fn changes_rules(&self) -> bool {
        match self {
            Op::AddAssignment(a) | Op::RemoveAssignment(a) => a.member.starts_with("role:"),
            _ => true,
        }
    }
}

/// Parses a rule body into a validated rule (422 naming the column otherwise).
pub fn validate_rule(t: &RuleText) -> Result<Rule, ChangeError> {
    Rule::from_text(t).map_err(|e| ChangeError::invalid_rule(&e))
}

fn assignment(member: &str, role: &str) -> Result<Assignment, ChangeError> {
    assignment_in(member, role, legacy_domain(member, role))
}

fn assignment_in(member: &str, role: &str, domain: &str) -> Result<Assignment, ChangeError> {
    validate_assignment(member, role)?;
    Assignment::parse(0, member, role)
        .map_err(|e| ChangeError::invalid("member", e))?
        .in_domain(domain)
        .map_err(|e| ChangeError::invalid("tenant", e))
}

/// The policy after `ops`, computed in memory from `base` (pure: nothing is written). Rules
/// added get negative ids. Refused when a rule or assignment to add already exists (409),
/// one to change or remove does not (404), or the role graph would get a cycle or grow
/// deeper than [`MAX_ROLE_DEPTH`] (422).
pub fn apply(base: &RuleSet, ops: &[Op]) -> Result<RuleSet, ChangeError> {
    let mut next = base.clone();
    let mut new_id = -1;
    let exists = |r: &Rule| ChangeError::Conflict {
        code: Conflict::RuleExists,
        message: format!("an identical rule already exists: {r}"),
    };
    for op in ops {
        match op {
            Op::AddRule(r) => {
                if next.rules.iter().any(|x| same_rule(x, r)) {
                    return Err(exists(r));
                }
                let mut r = r.clone();
                r.id = new_id;
                new_id -= 1;
                next.rules.push(r);
            }
            Op::UpdateRule(id, r) => {
                if next.rules.iter().any(|x| x.id != *id && same_rule(x, r)) {
                    return Err(exists(r));
                }
                let slot = next
                    .rules
                    .iter_mut()
                    .find(|x| x.id == *id)
                    .ok_or_else(|| ChangeError::NotFound("rule".into()))?;
                *slot = Rule {
                    id: *id,
                    ..r.clone()
                };
            }
            Op::DeleteRule(id) => {
                let before = next.rules.len();
                next.rules.retain(|x| x.id != *id);
                if next.rules.len() == before {
                    return Err(ChangeError::NotFound("rule".into()));
                }
            }
            Op::AddAssignment(a) => {
                if next
                    .assignments
                    .iter()
                    .any(|x| x.member == a.member && x.role == a.role && x.domain == a.domain)
                {
                    return Err(ChangeError::Conflict {
                        code: Conflict::AssignmentExists,
                        message: format!("{} already has {} in {}", a.member, a.role, a.domain),
                    });
                }
                next.assignments.push(a.clone());
            }
            Op::RemoveAssignment(a) => {
                let before = next.assignments.len();
                next.assignments.retain(|x| {
                    !(x.member == a.member && x.role == a.role && x.domain == a.domain)
                });
                if next.assignments.len() == before {
                    return Err(ChangeError::NotFound("role assignment".into()));
                }
            }
            Op::PutMatrix(m) => match next.matrices.iter_mut().find(|x| x.name == m.name) {
                Some(slot) => *slot = m.clone(),
                None => next.matrices.push(m.clone()),
            },
            Op::DeleteMatrix(name) => {
                let before = next.matrices.len();
                next.matrices.retain(|x| x.name != *name);
                if next.matrices.len() == before {
                    return Err(ChangeError::NotFound("matrix".into()));
                }
            }
            Op::Restore {
                rules,
                inheritance,
                matrices,
            } => {
                next.rules = rules.clone();
                next.assignments.retain(|a| a.member.starts_with("user:"));
                next.assignments.extend(inheritance.iter().cloned());
                if let Some(m) = matrices {
                    next.matrices = m.clone();
                }
            }
        }
    }
    next.matrices.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = next.matrices.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(ChangeError::invalid(
            "matrix",
            format!("two matrices are named `{}`", w[0].name),
        ));
    }
    if next.matrices.len() > MAX_MATRICES.max(base.matrices.len()) {
        return Err(ChangeError::invalid(
            "matrix",
            format!("a policy holds at most {MAX_MATRICES} matrices"),
        ));
    }
    if let Some(cycle) = find_cycle(&next.assignments) {
        return Err(ChangeError::invalid(
            "role",
            format!(
                "role inheritance would form a cycle: {}",
                cycle.join(" -> ")
            ),
        ));
    }
    if let Some(chain) = too_deep(&next.assignments) {
        return Err(ChangeError::invalid(
            "role",
            format!(
                "role inheritance deeper than {MAX_ROLE_DEPTH} levels: {}",
                chain.join(" -> ")
            ),
        ));
    }
    Ok(next)
}

/// Whether two rules say the same (ids aside).
pub fn same_rule(a: &Rule, b: &Rule) -> bool {
    (
        &a.subject,
        &a.object,
        &a.action,
        &a.scope,
        a.condition.as_str(),
        a.effect,
        &a.tenant,
    ) == (
        &b.subject,
        &b.object,
        &b.action,
        &b.scope,
        b.condition.as_str(),
        b.effect,
        &b.tenant,
    )
}

/// Validates a `g` row: `user:<name>`/`role:<name>` inherits `role:<name>`.
pub fn validate_assignment(member: &str, role: &str) -> Result<(), ChangeError> {
    parse_subject(member).map_err(|e| ChangeError::invalid("member", e))?;
    if !role.starts_with("role:") {
        return Err(ChangeError::invalid("role", "must be role:<name>"));
    }
    parse_subject(role).map_err(|e| ChangeError::invalid("role", e))?;
    if member == role {
        return Err(ChangeError::invalid("role", "a role cannot inherit itself"));
    }
    Ok(())
}

/// The longest chain of `g` edges (member -> role -> ... ) a policy may hold. casbin-rs's
/// role manager stops following inheritance after 10 levels while Warden's own evaluation
/// does not; past that depth the two would disagree and every affected decision would be a
/// deny, so such a hierarchy is refused when it is written, with a margin.
pub const MAX_ROLE_DEPTH: usize = 8;

/// A chain of inheritance longer than [`MAX_ROLE_DEPTH`] edges, if any. Call on a graph
/// without cycles.
pub fn too_deep(assignments: &[Assignment]) -> Option<Vec<String>> {
    let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
    for a in assignments {
        parents
            .entry(a.member.as_str())
            .or_default()
            .push(a.role.as_str());
    }
    // Longest chain upwards from each node, memoised (the graph is acyclic).
    fn chain<'a>(
        n: &'a str,
        parents: &HashMap<&'a str, Vec<&'a str>>,
        memo: &mut HashMap<&'a str, Vec<&'a str>>,
    ) -> Vec<&'a str> {
        if let Some(c) = memo.get(n) {
            return c.clone();
        }
        let mut best = vec![n];
        for p in parents.get(n).into_iter().flatten() {
            let up = chain(p, parents, memo);
            if up.len() + 1 > best.len() {
                best = std::iter::once(n).chain(up).collect();
            }
        }
        memo.insert(n, best.clone());
        best
    }
    let mut memo = HashMap::new();
    let mut members: Vec<&str> = parents.keys().copied().collect();
    members.sort_unstable();
    members
        .into_iter()
        .map(|m| chain(m, &parents, &mut memo))
        .find(|c| c.len() > MAX_ROLE_DEPTH + 1)
        .map(|c| c.into_iter().map(str::to_owned).collect())
}

/// A cycle in the role -> role graph, if any (as the path that closes it).
pub fn find_cycle(assignments: &[Assignment]) -> Option<Vec<String>> {
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    for a in assignments.iter().filter(|a| a.member.starts_with("role:")) {
        edges
            .entry(a.member.as_str())
            .or_default()
            .push(a.role.as_str());
    }
    fn visit<'a>(
        n: &'a str,
        edges: &HashMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut HashSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| *p == n) {
            let mut cycle: Vec<String> = path[i..].iter().map(|s| (*s).to_owned()).collect();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if !done.insert(n) {
            return None;
        }
        path.push(n);
        for next in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        None
    }
    let mut done = HashSet::new();
    let mut starts: Vec<&str> = edges.keys().copied().collect();
    starts.sort_unstable();
    starts
        .into_iter()
        .find_map(|n| visit(n, &edges, &mut Vec::new(), &mut done))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(member: &str, role: &str) -> Assignment {
        Assignment {
            id: 0,
            member: member.into(),
            role: role.into(),
            domain: crate::rule::GLOBAL.into(),
        }
    }

    #[test]
    fn role_cycles_are_found_and_user_rows_never_form_one() {
        assert_eq!(
            find_cycle(&[a("role:a", "role:b"), a("role:b", "role:c")]),
            None
        );
        let c = find_cycle(&[
            a("role:a", "role:b"),
            a("role:b", "role:c"),
            a("role:c", "role:a"),
        ])
        .expect("cycle");
        assert_eq!(c.first(), c.last());
        assert_eq!(
            find_cycle(&[a("user:x", "role:a"), a("role:a", "role:b")]),
            None
        );
    }

    #[test]
    fn inheritance_deeper_than_the_limit_is_found() {
        let chain = |n: usize| -> Vec<Assignment> {
            let mut v = vec![a("user:x", "role:r0")];
            v.extend((1..n).map(|i| a(&format!("role:r{}", i - 1), &format!("role:r{i}"))));
            v
        };
        assert_eq!(too_deep(&chain(MAX_ROLE_DEPTH)), None);
        let deep = too_deep(&chain(MAX_ROLE_DEPTH + 1)).expect("too deep");
        assert_eq!(deep.len(), MAX_ROLE_DEPTH + 2);
        assert_eq!(deep.first().map(String::as_str), Some("user:x"));
    }

    #[test]
    fn assignments_must_point_at_a_role() {
        assert!(validate_assignment("user:alice", "role:viewer").is_ok());
        assert!(validate_assignment("role:editor", "role:viewer").is_ok());
        assert!(validate_assignment("user:alice", "user:bob").is_err());
        assert!(validate_assignment("alice", "role:viewer").is_err());
        assert!(validate_assignment("role:a", "role:a").is_err());
    }
}
