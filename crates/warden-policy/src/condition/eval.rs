//! Evaluation of a parsed condition over borrowed attributes.

use super::parse::Expr;
use super::{AttrValue, EvalError};

/// A borrowed attribute value: what [`Attributes`] hands to a condition, so evaluating
/// one never clones a string or a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrRef<'a> {
    /// A boolean flag.
    Bool(bool),
    /// A 32-bit signed integer.
    Int(i32),
    /// A string.
    Str(&'a str),
    /// A list of strings.
    List(&'a [String]),
}

impl AttrValue {
    /// Borrows this value.
    pub fn as_attr_ref(&self) -> AttrRef<'_> {
        match self {
            AttrValue::Bool(b) => AttrRef::Bool(*b),
            AttrValue::Int(n) => AttrRef::Int(*n),
            AttrValue::Str(s) => AttrRef::Str(s),
            AttrValue::List(l) => AttrRef::List(l),
        }
    }
}

/// Where a condition reads `r.sub.*` and `r.obj.*` from.
pub trait Attributes {
    /// `r.sub.<name>`, if present.
    fn sub(&self, name: &str) -> Option<AttrRef<'_>>;
    /// `r.obj.<name>`, if present.
    fn obj(&self, name: &str) -> Option<AttrRef<'_>>;
}

/// A runtime value, borrowed from the condition (literals) or the request (attributes).
/// Array literals and `List` attributes are both lists.
#[derive(Debug, Clone, Copy)]
enum Val<'a> {
    Bool(bool),
    Int(i32),
    Str(&'a str),
    /// A list attribute: every item is a string.
    List(&'a [String]),
    /// An array literal of scalars.
    Arr(&'a [AttrValue]),
}

impl Val<'_> {
    fn type_name(self) -> &'static str {
        match self {
            Val::Bool(_) => "bool",
            Val::Int(_) => "int",
            Val::Str(_) => "string",
            Val::List(_) | Val::Arr(_) => "list",
        }
    }

    /// Equality of a scalar with one item of an array literal.
    fn eq_item(self, item: &AttrValue) -> bool {
        match (self, item) {
            (Val::Bool(a), AttrValue::Bool(b)) => a == *b,
            (Val::Int(a), AttrValue::Int(b)) => a == *b,
            (Val::Str(a), AttrValue::Str(b)) => a == b,
            _ => false,
        }
    }

    /// Equality of two values of the same type name.
    fn same(self, other: Val<'_>) -> bool {
        fn str_item(s: &str, item: &AttrValue) -> bool {
            matches!(item, AttrValue::Str(t) if t == s)
        }
        match (self, other) {
            (Val::Bool(a), Val::Bool(b)) => a == b,
            (Val::Int(a), Val::Int(b)) => a == b,
            (Val::Str(a), Val::Str(b)) => a == b,
            (Val::List(a), Val::List(b)) => a == b,
            (Val::Arr(a), Val::Arr(b)) => a == b,
            (Val::List(l), Val::Arr(a)) | (Val::Arr(a), Val::List(l)) => {
                l.len() == a.len() && l.iter().zip(a).all(|(s, i)| str_item(s, i))
            }
            _ => false,
        }
    }
}

/// An operand as an error message names it: an attribute with the type it holds
/// (`r.obj.classification (string)`), a literal by its type.
fn operand(e: &Expr, v: Val<'_>) -> String {
    match e {
        Expr::Attr(side, name) => format!("r.{side}.{name} ({})", v.type_name()),
        _ => v.type_name().to_owned(),
    }
}

/// A type mismatch between `operands` (built only when evaluation fails): it names the
/// attributes among them.
fn mismatch(operands: &[&Expr], detail: String) -> EvalError {
    EvalError::TypeMismatch {
        detail,
        attributes: operands
            .iter()
            .filter_map(|e| match e {
                Expr::Attr(side, name) => Some(format!("r.{side}.{name}")),
                _ => None,
            })
            .collect(),
    }
}

fn value<'a, A: Attributes + ?Sized>(e: &'a Expr, env: &'a A) -> Result<Val<'a>, EvalError> {
    Ok(match e {
        Expr::Lit(AttrValue::Bool(b)) => Val::Bool(*b),
        Expr::Lit(AttrValue::Int(n)) => Val::Int(*n),
        Expr::Lit(AttrValue::Str(s)) => Val::Str(s),
        Expr::Lit(AttrValue::List(l)) => Val::List(l),
        Expr::Array(items) => Val::Arr(items),
        Expr::Attr(side, name) => {
            let found = if *side == "sub" {
                env.sub(name)
            } else {
                env.obj(name)
            };
            match found {
                None => return Err(EvalError::MissingAttribute(format!("r.{side}.{name}"))),
                Some(AttrRef::Bool(b)) => Val::Bool(b),
                Some(AttrRef::Int(n)) => Val::Int(n),
                Some(AttrRef::Str(s)) => Val::Str(s),
                Some(AttrRef::List(l)) => Val::List(l),
            }
        }
        _ => Val::Bool(truth(e, env)?),
    })
}

pub(super) fn truth<A: Attributes + ?Sized>(e: &Expr, env: &A) -> Result<bool, EvalError> {
    match e {
        Expr::Not(inner) => Ok(!truth(inner, env)?),
        Expr::And(items) => {
            for item in items {
                if !truth(item, env)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Expr::Or(items) => {
            for item in items {
                if truth(item, env)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Expr::Cmp(op, l, r) => {
            let (a, b) = (value(l, env)?, value(r, env)?);
            if matches!(*op, "==" | "!=") && a.type_name() != b.type_name() {
                // Never "just unequal": `r.obj.classification == 3` on a string "3" would
                // make a deny rule silently not fire. A mismatch is an error: the rule
                // cannot be evaluated (an allow grants nothing, a deny denies).
                let (ta, tb) = (operand(l, a), operand(r, b));
                return Err(mismatch(&[l, r], format!("cannot compare {ta} with {tb}")));
            }
            let ord = match (*op, a, b) {
                ("==", ..) => return Ok(a.same(b)),
                ("!=", ..) => return Ok(!a.same(b)),
                ("in", Val::List(_) | Val::Arr(_), Val::List(_) | Val::Arr(_)) => {
                    return Ok(false);
                }
                ("in", _, Val::Arr(items)) => return Ok(items.iter().any(|i| a.eq_item(i))),
                ("in", Val::Str(s), Val::List(items)) => {
                    return Ok(items.iter().any(|i| i == s));
                }
                ("in", _, Val::List(_)) => return Ok(false),
                ("in", ..) => {
                    let tb = operand(r, b);
                    // only the right side is wrong: anything may be looked for in a list
                    return Err(mismatch(
                        &[r],
                        format!("right side of `in` is {tb}, not a list"),
                    ));
                }
                (_, Val::Int(x), Val::Int(y)) => x.cmp(&y),
                (_, Val::Str(x), Val::Str(y)) => x.cmp(y),
                _ => {
                    let (ta, tb) = (operand(l, a), operand(r, b));
                    return Err(mismatch(&[l, r], format!("cannot order {ta} against {tb}")));
                }
            };
            Ok(match *op {
                "<" => ord.is_lt(),
                "<=" => ord.is_le(),
                ">" => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        _ => match value(e, env)? {
            Val::Bool(b) => Ok(b),
            // The grammar admits only attributes and `true`/`false` here, so this names one.
            v => Err(EvalError::NotBoolean {
                attribute: match e {
                    Expr::Attr(side, name) => Some(format!("r.{side}.{name}")),
                    _ => None,
                },
                found: v.type_name(),
            }),
        },
    }
}

/// Adapts owned-value lookups (the closure API of [`Condition::eval`]): each referenced
/// attribute is looked up once, up front, and missing ones are reported only if read.
pub(super) struct Prefetched(pub(super) Vec<(&'static str, String, Option<AttrValue>)>);

impl Prefetched {
    fn get(&self, side: &str, name: &str) -> Option<AttrRef<'_>> {
        self.0
            .iter()
            .find(|(s, n, _)| *s == side && n == name)
            .and_then(|(_, _, v)| v.as_ref().map(AttrValue::as_attr_ref))
    }
}

impl Attributes for Prefetched {
    fn sub(&self, name: &str) -> Option<AttrRef<'_>> {
        self.get("sub", name)
    }
    fn obj(&self, name: &str) -> Option<AttrRef<'_>> {
        self.get("obj", name)
    }
}
