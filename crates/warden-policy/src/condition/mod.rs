//! Policy conditions: a tiny, strictly validated boolean language over request attributes.
//!
//! A rule's condition (e.g. `r.sub.department == r.obj.department && r.sub.clearance >= 2`)
//! is handed to casbin's Rhai `eval()` with operation limits disabled, so this module is the
//! security boundary: [`Condition::parse`] accepts only the grammar below and refuses anything
//! else with a column-accurate [`ConditionError`].
//!
//! ```text
//! expr    := or
//! or      := and ( "||" and )*
//! and     := unary ( "&&" unary )*
//! unary   := "!" unary | cmp
//! cmp     := operand ( ("=="|"!="|"<"|"<="|">"|">=") operand | "in" operand )?
//! operand := INT | STRING | "true" | "false" | attr | "[" (literal ("," literal)*)? "]" | "(" expr ")"
//! attr    := "r.sub." IDENT | "r.obj." IDENT        (no spaces)
//! ```
//!
//! Strictness beyond the grammar:
//! * Every `expr` (top level and parenthesised) and every operand of `&&`, `||` and `!` must be
//!   boolean-shaped: a comparison, `in`, `!`/`&&`/`||`, `true`/`false` or an attribute (which
//!   must then hold a bool at run time). So `3`, `(3) == 3` and `[1] || true` are refused.
//! * Rhai binds `!` tighter than comparisons (`!a == b` is `(!a) == b` there), so a comparison
//!   right after a `!` operand is refused; write `!(a == b)`.
//! * Attribute names follow Rhai's identifier rule (`_*[A-Za-z][A-Za-z0-9_]*`), are at most 64
//!   characters and are not Rhai keywords. Integers lie in `-2147483647..=2147483647`. The Rhai
//!   symbol `<-` is refused (write `< -1`). Strings refuse backslashes and control characters.
//! * Whitespace is ASCII whitespace only, as in Rhai's tokenizer (a no-break space is an error).
//!   The length limit counts bytes of the trimmed text; error columns are 1-based character
//!   offsets into the text as given.
//!
//! [`Condition::eval`] agrees with Rhai on every valid condition whose attributes are all present,
//! except that it is stricter where Rhai quietly answers: a missing attribute is
//! [`EvalError::MissingAttribute`] (Rhai reads `()`), and `<`/`<=`/`>`/`>=` on anything but two
//! ints or two strings is [`EvalError::TypeMismatch`] (Rhai answers `false` for mixed types and
//! orders bools). An `EvalError` means the rule cannot be evaluated for this request: an allow
//! rule then grants nothing and a deny rule denies (see `policy::decide`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use eval::{AttrRef, Attributes};
use eval::{Prefetched, truth};
use lex::lex;
pub(crate) use parse::Expr;
use parse::parse;

mod eval;
mod lex;
mod parse;

/// Attribute value as seen by conditions. `i32` because casbin's Rhai is built with `only_i32`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// A boolean flag.
    Bool(bool),
    /// A 32-bit signed integer.
    Int(i32),
    /// A string.
    Str(String),
    /// A list of strings (scopes, groups, ...).
    List(Vec<String>),
}

/// Maximum length of a condition in bytes (after trimming surrounding ASCII whitespace).
pub const MAX_CONDITION_LEN: usize = 1024;
/// Maximum nesting of parentheses, `!` and array literals.
pub const MAX_DEPTH: usize = 16;

/// Why a condition text was refused. Columns are 1-based character offsets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// The trimmed text exceeds [`MAX_CONDITION_LEN`] bytes.
    #[error("condition longer than {MAX_CONDITION_LEN} characters ({len} bytes)")]
    TooLong { len: usize },
    /// Parentheses, `!` or arrays nest deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {MAX_DEPTH} at column {column}")]
    TooDeep { column: usize },
    /// A character or token that does not fit the grammar where it stands.
    #[error("unexpected token `{token}` at column {column}")]
    UnexpectedToken { token: String, column: usize },
    /// The text ended where more was required.
    #[error("unexpected end of condition, expected {expected}")]
    UnexpectedEnd { expected: &'static str },
    /// A construct that is never allowed: assignment, keywords, `p.`, floats, other quotes, ...
    #[error("{what} at column {column} is not allowed")]
    NotAllowed { what: String, column: usize },
    /// `x.y...` where `x.y` is not `r.sub` or `r.obj`.
    #[error(
        "unknown attribute root `{root}` at column {column} (only r.sub.* and r.obj.* are allowed)"
    )]
    UnknownRoot { root: String, column: usize },
    /// A malformed `r.sub.*` / `r.obj.*` attribute.
    #[error("invalid attribute `{text}` at column {column}: {reason}")]
    InvalidAttribute {
        text: String,
        column: usize,
        reason: &'static str,
    },
    /// A function or method call.
    #[error("unknown function `{name}` at column {column}")]
    UnknownFunction { name: String, column: usize },
    /// A bare word that is neither `true`, `false`, `in` nor an attribute.
    #[error(
        "unknown identifier `{name}` at column {column} (attributes are r.sub.NAME or r.obj.NAME)"
    )]
    UnknownIdentifier { name: String, column: usize },
    /// An integer literal that is malformed or outside `-2147483647..=2147483647`.
    #[error("integer literal at column {column} is malformed or does not fit in 32 bits")]
    BadInteger { column: usize },
    /// A bad string literal (unterminated, escapes, control characters, `r.`/`p.` inside).
    #[error("string literal at column {column} {problem}")]
    BadString {
        column: usize,
        problem: &'static str,
    },
    /// `a < b < c` and the like.
    #[error("chained comparison at column {column} (combine comparisons with &&)")]
    ChainedComparison { column: usize },
    /// `!a == b`, which Rhai reads as `(!a) == b`.
    #[error("`!` at column {column} is followed by a comparison; write `!(a == b)`")]
    AmbiguousNot { column: usize },
    /// A non-boolean operand where a boolean expression is required.
    #[error("expected a boolean expression at column {column}")]
    NotBoolean { column: usize },
    /// The right side of `in` is neither an array literal nor an attribute.
    #[error("right side of `in` at column {column} must be an array literal or an attribute")]
    InRightSide { column: usize },
}

impl ConditionError {
    /// The 1-based column the error points at, when it points at one.
    pub fn column(&self) -> Option<usize> {
        match self {
            Self::TooLong { .. } | Self::UnexpectedEnd { .. } => None,
            Self::TooDeep { column }
            | Self::UnexpectedToken { column, .. }
            | Self::NotAllowed { column, .. }
            | Self::UnknownRoot { column, .. }
            | Self::InvalidAttribute { column, .. }
            | Self::UnknownFunction { column, .. }
            | Self::UnknownIdentifier { column, .. }
            | Self::BadInteger { column }
            | Self::BadString { column, .. }
            | Self::ChainedComparison { column }
            | Self::AmbiguousNot { column }
            | Self::NotBoolean { column }
            | Self::InRightSide { column } => Some(*column),
        }
    }
}

/// Why evaluating a valid condition failed. Each names the attributes involved (as the
/// condition spells them, `r.sub.NAME` / `r.obj.NAME`), so a caller can see what to send or fix;
/// never their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The named attribute (e.g. `r.sub.clearance`) was not provided.
    #[error("missing attribute `{0}`")]
    MissingAttribute(String),
    /// An operator got operands of unsupported types.
    #[error("type mismatch: {detail}")]
    TypeMismatch {
        /// The operation and its operands' types (`cannot compare r.obj.classification
        /// (string) with int`).
        detail: String,
        /// The attributes among the operands.
        attributes: Vec<String>,
    },
    /// A boolean was required but another value was found.
    #[error("expected a boolean value{}, found {found}", attribute.as_ref().map(|a| format!(" in `{a}`")).unwrap_or_default())]
    NotBoolean {
        /// The attribute that held it.
        attribute: Option<String>,
        /// The type found.
        found: &'static str,
    },
}

/// The kind of an [`EvalError`], as APIs report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvalErrorKind {
    /// An attribute the condition reads was not provided.
    MissingAttribute,
    /// An attribute holds a value of a type the condition cannot use there.
    TypeMismatch,
    /// An attribute used as a boolean holds another type.
    NotBoolean,
}

impl EvalError {
    /// The kind, for APIs.
    pub fn kind(&self) -> EvalErrorKind {
        match self {
            Self::MissingAttribute(_) => EvalErrorKind::MissingAttribute,
            Self::TypeMismatch { .. } => EvalErrorKind::TypeMismatch,
            Self::NotBoolean { .. } => EvalErrorKind::NotBoolean,
        }
    }

    /// The attributes this error is about (`r.sub.NAME` / `r.obj.NAME`).
    pub fn attributes(&self) -> Vec<String> {
        match self {
            Self::MissingAttribute(a) => vec![a.clone()],
            Self::TypeMismatch { attributes, .. } => attributes.clone(),
            Self::NotBoolean { attribute, .. } => attribute.iter().cloned().collect(),
        }
    }
}

/// A parsed, validated condition. `Display` prints the trimmed source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    source: String,
    expr: Option<Expr>,
}

impl Condition {
    /// Parses and validates `text`. Empty or all-(ASCII-)whitespace text means "always true".
    ///
    /// # Errors
    /// A [`ConditionError`] naming the column and the problem when `text` is outside the grammar.
    pub fn parse(text: &str) -> Result<Condition, ConditionError> {
        let source = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if source.len() > MAX_CONDITION_LEN {
            return Err(ConditionError::TooLong { len: source.len() });
        }
        if source.is_empty() {
            return Ok(Condition {
                source: String::new(),
                expr: None,
            });
        }
        let offset = text.chars().take_while(char::is_ascii_whitespace).count();
        let chars: Vec<char> = source.chars().collect();
        // One line: policy files are line-based CSV, so a line break inside a condition would
        // make `policy export` write a file that `policy import` cannot read back.
        if let Some(column) = chars.iter().position(|c| c.is_control()) {
            return Err(ConditionError::NotAllowed {
                what: "a line break or control character".into(),
                column: offset + column + 1,
            });
        }
        let expr = parse(lex(&chars, offset)?)?;
        Ok(Condition {
            source: source.to_string(),
            expr: Some(expr),
        })
    }

    /// The trimmed source text (`""` for always-true).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The text to hand to casbin's `eval()`: the source, or `"true"` when empty.
    pub fn casbin_text(&self) -> &str {
        if self.source.is_empty() {
            "true"
        } else {
            &self.source
        }
    }

    /// The parsed expression (None for the empty, always-true condition): what policy
    /// analysis compiles into plans.
    pub(crate) fn expr(&self) -> Option<&Expr> {
        self.expr.as_ref()
    }

    /// Whether this is the empty, always-true condition.
    pub fn is_always_true(&self) -> bool {
        self.expr.is_none()
    }

    /// Evaluates against subject (`r.sub.*`) and object (`r.obj.*`) attribute lookups.
    ///
    /// # Errors
    /// An [`EvalError`] for a missing attribute or an operand of the wrong type: the rule
    /// cannot be evaluated (an allow grants nothing, a deny denies).
    pub fn eval(
        &self,
        sub: &dyn Fn(&str) -> Option<AttrValue>,
        obj: &dyn Fn(&str) -> Option<AttrValue>,
    ) -> Result<bool, EvalError> {
        let Some(e) = &self.expr else {
            return Ok(true);
        };
        let attrs = self
            .attributes()
            .into_iter()
            .map(|(side, name)| {
                let v = if side == "sub" {
                    sub(&name)
                } else {
                    obj(&name)
                };
                (side, name, v)
            })
            .collect();
        truth(e, &Prefetched(attrs))
    }

    /// Evaluates against borrowed attributes: no parsing and no allocation unless it fails.
    ///
    /// # Errors
    /// An [`EvalError`] for a missing attribute or an operand of the wrong type: the rule
    /// cannot be evaluated (an allow grants nothing, a deny denies).
    #[inline]
    pub fn eval_with<A: Attributes + ?Sized>(&self, attrs: &A) -> Result<bool, EvalError> {
        match &self.expr {
            None => Ok(true),
            Some(e) => truth(e, attrs),
        }
    }

    /// Every attribute this condition reads that `attrs` lacks, as `r.sub.NAME` / `r.obj.NAME`,
    /// in first-seen order: what a caller must send for it to be evaluated at all, whichever
    /// branch evaluation would take.
    pub fn missing_attributes<A: Attributes + ?Sized>(&self, attrs: &A) -> Vec<String> {
        self.missing_attributes_by(|side, name| {
            if side == "sub" {
                attrs.sub(name).is_some()
            } else {
                attrs.obj(name).is_some()
            }
        })
    }

    /// [`Condition::missing_attributes`] with `present(side, name)` saying what the request
    /// carries (`side` is `"sub"` or `"obj"`).
    pub fn missing_attributes_by(&self, present: impl Fn(&str, &str) -> bool) -> Vec<String> {
        self.attributes()
            .into_iter()
            .filter(|(side, name)| !present(side, name))
            .map(|(side, name)| format!("r.{side}.{name}"))
            .collect()
    }

    /// Attribute names referenced, as `("sub"|"obj", name)` pairs, deduplicated, in first-seen order.
    pub fn attributes(&self) -> Vec<(&'static str, String)> {
        fn walk(e: &Expr, out: &mut Vec<(&'static str, String)>) {
            match e {
                Expr::Attr(side, name) if !out.iter().any(|(s, n)| s == side && n == name) => {
                    out.push((side, name.clone()));
                }
                Expr::Not(inner) => walk(inner, out),
                Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| walk(i, out)),
                Expr::Cmp(_, l, r) => {
                    walk(l, out);
                    walk(r, out);
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        if let Some(e) = &self.expr {
            walk(e, &mut out);
        }
        out
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl FromStr for Condition {
    type Err = ConditionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Condition::parse(s)
    }
}

#[cfg(test)]
mod tests;
