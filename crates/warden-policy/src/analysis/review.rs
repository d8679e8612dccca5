//! Access reviews: every account's effective permissions, and what changed between two
//! policies (who gained, who lost what).

use serde::Serialize;

use super::cond::Schema;
use super::plan::PlanKind;
use super::reverse::what_can;
use crate::Subject;
use crate::decide::Policy;

/// One permission of one account: an action on an object type or route pattern, and on which
/// objects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
pub struct ReviewRow {
    /// Username.
    pub username: String,
    /// Object type or route pattern (`*`: every type no rule names).
    pub object: String,
    /// Action (`*`: every action no rule names).
    pub action: String,
    /// `always` or `conditional`.
    pub kind: PlanKind,
    /// The objects it applies to (`true` for all).
    pub condition: String,
}

/// Every permission of every subject, by username, object and action.
pub fn review(
    policy: &Policy,
    subjects: &[Subject],
    schema: impl Fn(&str) -> Option<Schema> + Copy,
) -> Vec<ReviewRow> {
    let mut rows: Vec<ReviewRow> = subjects
        .iter()
        .flat_map(|s| {
            what_can(policy, s, schema)
                .0
                .into_iter()
                .map(|c| ReviewRow {
                    username: s.name.clone(),
                    object: c.object,
                    action: c.action,
                    kind: c.plan.kind,
                    condition: c.plan.text,
                })
        })
        .collect();
    rows.sort();
    rows
}

/// What changed between two reviews: a permission whose condition changed is lost as it was
/// and gained as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReviewDiff {
    /// Permissions in `after` and not in `before`.
    pub gained: Vec<ReviewRow>,
    /// Permissions in `before` and not in `after`.
    pub lost: Vec<ReviewRow>,
}

/// `after` against `before` (both sorted, as [`review`] returns them).
pub fn diff(before: &[ReviewRow], after: &[ReviewRow]) -> ReviewDiff {
    ReviewDiff {
        gained: after
            .iter()
            .filter(|r| before.binary_search(r).is_err())
            .cloned()
            .collect(),
        lost: before
            .iter()
            .filter(|r| after.binary_search(r).is_err())
            .cloned()
            .collect(),
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv_line(out: &mut String, change: Option<&str>, r: &ReviewRow) {
    let kind = match r.kind {
        PlanKind::Always => "always",
        PlanKind::Never => "never",
        PlanKind::Conditional => "conditional",
    };
    let fields = [
        r.username.as_str(),
        &r.object,
        &r.action,
        kind,
        &r.condition,
    ];
    if let Some(c) = change {
        out.push_str(c);
        out.push(',');
    }
    out.push_str(&fields.map(csv_field).join(","));
    out.push('\n');
}

/// A review as CSV: `username,object,action,kind,condition`, one line per row.
pub fn csv(rows: &[ReviewRow]) -> String {
    let mut out = String::from("username,object,action,kind,condition\n");
    for r in rows {
        csv_line(&mut out, None, r);
    }
    out
}

/// A diff as CSV: `change,username,object,action,kind,condition` (`gained` lines, then `lost`).
pub fn diff_csv(d: &ReviewDiff) -> String {
    let mut out = String::from("change,username,object,action,kind,condition\n");
    for r in &d.gained {
        csv_line(&mut out, Some("gained"), r);
    }
    for r in &d.lost {
        csv_line(&mut out, Some("lost"), r);
    }
    out
}
