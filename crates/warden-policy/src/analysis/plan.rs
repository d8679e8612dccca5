//! Plans: the policy for one (subject, action, object type), compiled into a residual
//! condition over the object's attributes.
//!
//! The subject, the action and the object type fix which rules apply (the matcher never reads
//! an object attribute outside `eval(p.cond)`), and the subject's attributes are known, so only
//! the object's attributes stay open. The decision function's semantics carry over exactly:
//!
//! ```text
//! allowed(obj) = OR over applicable allow rules  of  TRUE(cond)
//!            && AND over applicable deny rules   of  FALSE(cond)
//! ```
//!
//! where `TRUE(c)` / `FALSE(c)` say that the condition evaluates to true / false *without an
//! error*: an allow whose condition cannot be evaluated grants nothing, and a deny whose
//! condition cannot be evaluated denies, because it is neither true (no grant) nor false (the
//! deny is not cleared). Short-circuit evaluation is respected (`a && b` is false when `a` is
//! false, whatever `b` would do), so the plan agrees with [`Policy::decide`] on every object;
//! `analysis::tests` checks that on random policies and objects.

use serde::{Deserialize, Serialize};

use super::cond::{AttrType, Cmp, Cond, Kind, Schema, Typing, Val, and, apply, not, or, typing};
use crate::condition::Expr;
use crate::decide::Policy;
use crate::rule::Effect;
use crate::{AttrValue, Object, Subject};

/// What a plan says, at a glance.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    /// Every object of the type is allowed.
    Always,
    /// No object of the type is allowed.
    Never,
    /// Exactly the objects that satisfy `condition`.
    Conditional,
}

/// The plan for one (subject, action, object type).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Plan {
    /// `always`, `never` or `conditional`.
    pub kind: PlanKind,
    /// The residual condition over the object's attributes (`{"op": "true"}` for always).
    pub condition: Cond,
    /// The condition, readable: `department == "eng" && classification <= 2 || owner == "alice"`.
    pub text: String,
}

impl Plan {
    /// A plan for this condition.
    pub fn new(condition: Cond) -> Plan {
        let kind = match condition {
            Cond::True => PlanKind::Always,
            Cond::False => PlanKind::Never,
            _ => PlanKind::Conditional,
        };
        Plan {
            kind,
            text: condition.to_string(),
            condition,
        }
    }
}

/// Compiles the plan for `sub` doing `act` on objects of `object_type`. With a `schema`, the
/// plan is restricted to objects that carry exactly its attributes (simpler, and what a
/// database filter needs); without, it holds for objects with any attributes.
pub fn plan(
    policy: &Policy,
    sub: &Subject,
    act: &str,
    object_type: &str,
    schema: Option<&Schema>,
) -> Plan {
    let condition = residual(policy, sub, act, object_type);
    Plan::new(match schema {
        Some(s) => condition.restrict(s),
        None => condition,
    })
}

/// The unrestricted residual condition (see the module docs).
pub fn residual(policy: &Policy, sub: &Subject, act: &str, object_type: &str) -> Cond {
    compile(policy, sub, act, object_type, Some(object_type))
}

/// The residual condition for objects of any type that no rule names (the rules for `*`
/// apply): the object's type, `r.obj.resource`, stays open and appears in the condition as
/// the attribute `resource`.
pub fn residual_any_type(policy: &Policy, sub: &Subject, act: &str) -> Cond {
    compile(policy, sub, act, "*", None)
}

fn compile(
    policy: &Policy,
    sub: &Subject,
    act: &str,
    resource: &str,
    object_type: Option<&str>,
) -> Cond {
    let ctx = Ctx { sub, object_type };
    let mut allows = Vec::new();
    let mut denies = Vec::new();
    for (rule, _) in policy.explain(sub, &Object::route(resource), act) {
        let (t, f) = match rule.condition.expr() {
            Some(e) if policy.uses_conditions() => ctx.truth(e),
            _ => (Cond::True, Cond::False),
        };
        match rule.effect {
            Effect::Allow => allows.push(t),
            Effect::Deny => denies.push(f),
        }
    }
    and([or(allows), and(denies)])
}

/// A symbolic operand: a known value, or an object attribute of a known type.
enum Sym {
    Val(Val),
    Attr(String, AttrType),
}

/// The values an operand may take, each under a guard; an operand that cannot be evaluated
/// (a missing subject attribute) has no case.
type Cases = Vec<(Cond, Sym)>;

struct Ctx<'a> {
    sub: &'a Subject,
    /// `r.obj.resource`, when it is known.
    object_type: Option<&'a str>,
}

impl Ctx<'_> {
    /// The subject's attribute as `decide` reads it (`r.sub.name`, `principal`, `scopes`
    /// first).
    fn sub_attr(&self, name: &str) -> Option<Val> {
        match name {
            "name" => Some(Val::Str(self.sub.name.clone())),
            "principal" => Some(Val::Str(self.sub.principal.clone())),
            "scopes" => Some(Val::List(self.sub.scopes.clone())),
            _ => self.sub.attributes.get(name).map(Val::from_attr),
        }
    }

    fn operand(&self, e: &Expr) -> Cases {
        match e {
            Expr::Lit(v) => vec![(Cond::True, Sym::Val(Val::from_attr(v)))],
            Expr::Array(items) => vec![(Cond::True, Sym::Val(Val::from_array(items)))],
            Expr::Attr(side, name) if *side == "sub" => self
                .sub_attr(name)
                .map(|v| (Cond::True, Sym::Val(v)))
                .into_iter()
                .collect(),
            Expr::Attr(_, name) if name == "resource" => match self.object_type {
                Some(t) => vec![(Cond::True, Sym::Val(Val::Str(t.to_owned())))],
                // Every object has a type, and it is a string.
                None => vec![(Cond::True, Sym::Attr(name.clone(), AttrType::String))],
            },
            Expr::Attr(_, name) => AttrType::ALL
                .iter()
                .map(|&ty| {
                    (
                        Cond::HasType {
                            attribute: name.clone(),
                            ty,
                        },
                        Sym::Attr(name.clone(), ty),
                    )
                })
                .collect(),
            _ => {
                let (t, f) = self.truth(e);
                vec![
                    (t, Sym::Val(Val::Bool(true))),
                    (f, Sym::Val(Val::Bool(false))),
                ]
            }
        }
    }

    /// (when `e` evaluates to true, when it evaluates to false); neither is an error.
    fn truth(&self, e: &Expr) -> (Cond, Cond) {
        match e {
            Expr::Lit(AttrValue::Bool(b)) => constant(*b),
            Expr::Lit(_) | Expr::Array(_) => (Cond::False, Cond::False),
            Expr::Not(inner) => {
                let (t, f) = self.truth(inner);
                (f, t)
            }
            Expr::And(items) => {
                let (mut t_prefix, mut falses) = (Vec::new(), Vec::new());
                for item in items {
                    let (t, f) = self.truth(item);
                    falses.push(and(t_prefix.iter().cloned().chain([f])));
                    t_prefix.push(t);
                }
                (and(t_prefix), or(falses))
            }
            Expr::Or(items) => {
                let (mut f_prefix, mut trues) = (Vec::new(), Vec::new());
                for item in items {
                    let (t, f) = self.truth(item);
                    trues.push(and(f_prefix.iter().cloned().chain([t])));
                    f_prefix.push(f);
                }
                (or(trues), and(f_prefix))
            }
            Expr::Cmp(op, l, r) => match Cmp::from_op(op) {
                Some(op) => self.compare(op, self.operand(l), self.operand(r)),
                None => (Cond::False, Cond::False),
            },
            Expr::Attr(..) => {
                let (mut t, mut f) = (Vec::new(), Vec::new());
                for (guard, sym) in self.operand(e) {
                    match sym {
                        Sym::Val(Val::Bool(b)) => {
                            if b { &mut t } else { &mut f }.push(guard);
                        }
                        Sym::Attr(name, AttrType::Bool) => {
                            t.push(compare(&name, Cmp::Eq, AttrValue::Bool(true)));
                            f.push(compare(&name, Cmp::Eq, AttrValue::Bool(false)));
                        }
                        _ => {}
                    }
                }
                (or(t), or(f))
            }
        }
    }

    fn compare(&self, op: Cmp, left: Cases, right: Cases) -> (Cond, Cond) {
        let (mut t, mut f) = (Vec::new(), Vec::new());
        for (gl, a) in &left {
            for (gr, b) in &right {
                let (ct, cf) = pair(op, a, b, gl, gr);
                t.push(ct);
                f.push(cf);
            }
        }
        (or(t), or(f))
    }
}

fn constant(b: bool) -> (Cond, Cond) {
    if b {
        (Cond::True, Cond::False)
    } else {
        (Cond::False, Cond::True)
    }
}

fn compare(attribute: &str, cmp: Cmp, value: AttrValue) -> Cond {
    Cond::Compare {
        attribute: attribute.to_owned(),
        cmp,
        value,
    }
}

fn kind_of(s: &Sym) -> Kind {
    match s {
        Sym::Val(v) => match v {
            Val::Bool(_) => Kind::Bool,
            Val::Int(_) => Kind::Int,
            Val::Str(_) => Kind::Str,
            Val::List(_) => Kind::List,
            Val::Arr(_) => Kind::Arr,
        },
        Sym::Attr(_, t) => Kind::of_type(*t),
    }
}

/// (true, false) of `a op b` under the operands' guards. An atom over one attribute implies
/// that attribute's type, so its guard is left out there.
fn pair(op: Cmp, a: &Sym, b: &Sym, gl: &Cond, gr: &Cond) -> (Cond, Cond) {
    let guard = || and([gl.clone(), gr.clone()]);
    let (ka, kb) = (kind_of(a), kind_of(b));
    match typing(op, ka, kb) {
        Typing::Error => return (Cond::False, Cond::False),
        Typing::Const(c) => {
            let (t, f) = constant(c);
            return (and([guard(), t]), and([guard(), f]));
        }
        Typing::Values => {}
    }
    match (a, b) {
        (Sym::Val(x), Sym::Val(y)) => match apply(op, x, y) {
            Some(c) => {
                let (t, f) = constant(c);
                (and([guard(), t]), and([guard(), f]))
            }
            None => (Cond::False, Cond::False),
        },
        (Sym::Attr(x, ty), Sym::Val(v)) => {
            let (t, f) = attr_value(op, x, *ty, v);
            (and([gr.clone(), t]), and([gr.clone(), f]))
        }
        (Sym::Val(v), Sym::Attr(x, ty)) => {
            let (t, f) = match op.flipped() {
                Some(flipped) => attr_value(flipped, x, *ty, v),
                // `v in x`: x is a list attribute (the typing says so), v a string.
                None => match v.to_attr() {
                    Some(value) => {
                        let atom = compare(x, Cmp::Contains, value);
                        let has = Cond::HasType {
                            attribute: x.clone(),
                            ty: *ty,
                        };
                        (atom.clone(), and([has, not(atom)]))
                    }
                    None => (Cond::False, Cond::False),
                },
            };
            (and([gl.clone(), t]), and([gl.clone(), f]))
        }
        (Sym::Attr(x, _), Sym::Attr(y, _)) => {
            let atom = Cond::CompareAttributes {
                left: x.clone(),
                cmp: op,
                right: y.clone(),
            };
            (and([guard(), atom.clone()]), and([guard(), not(atom)]))
        }
    }
}

/// (true, false) of `x op v` for an attribute `x` of type `ty` (well-typed: the caller checked).
fn attr_value(op: Cmp, x: &str, ty: AttrType, v: &Val) -> (Cond, Cond) {
    let has = || Cond::HasType {
        attribute: x.to_owned(),
        ty,
    };
    if op == Cmp::In {
        // `x in [..]`: x equals one of the items of its own type.
        let items: Vec<AttrValue> = match v {
            Val::List(l) => l.iter().cloned().map(AttrValue::Str).collect(),
            Val::Arr(items) => items.clone(),
            _ => Vec::new(),
        };
        let matching: Vec<AttrValue> = items
            .into_iter()
            .filter(|i| AttrType::of(i) == ty)
            .collect();
        if matching.is_empty() {
            return (Cond::False, has());
        }
        let t = or(matching.iter().map(|i| compare(x, Cmp::Eq, i.clone())));
        let f = and(matching.iter().map(|i| compare(x, Cmp::Ne, i.clone())));
        return (t, f);
    }
    match v.to_attr() {
        Some(value) => {
            let neg = op.negated().unwrap_or(op);
            (compare(x, op, value.clone()), compare(x, neg, value))
        }
        // A list attribute against an array literal holding a non-string: never equal.
        None => {
            let (t, f) = constant(op == Cmp::Ne);
            (and([has(), t]), and([has(), f]))
        }
    }
}
