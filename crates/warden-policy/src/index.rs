//! Candidate selection: which rules could possibly match a request.
//!
//! Rules are bucketed by subject (an interned id, or [`ANY`] for `*` and for every rule
//! when the model does not constrain the subject), then by action (`*` likewise), then by
//! object: exact resource types and literal paths in a hash map, `:param` / trailing `*`
//! patterns in a segment trie, and `*` in a list. A lookup returns a superset of the rules
//! the matcher can accept (the compiled plan is still evaluated on each), so a decision
//! costs what its candidates cost, not what the whole policy costs.
//!
//! Above all that, rules are split by tenant when the model constrains it (`p.dom == "*" ||
//! p.dom == r.sub.tenant`): global rules in one part, each tenant's rules in its own, and a
//! request probes the global part and its tenant's part only. Ten tenants of 10k rules each
//! then cost a request what one tenant of 10k rules costs.

use std::collections::HashMap;

use super::model::Dimensions;
use super::rule::Rule;

/// The subject slot probed for every request.
pub const ANY: u32 = u32::MAX;
const ANY_ACTION: &str = "*";

/// Rules by object pattern.
#[derive(Debug, Default)]
struct ObjectIndex {
    exact: HashMap<Box<str>, Vec<u32>>,
    trie: Node,
    any: Vec<u32>,
}

/// A segment trie node for path patterns.
#[derive(Debug, Default)]
struct Node {
    literal: HashMap<Box<str>, Node>,
    param: Option<Box<Node>>,
    /// Patterns that end here.
    end: Vec<u32>,
    /// Patterns with a trailing `*` here: at least one more segment (possibly empty).
    star: Vec<u32>,
}

impl Node {
    fn insert(&mut self, pattern: &str, rule: u32) {
        let mut node = self;
        let mut segments = pattern.split('/').peekable();
        while let Some(seg) = segments.next() {
            if seg == "*" && segments.peek().is_none() {
                node.star.push(rule);
                return;
            }
            node = if seg.starts_with(':') {
                node.param.get_or_insert_with(Box::default)
            } else {
                node.literal.entry(seg.into()).or_default()
            };
        }
        node.end.push(rule);
    }

    /// Same results as [`super::rule::object_matches`] for every pattern inserted here.
    fn collect(&self, rest: Option<&str>, out: &mut Vec<u32>) {
        let Some(rest) = rest else {
            out.extend_from_slice(&self.end);
            return;
        };
        out.extend_from_slice(&self.star);
        let (seg, tail) = match rest.split_once('/') {
            Some((seg, tail)) => (seg, Some(tail)),
            None => (rest, None),
        };
        if let Some(child) = self.literal.get(seg) {
            child.collect(tail, out);
        }
        if let Some(child) = &self.param
            && !seg.is_empty()
        {
            child.collect(tail, out);
        }
    }
}

fn is_literal(pattern: &str) -> bool {
    !pattern.starts_with('/')
        || !pattern
            .split('/')
            .any(|seg| seg == "*" || seg.starts_with(':'))
}

impl ObjectIndex {
    fn insert(&mut self, pattern: &str, rule: u32) {
        if pattern == "*" {
            self.any.push(rule);
        } else if is_literal(pattern) {
            self.exact.entry(pattern.into()).or_default().push(rule);
        } else {
            self.trie.insert(pattern, rule);
        }
    }

    fn collect(&self, resource: &str, out: &mut Vec<u32>) {
        out.extend_from_slice(&self.any);
        if let Some(rules) = self.exact.get(resource) {
            out.extend_from_slice(rules);
        }
        self.trie.collect(Some(resource), out);
    }
}

/// The rule index of one policy.
#[derive(Debug, Default)]
pub struct Index {
    /// Global rules (every rule when the model does not constrain the tenant).
    global: Part,
    /// Each tenant's own rules.
    tenants: HashMap<Box<str>, Part>,
}

/// The rules of one tenant (or the global ones).
#[derive(Debug, Default)]
struct Part {
    /// By interned subject id (the last slot is [`ANY`]), then by action.
    subjects: Vec<HashMap<Box<str>, ObjectIndex>>,
}

impl Index {
    /// Indexes `rules` (positions are their indices), whose subjects are interned as
    /// `subject_ids` (`ANY` for `*`), along the dimensions the model constrains.
    pub fn build(rules: &[Rule], subject_ids: &[u32], subjects: usize, dims: Dimensions) -> Self {
        let part = || Part {
            subjects: (0..=subjects).map(|_| HashMap::new()).collect(),
        };
        let mut index = Index {
            global: part(),
            tenants: HashMap::new(),
        };
        for (pos, (rule, &sid)) in rules.iter().zip(subject_ids).enumerate() {
            let part = if dims.tenant && rule.tenant != super::rule::GLOBAL {
                index
                    .tenants
                    .entry(rule.tenant.as_str().into())
                    .or_insert_with(part)
            } else {
                &mut index.global
            };
            let slot = if dims.subject && sid != ANY {
                sid as usize
            } else {
                subjects
            };
            let action = if dims.action {
                rule.action.as_str()
            } else {
                ANY_ACTION
            };
            let object = if dims.object {
                rule.object.as_str()
            } else {
                "*"
            };
            // A policy has far fewer than 2^32 rules: the loader refuses more.
            let pos = u32::try_from(pos).unwrap_or(u32::MAX);
            if let Some(by_action) = part.subjects.get_mut(slot) {
                by_action
                    .entry(action.into())
                    .or_default()
                    .insert(object, pos);
            }
        }
        index
    }

    /// Appends the positions of every rule that may match a request in `tenant` to `out`
    /// (unsorted; no duplicates as long as `subjects` has none). `subjects` are interned ids;
    /// [`ANY`] is always probed.
    pub fn candidates(
        &self,
        subjects: impl Iterator<Item = u32> + Clone,
        tenant: &str,
        action: &str,
        resource: &str,
        out: &mut Vec<u32>,
    ) {
        self.global
            .candidates(subjects.clone(), action, resource, out);
        if let Some(part) = self.tenants.get(tenant) {
            part.candidates(subjects, action, resource, out);
        }
    }
}

impl Part {
    fn candidates(
        &self,
        subjects: impl Iterator<Item = u32>,
        action: &str,
        resource: &str,
        out: &mut Vec<u32>,
    ) {
        let any = self.subjects.len().saturating_sub(1);
        // Ids interned after the index was built ([`super::decide::Policy::with_member`])
        // hold no rules; past the last subject slot there is only the `ANY` slot.
        let slots = subjects
            .map(|s| s as usize)
            .filter(|&s| s < any)
            .chain(std::iter::once(any));
        for slot in slots {
            let Some(by_action) = self.subjects.get(slot) else {
                continue;
            };
            if by_action.is_empty() {
                continue;
            }
            if let Some(objects) = by_action.get(action) {
                objects.collect(resource, out);
            }
            if action != ANY_ACTION
                && let Some(objects) = by_action.get(ANY_ACTION)
            {
                objects.collect(resource, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::object_matches;

    #[test]
    fn the_trie_finds_exactly_the_patterns_object_matches_accepts() {
        let patterns = [
            "/api/documents/:id",
            "/api/documents",
            "/api/documents/*",
            "/v1/admin/*",
            "/*",
            "/",
            "/a/:x/b",
            "/a/:x/:y",
            "/a/c/b",
            "/a/:x/*",
            "document",
            "*",
        ];
        let values = [
            "/api/documents/5",
            "/api/documents",
            "/api/documents/",
            "/api/documents/5/x",
            "/v1/admin",
            "/v1/admin/",
            "/v1/admin/a/b",
            "/",
            "",
            "/a/c/b",
            "/a//b",
            "/a/q/b",
            "/a/q/",
            "/a/q",
            "document",
            "documents",
            "a/c/b",
        ];
        let mut index = ObjectIndex::default();
        for (i, p) in patterns.iter().enumerate() {
            index.insert(p, i as u32);
        }
        for v in values {
            let mut got = Vec::new();
            index.collect(v, &mut got);
            got.sort_unstable();
            let want: Vec<u32> = (0..patterns.len() as u32)
                .filter(|&i| object_matches(v, patterns[i as usize]))
                .collect();
            assert_eq!(got, want, "value {v:?}");
        }
    }
}
