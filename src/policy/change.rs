//! The pure part of a policy change: the shapes a change reports and the checks on the role
//! graph that need nothing but the proposed rows.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use super::error::ChangeError;
use super::rule::{Assignment, parse_subject};

/// A matrix cell whose answer differs between the current and the proposed policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Flip {
    /// Matrix name.
    pub matrix: String,
    /// Subject.
    pub subject: String,
    /// Object.
    pub object: String,
    /// Action.
    pub action: String,
    /// Answer now.
    pub before: bool,
    /// Answer after the change.
    pub after: bool,
    /// What the matrix expects (None = unchecked cell).
    pub expected: Option<bool>,
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
