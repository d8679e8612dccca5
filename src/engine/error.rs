//! Why the engine could not load, compile or build a policy: one typed error for every
//! fallible engine function, so callers match on what went wrong rather than on text.

use std::sync::Arc;

use crate::policy::model::ModelError;
use crate::policy::rule::RuleError;
use crate::store::StoreError;

/// A policy could not be loaded or compiled; the previous snapshot stays in place.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LoadError {
    /// The store failed (shared: one failed read answers every caller that waited on it).
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// A `p` row is invalid.
    #[error("rule {id} refused: {err}")]
    Rule {
        /// Rule id.
        id: i64,
        /// Why.
        err: RuleError,
    },
    /// A `g` row is invalid.
    #[error("role assignment {id} refused: {err}")]
    Assignment {
        /// Assignment id.
        id: i64,
        /// Why.
        err: RuleError,
    },
    /// A stored matrix is invalid.
    #[error("matrix `{name}` refused: {err}")]
    Matrix {
        /// Its name.
        name: String,
        /// Why.
        err: String,
    },
    /// The model text is one the compiler refuses.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// More rules than the index can number.
    #[error("too many rules")]
    TooManyRules,
    /// Route rules that `--path-match case-insensitive` could never match (a deny among them
    /// would silently stop denying).
    #[error(
        "--path-match case-insensitive folds paths to lower case, so these route rules could \
         never match; write them in lower case: {}",
        .0.join(", ")
    )]
    UpperCaseRoutes(Vec<String>),
    /// The compilation thread failed.
    #[error("policy compilation failed: {0}")]
    Compile(String),
    /// No policy has been read yet.
    #[error("no policy is loaded")]
    NotLoaded,
    /// casbin-rs refused the model or the rows (the oracle and the tools that use it).
    #[error("casbin: {0}")]
    Casbin(String),
    /// A model whose effect would allow by default, or an enforcer switched off.
    #[error("refusing a fail-open model (effect `{0}`)")]
    FailOpen(String),
    /// A test fault: loads of this version are refused.
    #[error("loading version {0} is refused (test fault)")]
    Refused(i64),
}

impl From<StoreError> for LoadError {
    fn from(e: StoreError) -> Self {
        LoadError::Store(Arc::new(e))
    }
}
