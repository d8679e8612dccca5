//! The residual condition of a plan: a two-valued boolean formula over an object's attributes.
//!
//! Every atom is *true exactly when the condition language would evaluate it to `true` without
//! an error*: `classification <= 2` is false for an object with no `classification` or with a
//! string there. So a formula never has an "unevaluable" third value; the plan compiler has
//! already turned the condition language's errors (an allow that cannot be evaluated grants
//! nothing, a deny that cannot be evaluated denies) into ordinary true/false.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::AttrValue;

/// A comparison operator, as the condition language spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Cmp {
    /// Equal (same type and value).
    #[serde(rename = "==")]
    Eq,
    /// Not equal (same type, another value).
    #[serde(rename = "!=")]
    Ne,
    /// Less than (two ints or two strings, byte order).
    #[serde(rename = "<")]
    Lt,
    /// Less than or equal.
    #[serde(rename = "<=")]
    Le,
    /// Greater than.
    #[serde(rename = ">")]
    Gt,
    /// Greater than or equal.
    #[serde(rename = ">=")]
    Ge,
    /// The left side is an item of the list on the right (`left in right`).
    #[serde(rename = "in")]
    In,
    /// The list attribute holds the string value (`value in attribute`).
    #[serde(rename = "contains")]
    Contains,
}

impl Cmp {
    /// The condition language's operator text (`contains` has none: it is `in` reversed).
    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::In => "in",
            Cmp::Contains => "contains",
        }
    }

    pub(crate) fn from_op(op: &str) -> Option<Cmp> {
        Some(match op {
            "==" => Cmp::Eq,
            "!=" => Cmp::Ne,
            "<" => Cmp::Lt,
            "<=" => Cmp::Le,
            ">" => Cmp::Gt,
            ">=" => Cmp::Ge,
            "in" => Cmp::In,
            _ => return None,
        })
    }

    /// `b op' a` for `a op b` (ordering and equality only).
    pub(crate) fn flipped(self) -> Option<Cmp> {
        Some(match self {
            Cmp::Eq => Cmp::Eq,
            Cmp::Ne => Cmp::Ne,
            Cmp::Lt => Cmp::Gt,
            Cmp::Le => Cmp::Ge,
            Cmp::Gt => Cmp::Lt,
            Cmp::Ge => Cmp::Le,
            Cmp::In | Cmp::Contains => return None,
        })
    }

    /// The operator that holds exactly when this one does not, on well-typed operands.
    pub(crate) fn negated(self) -> Option<Cmp> {
        Some(match self {
            Cmp::Eq => Cmp::Ne,
            Cmp::Ne => Cmp::Eq,
            Cmp::Lt => Cmp::Ge,
            Cmp::Le => Cmp::Gt,
            Cmp::Gt => Cmp::Le,
            Cmp::Ge => Cmp::Lt,
            Cmp::In | Cmp::Contains => return None,
        })
    }
}

/// The type of an attribute value.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum AttrType {
    /// `true` / `false`.
    Bool,
    /// A 32-bit integer.
    Int,
    /// A string.
    String,
    /// A list of strings.
    List,
}

impl AttrType {
    /// Every type, in a fixed order.
    pub const ALL: [AttrType; 4] = [
        AttrType::Bool,
        AttrType::Int,
        AttrType::String,
        AttrType::List,
    ];

    /// The type of a value.
    pub fn of(v: &AttrValue) -> AttrType {
        match v {
            AttrValue::Bool(_) => AttrType::Bool,
            AttrValue::Int(_) => AttrType::Int,
            AttrValue::Str(_) => AttrType::String,
            AttrValue::List(_) => AttrType::List,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            AttrType::Bool => "bool",
            AttrType::Int => "int",
            AttrType::String => "string",
            AttrType::List => "list",
        }
    }
}

/// A residual condition over the object's attributes (typed JSON: `{"op": "and", "items":
/// [...]}`, `{"op": "compare", "attribute": "department", "cmp": "==", "value": "eng"}`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Cond {
    /// Every object.
    True,
    /// No object.
    False,
    /// All items hold.
    And {
        /// Two or more conditions.
        #[schema(no_recursion)]
        items: Vec<Cond>,
    },
    /// At least one item holds.
    Or {
        /// Two or more conditions.
        #[schema(no_recursion)]
        items: Vec<Cond>,
    },
    /// The item does not hold.
    Not {
        /// The negated condition.
        #[schema(no_recursion)]
        item: Box<Cond>,
    },
    /// `attribute cmp value` evaluates to true (false when the attribute is missing or its
    /// type does not fit the operator). `contains`: `value` is an item of the list attribute.
    Compare {
        /// Object attribute name.
        attribute: String,
        /// Operator.
        cmp: Cmp,
        /// A literal (bool, int, string or list of strings).
        #[schema(value_type = Object)]
        value: AttrValue,
    },
    /// `left cmp right` between two object attributes evaluates to true.
    CompareAttributes {
        /// Object attribute name.
        left: String,
        /// Operator (`contains` is not used here: `in` has the list on the right).
        cmp: Cmp,
        /// Object attribute name.
        right: String,
    },
    /// The attribute is present and holds a value of this type.
    HasType {
        /// Object attribute name.
        attribute: String,
        /// Its type.
        #[serde(rename = "type")]
        ty: AttrType,
    },
}

/// What an object type's attributes are, when every object of the type carries exactly these
/// attributes with these types (documents: `department`, `owner`, `classification`). A plan
/// restricted to a schema drops the type tests and the comparisons that cannot hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    attributes: BTreeMap<String, AttrType>,
}

impl Schema {
    /// A closed schema: these attributes, always present, and no others.
    pub fn new<'a>(attributes: impl IntoIterator<Item = (&'a str, AttrType)>) -> Self {
        Schema {
            attributes: attributes
                .into_iter()
                .map(|(n, t)| (n.to_owned(), t))
                .collect(),
        }
    }

    /// The type of an attribute; None when objects of the type never carry it.
    pub fn get(&self, name: &str) -> Option<AttrType> {
        self.attributes.get(name).copied()
    }
}

/// A concrete operand: an attribute value or an array literal (which may hold ints and bools).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Bool(bool),
    Int(i32),
    Str(String),
    List(Vec<String>),
    /// An array literal with at least one item that is not a string (all-string arrays are
    /// [`Val::List`]: the language treats both the same).
    Arr(Vec<AttrValue>),
}

impl Val {
    pub(crate) fn from_attr(v: &AttrValue) -> Val {
        match v {
            AttrValue::Bool(b) => Val::Bool(*b),
            AttrValue::Int(n) => Val::Int(*n),
            AttrValue::Str(s) => Val::Str(s.clone()),
            AttrValue::List(l) => Val::List(l.clone()),
        }
    }

    pub(crate) fn from_array(items: &[AttrValue]) -> Val {
        let strings: Option<Vec<String>> = items
            .iter()
            .map(|i| match i {
                AttrValue::Str(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        match strings {
            Some(l) => Val::List(l),
            None => Val::Arr(items.to_vec()),
        }
    }

    /// The value as a plan literal, when it is one (arrays with non-strings are not).
    pub(crate) fn to_attr(&self) -> Option<AttrValue> {
        Some(match self {
            Val::Bool(b) => AttrValue::Bool(*b),
            Val::Int(n) => AttrValue::Int(*n),
            Val::Str(s) => AttrValue::Str(s.clone()),
            Val::List(l) => AttrValue::List(l.clone()),
            Val::Arr(_) => return None,
        })
    }

    fn kind(&self) -> Kind {
        match self {
            Val::Bool(_) => Kind::Bool,
            Val::Int(_) => Kind::Int,
            Val::Str(_) => Kind::Str,
            Val::List(_) => Kind::List,
            Val::Arr(_) => Kind::Arr,
        }
    }

    fn eq_item(&self, item: &AttrValue) -> bool {
        match (self, item) {
            (Val::Bool(a), AttrValue::Bool(b)) => a == b,
            (Val::Int(a), AttrValue::Int(b)) => a == b,
            (Val::Str(a), AttrValue::Str(b)) => a == b,
            _ => false,
        }
    }
}

/// The shape of an operand, which alone decides whether an operator can be evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bool,
    Int,
    Str,
    List,
    Arr,
}

impl Kind {
    pub(crate) fn of_type(t: AttrType) -> Kind {
        match t {
            AttrType::Bool => Kind::Bool,
            AttrType::Int => Kind::Int,
            AttrType::String => Kind::Str,
            AttrType::List => Kind::List,
        }
    }
}

/// What `a op b` does for operands of these shapes: an error (the rule cannot be evaluated),
/// a constant, or a comparison of the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Typing {
    Error,
    Const(bool),
    Values,
}

/// The condition language's typing rules (`condition::eval`), operator by operator.
pub(crate) fn typing(op: Cmp, a: Kind, b: Kind) -> Typing {
    let list = |k: Kind| matches!(k, Kind::List | Kind::Arr);
    match op {
        Cmp::Eq | Cmp::Ne => {
            if a == b || (list(a) && list(b)) {
                Typing::Values
            } else {
                Typing::Error
            }
        }
        Cmp::In => match (a, b) {
            (x, y) if list(x) && list(y) => Typing::Const(false),
            (_, Kind::Arr) | (Kind::Str, Kind::List) => Typing::Values,
            (_, Kind::List) => Typing::Const(false),
            _ => Typing::Error,
        },
        Cmp::Contains => typing(Cmp::In, b, a),
        _ => match (a, b) {
            (Kind::Int, Kind::Int) | (Kind::Str, Kind::Str) => Typing::Values,
            _ => Typing::Error,
        },
    }
}

/// `a op b` as the condition language evaluates it; None when it cannot be evaluated.
pub(crate) fn apply(op: Cmp, a: &Val, b: &Val) -> Option<bool> {
    match typing(op, a.kind(), b.kind()) {
        Typing::Error => return None,
        Typing::Const(c) => return Some(c),
        Typing::Values => {}
    }
    let same = |a: &Val, b: &Val| match (a, b) {
        (Val::List(l), Val::Arr(r)) | (Val::Arr(r), Val::List(l)) => {
            l.len() == r.len()
                && l.iter()
                    .zip(r)
                    .all(|(s, i)| matches!(i, AttrValue::Str(t) if t == s))
        }
        _ => a == b,
    };
    let ord = match (a, b) {
        (Val::Int(x), Val::Int(y)) => Some(x.cmp(y)),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        _ => None,
    };
    Some(match op {
        Cmp::Eq => same(a, b),
        Cmp::Ne => !same(a, b),
        Cmp::In => match (a, b) {
            (_, Val::Arr(items)) => items.iter().any(|i| a.eq_item(i)),
            (Val::Str(s), Val::List(items)) => items.iter().any(|i| i == s),
            _ => false,
        },
        Cmp::Contains => return apply(Cmp::In, b, a),
        Cmp::Lt => ord?.is_lt(),
        Cmp::Le => ord?.is_le(),
        Cmp::Gt => ord?.is_gt(),
        Cmp::Ge => ord?.is_ge(),
    })
}

/// `And` of `items`, flattened and simplified (`True` dropped, `False` absorbs, duplicates
/// removed).
pub fn and(items: impl IntoIterator<Item = Cond>) -> Cond {
    junction(
        items,
        &Cond::True,
        &Cond::False,
        |c| match c {
            Cond::And { items } => Ok(items),
            other => Err(other),
        },
        |items| Cond::And { items },
    )
}

/// `Or` of `items`, flattened and simplified (`False` dropped, `True` absorbs, duplicates
/// removed).
pub fn or(items: impl IntoIterator<Item = Cond>) -> Cond {
    junction(
        items,
        &Cond::False,
        &Cond::True,
        |c| match c {
            Cond::Or { items } => Ok(items),
            other => Err(other),
        },
        |items| Cond::Or { items },
    )
}

/// [`and`] and [`or`]: `unit` is dropped, `zero` absorbs, nested junctions of the same kind
/// (`Ok` from `nested`) are flattened, duplicates removed, and `wrap` builds two or more.
fn junction(
    items: impl IntoIterator<Item = Cond>,
    unit: &Cond,
    zero: &Cond,
    nested: fn(Cond) -> Result<Vec<Cond>, Cond>,
    wrap: fn(Vec<Cond>) -> Cond,
) -> Cond {
    let mut out: Vec<Cond> = Vec::new();
    for item in items {
        if item == *unit {
            continue;
        }
        if item == *zero {
            return zero.clone();
        }
        let parts = match nested(item) {
            Ok(parts) => parts,
            Err(single) => vec![single],
        };
        for part in parts {
            if !out.contains(&part) {
                out.push(part);
            }
        }
    }
    match out.len() {
        0 => unit.clone(),
        1 => out.pop().unwrap_or_else(|| unit.clone()),
        _ => wrap(out),
    }
}

/// The negation of `c`, simplified.
pub fn not(c: Cond) -> Cond {
    match c {
        Cond::True => Cond::False,
        Cond::False => Cond::True,
        Cond::Not { item } => *item,
        other => Cond::Not {
            item: Box::new(other),
        },
    }
}

impl Cond {
    /// Whether an object with these attributes satisfies the condition.
    pub fn eval(&self, attrs: &BTreeMap<String, AttrValue>) -> bool {
        match self {
            Cond::True => true,
            Cond::False => false,
            Cond::And { items } => items.iter().all(|i| i.eval(attrs)),
            Cond::Or { items } => items.iter().any(|i| i.eval(attrs)),
            Cond::Not { item } => !item.eval(attrs),
            Cond::Compare {
                attribute,
                cmp,
                value,
            } => attrs.get(attribute).is_some_and(|a| {
                apply(*cmp, &Val::from_attr(a), &Val::from_attr(value)) == Some(true)
            }),
            Cond::CompareAttributes { left, cmp, right } => {
                match (attrs.get(left), attrs.get(right)) {
                    (Some(a), Some(b)) => {
                        apply(*cmp, &Val::from_attr(a), &Val::from_attr(b)) == Some(true)
                    }
                    _ => false,
                }
            }
            Cond::HasType { attribute, ty } => {
                attrs.get(attribute).is_some_and(|a| AttrType::of(a) == *ty)
            }
        }
    }

    /// This condition for objects of a closed [`Schema`]: type tests become constants,
    /// comparisons that cannot hold become `False`, and a negated comparison on a present,
    /// well-typed attribute becomes the opposite comparison (`!(a <= 2)` is `a > 2`).
    pub fn restrict(&self, schema: &Schema) -> Cond {
        match self {
            Cond::True | Cond::False => self.clone(),
            Cond::And { items } => and(items.iter().map(|i| i.restrict(schema))),
            Cond::Or { items } => {
                // On a present, well-typed attribute (what survives restriction) a
                // comparison or its opposite always holds: `c < 3 || c >= 3` is true.
                let items: Vec<Cond> = items.iter().map(|i| i.restrict(schema)).collect();
                let opposite = |c: &Cond| match c {
                    Cond::Compare {
                        attribute,
                        cmp,
                        value,
                    } => cmp.negated().map(|n| Cond::Compare {
                        attribute: attribute.clone(),
                        cmp: n,
                        value: value.clone(),
                    }),
                    _ => None,
                };
                if items
                    .iter()
                    .any(|i| opposite(i).is_some_and(|o| items.contains(&o)))
                {
                    return Cond::True;
                }
                or(items)
            }
            Cond::Not { item } => match item.restrict(schema) {
                Cond::Compare {
                    attribute,
                    cmp,
                    value,
                } if cmp.negated().is_some() => Cond::Compare {
                    attribute,
                    cmp: cmp.negated().unwrap_or(cmp),
                    value,
                },
                Cond::CompareAttributes { left, cmp, right } if cmp.negated().is_some() => {
                    Cond::CompareAttributes {
                        left,
                        cmp: cmp.negated().unwrap_or(cmp),
                        right,
                    }
                }
                other => not(other),
            },
            Cond::Compare {
                attribute,
                cmp,
                value,
            } => {
                let Some(t) = schema.get(attribute) else {
                    return Cond::False;
                };
                let v = Val::from_attr(value);
                match typing(*cmp, Kind::of_type(t), v.kind()) {
                    Typing::Error | Typing::Const(false) => Cond::False,
                    Typing::Const(true) => Cond::True,
                    Typing::Values => self.clone(),
                }
            }
            Cond::CompareAttributes { left, cmp, right } => {
                let (Some(a), Some(b)) = (schema.get(left), schema.get(right)) else {
                    return Cond::False;
                };
                match typing(*cmp, Kind::of_type(a), Kind::of_type(b)) {
                    Typing::Error | Typing::Const(false) => Cond::False,
                    Typing::Const(true) => Cond::True,
                    Typing::Values => self.clone(),
                }
            }
            Cond::HasType { attribute, ty } => {
                if schema.get(attribute) == Some(*ty) {
                    Cond::True
                } else {
                    Cond::False
                }
            }
        }
    }

    /// Every atom's attribute names, deduplicated, in first-seen order.
    pub fn attributes(&self) -> Vec<&str> {
        fn walk<'a>(c: &'a Cond, out: &mut Vec<&'a str>) {
            let mut add = |n: &'a str| {
                if !out.contains(&n) {
                    out.push(n);
                }
            };
            match c {
                Cond::True | Cond::False => {}
                Cond::And { items } | Cond::Or { items } => {
                    items.iter().for_each(|i| walk(i, out));
                }
                Cond::Not { item } => walk(item, out),
                Cond::Compare { attribute, .. } | Cond::HasType { attribute, .. } => {
                    add(attribute);
                }
                Cond::CompareAttributes { left, right, .. } => {
                    add(left);
                    add(right);
                }
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}

fn literal(v: &AttrValue) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "?".into())
}

impl Cond {
    fn write(&self, f: &mut fmt::Formatter<'_>, parent_and: bool) -> fmt::Result {
        match self {
            Cond::True => f.write_str("true"),
            Cond::False => f.write_str("false"),
            Cond::And { items } => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" && ")?;
                    }
                    item.write(f, true)?;
                }
                Ok(())
            }
            Cond::Or { items } => {
                if parent_and {
                    f.write_str("(")?;
                }
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" || ")?;
                    }
                    item.write(f, false)?;
                }
                if parent_and {
                    f.write_str(")")?;
                }
                Ok(())
            }
            Cond::Not { item } => {
                f.write_str("!(")?;
                item.write(f, false)?;
                f.write_str(")")
            }
            Cond::Compare {
                attribute,
                cmp: Cmp::Contains,
                value,
            } => write!(f, "{} in {attribute}", literal(value)),
            Cond::Compare {
                attribute,
                cmp,
                value,
            } => write!(f, "{attribute} {} {}", cmp.as_str(), literal(value)),
            Cond::CompareAttributes { left, cmp, right } => {
                write!(f, "{left} {} {right}", cmp.as_str())
            }
            Cond::HasType { attribute, ty } => write!(f, "{attribute} is {}", ty.as_str()),
        }
    }
}

/// The readable form: `department == "eng" && classification <= 2 || owner == "alice"`.
impl fmt::Display for Cond {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}
