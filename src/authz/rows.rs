//! Conversions between the store's row types and the pure policy types, kept out of
//! `policy/` so the policy core knows nothing about storage.

use crate::policy::rule::{Assignment, Rule, RuleError};
use crate::store::rules::{AssignmentRow, RuleRow};

impl Rule {
    /// Validates a stored row.
    pub fn from_row(r: &RuleRow) -> Result<Self, RuleError> {
        Self::parse(
            r.id,
            &r.subject,
            &r.object,
            &r.action,
            &r.scope,
            &r.condition,
            &r.effect,
        )
    }

    /// The store's row for this rule.
    pub fn row(&self) -> RuleRow {
        RuleRow {
            id: self.id,
            subject: self.subject.clone(),
            object: self.object.clone(),
            action: self.action.clone(),
            scope: self.scope.clone(),
            condition: self.condition.as_str().to_owned(),
            effect: self.effect.as_str().to_owned(),
        }
    }
}

impl Assignment {
    /// Validates a stored row.
    pub fn from_row(r: &AssignmentRow) -> Result<Self, RuleError> {
        Self::parse(r.id, &r.member, &r.role)
    }
}
