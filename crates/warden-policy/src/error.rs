//! Why a policy change (or an account change the lock-out check guards) is refused.
//!
//! The change protocol speaks in these terms; it never picks a status code. The HTTP layer
//! maps each variant to its status, stable code and body in one place
//! (`impl From<ChangeError> for ApiError` in `src/http/error.rs`).

use serde::Serialize;

/// Which conflict a change ran into; each is a stable error code of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    /// An identical rule already exists (`rule_exists`).
    RuleExists,
    /// The member already has the role (`assignment_exists`).
    AssignmentExists,
    /// The database refused a write as a duplicate (`conflict`).
    Duplicate,
}

/// A refused or failed change. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// A field of the change is invalid; `message` says why.
    #[error("{field}: {message}")]
    Invalid {
        /// The field (`rule`, `member`, `role`, `subject`, `matrix`, ...).
        field: &'static str,
        /// What is wrong with it.
        message: String,
        /// For a condition: the 1-based column the error points at.
        column: Option<usize>,
    },
    /// The change names something that does not exist (`"rule"`, `"role assignment"`).
    #[error("{0} not found")]
    NotFound(String),
    /// The change conflicts with the current state.
    #[error("{message}")]
    Conflict {
        /// Which conflict.
        code: Conflict,
        /// Human text.
        message: String,
    },
    /// The caller expected another policy version than the current one.
    #[error("If-Match {expected} does not match the current policy version {current}")]
    VersionMismatch {
        /// The version the caller expected.
        expected: i64,
        /// The current version.
        current: i64,
    },
    /// The change would flip these invariant matrix cells.
    #[error("the change would flip {} invariant cell(s); nothing was changed", cells.len())]
    InvariantViolation {
        /// The cells it would break.
        cells: Vec<Flip>,
    },
    /// A new or edited invariant matrix fails on the policy it would be stored with: the
    /// invariants would not hold from the start. `cells` lists the first failing cells (the
    /// answer now and with the change), `failing` counts them all.
    #[error(
        "the invariant matrix fails on {failing} cell(s) of the policy it would guard; \
         nothing was changed"
    )]
    InvariantFails {
        /// The first failing cells.
        cells: Vec<Flip>,
        /// How many cells fail.
        failing: usize,
    },
    /// The change would allow a request that a property of an invariant matrix denies for
    /// every subject, or deny one that it allows (the first one found, as a concrete request).
    #[error(
        "the change would break property `{}` of matrix `{matrix}`: {} {} {} {}; nothing was changed",
        counterexample.property, counterexample.principal, counterexample.verb(), counterexample.action,
        counterexample.object
    )]
    PropertyViolated {
        /// The matrix holding the property.
        matrix: String,
        /// A request the property covers that the changed policy allows.
        counterexample: Box<crate::analysis::Counterexample>,
    },
    /// After the change no enabled account could reach these admin routes (`METHOD /path`).
    #[error(
        "after this change no enabled account could reach {}; nothing was changed",
        routes.join(", ")
    )]
    Lockout {
        /// The routes that would become unreachable.
        routes: Vec<String>,
    },
    /// The policy or the database cannot be used right now (a fixed, client-safe message).
    #[error("{0}")]
    Unavailable(&'static str),
    /// A bug or an unexpected failure; the cause is for the log, never for a client.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ChangeError {
    /// `Invalid` for `field`.
    pub fn invalid(field: &'static str, message: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field,
            message: message.to_string(),
            column: None,
        }
    }

    /// `Invalid` for the rule column a [`RuleError`](super::rule::RuleError) names, with the
    /// condition's column when there is one.
    pub fn invalid_rule(e: &super::rule::RuleError) -> Self {
        Self::Invalid {
            field: e.field(),
            message: e.problem(),
            column: e.column(),
        }
    }

    /// `Internal` with its cause.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// True when the service failed rather than the change being refused: a dry run reports
    /// a refusal as its answer, but fails itself on these.
    pub fn is_service_failure(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Internal(_))
    }
}

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
