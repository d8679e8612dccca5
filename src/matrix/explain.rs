//! "Decided by": which rule won a cell, and how the subject reached it.
//!
//! A reader of a failing cell needs three things: the rule that decided it (under
//! deny-override, the deny that won and the allows it overrode), and for each rule the role
//! chain that made it apply to the subject (`alice -> role:editor -> role:viewer`).

use std::collections::{HashMap, VecDeque};

/// A matched rule, described for a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// How the rule is named in the report (`rule #12 (role:viewer document read)`).
    pub label: String,
    /// Is it a deny?
    pub deny: bool,
    /// How the subject reached the rule's subject (`everyone (*)`, `alice`,
    /// `alice -> role:editor`).
    pub via: String,
}

/// The shortest chain of `edges` (member -> role) from `from` to `to`, both included.
pub fn role_chain<'a>(
    edges: impl IntoIterator<Item = (&'a str, &'a str)>,
    from: &'a str,
    to: &str,
) -> Option<Vec<&'a str>> {
    let mut parents: HashMap<&str, Vec<&str>> = HashMap::new();
    for (member, role) in edges {
        parents.entry(member).or_default().push(role);
    }
    let mut came_from: HashMap<&str, &str> = HashMap::new();
    let mut queue = VecDeque::from([from]);
    while let Some(n) = queue.pop_front() {
        if n == to {
            let mut chain = vec![n];
            let mut at = n;
            while let Some(prev) = came_from.get(at) {
                chain.push(prev);
                at = prev;
            }
            chain.reverse();
            return Some(chain);
        }
        for p in parents.get(n).into_iter().flatten() {
            if *p != from && !came_from.contains_key(p) {
                came_from.insert(p, n);
                queue.push_back(p);
            }
        }
    }
    None
}

/// `alice -> role:editor -> role:viewer`, the first element shown as `display`.
pub fn describe_chain(chain: &[&str], display: &str) -> String {
    std::iter::once(display)
        .chain(chain.iter().skip(1).copied())
        .collect::<Vec<_>>()
        .join(" -> ")
}

/// The reason text of a decided cell.
pub fn reason(allowed: bool, matched: &[Matched]) -> String {
    let line = |verb: &str, m: &Matched| format!("{verb} by {} via {}", m.label, m.via);
    let list = |ms: &[&Matched], verb: &str| {
        ms.iter()
            .map(|m| line(verb, m))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (denies, allows): (Vec<&Matched>, Vec<&Matched>) = matched.iter().partition(|m| m.deny);
    match (allowed, denies.split_first(), allows.split_first()) {
        (_, None, None) => "no rule matched".to_owned(),
        (false, Some((winner, _)), _) => {
            let mut out = line("deny", winner);
            if !allows.is_empty() {
                out.push_str(&format!(
                    "; overrides {} (deny overrides allow)",
                    list(&allows, "allow")
                ));
            }
            out
        }
        (true, _, Some((winner, rest))) => {
            let mut out = line("allow", winner);
            if !rest.is_empty() {
                out.push_str(&format!("; also {}", list(rest, "allow")));
            }
            out
        }
        // an allow matched yet the answer is deny (or the reverse) without a deny: the
        // engines disagreed or a condition failed; say what matched
        (_, _, _) => format!(
            "{} although these matched: {}",
            if allowed { "allow" } else { "deny" },
            matched
                .iter()
                .map(|m| format!("{} via {}", m.label, m.via))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shortest_role_chain_is_found_through_inheritance() {
        let edges = [
            ("user:alice", "role:editor"),
            ("role:editor", "role:viewer"),
            ("role:viewer", "role:user"),
            ("user:alice", "role:user"),
        ];
        assert_eq!(
            role_chain(edges, "user:alice", "role:viewer"),
            Some(vec!["user:alice", "role:editor", "role:viewer"])
        );
        assert_eq!(
            role_chain(edges, "user:alice", "role:user"),
            Some(vec!["user:alice", "role:user"])
        );
        assert_eq!(
            role_chain(edges, "user:alice", "user:alice"),
            Some(vec!["user:alice"])
        );
        assert_eq!(role_chain(edges, "user:alice", "role:admin"), None);
    }

    #[test]
    fn a_deny_that_won_is_named_first_with_the_allows_it_overrode() {
        let m = |label: &str, deny: bool, via: &str| Matched {
            label: label.into(),
            deny,
            via: via.into(),
        };
        let text = reason(
            false,
            &[
                m("rule #12", false, "alice -> role:viewer"),
                m("rule #17", true, "everyone (*)"),
            ],
        );
        assert_eq!(
            text,
            "deny by rule #17 via everyone (*); overrides allow by rule #12 via \
             alice -> role:viewer (deny overrides allow)"
        );
        assert_eq!(reason(false, &[]), "no rule matched");
        assert_eq!(
            reason(true, &[m("rule #3", false, "alice")]),
            "allow by rule #3 via alice"
        );
    }
}
