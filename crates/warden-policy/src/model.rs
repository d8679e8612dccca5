//! Compiles `model.conf` into a typed plan that Rust evaluates directly.
//!
//! `model.conf` stays the source of truth: its `[matchers]` expression is parsed into a
//! [`Plan`] of `&&` / `||` over the terms Warden knows how to evaluate, and its
//! `[policy_effect]` must be deny-override. Anything else is refused with a
//! [`ModelError`] naming the part, so a model edit is either honoured or refused at load,
//! never silently mis-evaluated.
//!
//! Supported matcher terms (either operand order for `==` / `!=`):
//! * `p.act == "*"`, `p.sub != "x"`, ...: a policy column (`sub`, `dom`, `obj`, `act`,
//!   `scope`) against a string literal;
//! * `r.act == p.act`, `r.sub.principal == p.sub`, `r.obj.resource == p.obj`,
//!   `r.sub.tenant == p.dom`;
//! * `pathMatch(r.obj.resource, p.obj)` or `keyMatch2(r.obj.resource, p.obj)`;
//! * `p.scope in r.sub.scopes`;
//! * `g(r.sub.principal, p.sub, r.sub.tenant)`: the role is held in the request's tenant or
//!   globally (the member itself counts, as in casbin), and `g(r.sub.principal, p.sub, "*")`:
//!   the role is held globally;
//! * `eval(p.cond)`, only as the last `&&` term of the whole matcher, so conditions run
//!   only for rules that otherwise apply (today's strict semantics);
//! * `true`, `false` and parentheses.

/// The model every Warden policy is evaluated with (`policies/model.conf`).
pub const MODEL: &str = include_str!("../../../policies/model.conf");

use std::fmt;

/// The only effect Warden evaluates: deny overrides allow, no match is deny.
pub const DENY_OVERRIDE: &str = "some(where (p.eft == allow)) && !some(where (p.eft == deny))";

/// The request definition Warden's [`Subject`](super::Subject) / [`Object`](super::Object)
/// / action triple fills.
const REQUEST_DEFINITION: &str = "sub, obj, act";
/// The rule columns as Warden stores them (see [`Rule::casbin_row`](super::rule::Rule::casbin_row)).
const POLICY_DEFINITION: &str = "sub, dom, obj, act, scope, cond, eft, id";
/// Role assignments carry their domain: a tenant, or `*` for every tenant.
const ROLE_DEFINITION: &str = "_, _, _";

/// Why a model was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A required section or key is missing.
    #[error("model: missing `{0}`")]
    Missing(&'static str),
    /// A definition Warden cannot fill or evaluate.
    #[error("model: unsupported {what} `{found}` (Warden supports only `{supported}`)")]
    Unsupported {
        /// Which part (`policy_effect`, `request_definition`, ...).
        what: &'static str,
        /// The text found.
        found: String,
        /// What would be accepted.
        supported: &'static str,
    },
    /// The matcher contains a term the compiler does not evaluate.
    #[error("model: unsupported matcher term `{term}`: {why}")]
    Matcher {
        /// The offending piece of the matcher.
        term: String,
        /// Why it is refused.
        why: &'static str,
    },
}

/// A policy column a matcher term may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `p.sub`
    Sub,
    /// `p.obj`
    Obj,
    /// `p.act`
    Act,
    /// `p.scope`
    Scope,
    /// `p.dom`
    Dom,
}

/// One compiled matcher term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A constant (`true` / `false`).
    Const(bool),
    /// `p.<col> == "lit"` (or `!=` when `negated`).
    ColumnIs {
        /// The column.
        col: Column,
        /// The literal.
        lit: String,
        /// `!=` instead of `==`.
        negated: bool,
    },
    /// `r.act == p.act` (or `!=`).
    ActionEq(bool),
    /// `r.sub.principal == p.sub` (or `!=`).
    PrincipalEq(bool),
    /// `r.obj.resource == p.obj` (or `!=`).
    ResourceEq(bool),
    /// `r.sub.tenant == p.dom` (or `!=`).
    TenantEq(bool),
    /// `pathMatch(r.obj.resource, p.obj)`.
    PathMatch,
    /// `p.scope in r.sub.scopes`.
    ScopeHeld,
    /// `g(r.sub.principal, p.sub, r.sub.tenant)`: held in the request's tenant or globally.
    RoleOf,
    /// `g(r.sub.principal, p.sub, "*")`: held globally.
    RoleGlobal,
    /// `eval(p.cond)`.
    Condition,
}

/// A compiled matcher: `&&` / `||` over [`Term`]s, evaluated left to right with
/// short-circuit, as casbin's Rhai does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// A single term.
    Term(Term),
    /// All of these.
    And(Vec<Plan>),
    /// Any of these.
    Or(Vec<Plan>),
}

/// Which request dimensions every match is constrained by, so the index may select
/// candidates by them (a dimension the matcher does not constrain is not indexed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Dimensions {
    /// Every match has `p.sub == "*"` or `p.sub` among the principal and its roles.
    pub subject: bool,
    /// Every match has `p.act == "*"` or `p.act == r.act`.
    pub action: bool,
    /// Every match has `p.obj == "*"`, or `p.obj` equal to or matching the resource.
    pub object: bool,
    /// Every match has `p.dom == "*"` or `p.dom == r.sub.tenant`.
    pub tenant: bool,
}

/// A compiled `model.conf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    /// The matcher without its trailing `eval(p.cond)`.
    pub plan: Plan,
    /// Whether the matcher ends in `&& eval(p.cond)`.
    pub uses_condition: bool,
    /// What the index may select candidates by.
    pub dimensions: Dimensions,
}

impl Model {
    /// Compiles model text (the format of `policies/model.conf`).
    ///
    /// # Errors
    /// A [`ModelError`] naming the section or matcher term that is missing or unsupported.
    pub fn compile(text: &str) -> Result<Model, ModelError> {
        let sections = parse_ini(text);
        let get = |section: &'static str, key: &'static str| {
            sections
                .iter()
                .find(|(s, k, _)| s == section && k == key)
                .map(|(_, _, v)| v.as_str())
                .ok_or(ModelError::Missing(key))
        };
        let expect = |what, found: &str, supported: &'static str| {
            if normalise(found) == normalise(supported) {
                Ok(())
            } else {
                Err(ModelError::Unsupported {
                    what,
                    found: found.to_owned(),
                    supported,
                })
            }
        };
        expect(
            "request_definition",
            get("request_definition", "r")?,
            REQUEST_DEFINITION,
        )?;
        expect(
            "policy_definition",
            get("policy_definition", "p")?,
            POLICY_DEFINITION,
        )?;
        expect(
            "role_definition",
            get("role_definition", "g")?,
            ROLE_DEFINITION,
        )?;
        expect("policy_effect", get("policy_effect", "e")?, DENY_OVERRIDE)?;
        let matcher = get("matchers", "m")?;
        let toks = lex(matcher)?;
        let mut parser = Parser {
            src: matcher,
            toks,
            pos: 0,
        };
        let plan = parser.or()?;
        if let Some(t) = parser.toks.get(parser.pos) {
            return Err(matcher_err(&matcher[t.start..], "unexpected text"));
        }
        let (plan, uses_condition) = split_condition(plan)?;
        let dimensions = dimensions(&plan);
        Ok(Model {
            plan,
            uses_condition,
            dimensions,
        })
    }
}

fn normalise(s: &str) -> String {
    s.split_ascii_whitespace().collect::<Vec<_>>().join(" ")
}

/// `(section, key, value)` triples; `#` / `;` comment lines, `\` line continuations.
fn parse_ini(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            pending.push_str(cont);
            continue;
        }
        let line = std::mem::take(&mut pending) + line;
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_owned();
        } else if let Some((k, v)) = line.split_once('=') {
            out.push((section.clone(), k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

fn matcher_err(term: &str, why: &'static str) -> ModelError {
    let term: String = term.trim().chars().take(80).collect();
    ModelError::Matcher { term, why }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// `r.act`, `p.sub`, `r.sub.principal`, a function name, `in`, `true`, ...
    Word(String),
    Str(String),
    Sym(&'static str),
}

#[derive(Debug, Clone)]
struct Lexed {
    tok: Tok,
    start: usize,
    end: usize,
}

fn lex(src: &str) -> Result<Vec<Lexed>, ModelError> {
    const SYMS: [&str; 8] = ["==", "!=", "&&", "||", "(", ")", ",", "!"];
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = if let Some(s) = SYMS.iter().find(|s| src[i..].starts_with(**s)) {
            i += s.len();
            Tok::Sym(s)
        } else if c == b'"' {
            let close = src[i + 1..]
                .find('"')
                .ok_or_else(|| matcher_err(&src[i..], "unterminated string"))?;
            let s = src[i + 1..i + 1 + close].to_owned();
            i += close + 2;
            Tok::Str(s)
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
                i += 1;
            }
            Tok::Word(src[start..i].to_owned())
        } else {
            return Err(matcher_err(&src[i..], "unexpected character"));
        };
        out.push(Lexed { tok, start, end: i });
    }
    Ok(out)
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Lexed>,
    pos: usize,
}

/// An operand of a comparison or function call.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Operand {
    Ref(String),
    Lit(String),
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn eat(&mut self, sym: &str) -> bool {
        let hit = matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym);
        self.pos += usize::from(hit);
        hit
    }

    fn rest(&self, from: usize) -> &str {
        let start = self.toks.get(from).map_or(self.src.len(), |t| t.start);
        &self.src[start..]
    }

    fn span(&self, from: usize) -> &str {
        let start = self.toks.get(from).map_or(self.src.len(), |t| t.start);
        let end = self
            .toks
            .get(self.pos.saturating_sub(1))
            .map_or(self.src.len(), |t| t.end)
            .max(start);
        &self.src[start..end]
    }

    fn or(&mut self) -> Result<Plan, ModelError> {
        let mut items = Vec::new();
        loop {
            match self.and()? {
                Plan::Or(inner) => items.extend(inner),
                other => items.push(other),
            }
            if !self.eat("||") {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Plan::Or(items)
        })
    }

    fn and(&mut self) -> Result<Plan, ModelError> {
        let mut items = Vec::new();
        loop {
            match self.primary()? {
                Plan::And(inner) => items.extend(inner),
                other => items.push(other),
            }
            if !self.eat("&&") {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Plan::And(items)
        })
    }

    fn primary(&mut self) -> Result<Plan, ModelError> {
        let from = self.pos;
        if self.eat("(") {
            let inner = self.or()?;
            if !self.eat(")") {
                return Err(matcher_err(self.rest(from), "missing `)`"));
            }
            return Ok(inner);
        }
        if self.eat("!") {
            return Err(matcher_err(self.rest(from), "negation is not supported"));
        }
        let left = self.operand()?;
        let term = if let Some(Tok::Sym(op @ ("==" | "!="))) = self.peek() {
            let negated = *op == "!=";
            self.pos += 1;
            let right = self.operand()?;
            comparison(&left, &right, negated)
        } else if matches!(self.peek(), Some(Tok::Word(w)) if w == "in") {
            self.pos += 1;
            let right = self.operand()?;
            match (&left, &right) {
                (Operand::Ref(l), Operand::Ref(r)) if l == "p.scope" && r == "r.sub.scopes" => {
                    Some(Term::ScopeHeld)
                }
                _ => None,
            }
        } else {
            match &left {
                Operand::Ref(w) if w == "true" => Some(Term::Const(true)),
                Operand::Ref(w) if w == "false" => Some(Term::Const(false)),
                Operand::Ref(w) if w.starts_with("call:") => call(w),
                _ => None,
            }
        };
        match term {
            Some(t) => Ok(Plan::Term(t)),
            None => Err(matcher_err(
                self.span(from),
                "Warden's compiler does not evaluate this; see policy::model for the supported terms",
            )),
        }
    }

    /// A reference, a literal, or a call (returned as `Ref("call:name(arg,arg)")`).
    fn operand(&mut self) -> Result<Operand, ModelError> {
        let from = self.pos;
        let tok = self.toks.get(self.pos).map(|t| t.tok.clone());
        self.pos += 1;
        match tok {
            Some(Tok::Str(s)) => Ok(Operand::Lit(s)),
            Some(Tok::Word(w)) if self.eat("(") => {
                let mut args = Vec::new();
                if !self.eat(")") {
                    loop {
                        match self.operand()? {
                            Operand::Ref(r) => args.push(r),
                            Operand::Lit(l) => args.push(format!("\"{l}\"")),
                        }
                        if self.eat(")") {
                            break;
                        }
                        if !self.eat(",") {
                            return Err(matcher_err(self.rest(from), "malformed call"));
                        }
                    }
                }
                Ok(Operand::Ref(format!("call:{w}({})", args.join(","))))
            }
            Some(Tok::Word(w)) => Ok(Operand::Ref(w)),
            _ => Err(matcher_err(self.rest(from), "expected an operand")),
        }
    }
}

fn column(r: &str) -> Option<Column> {
    Some(match r {
        "p.sub" => Column::Sub,
        "p.obj" => Column::Obj,
        "p.act" => Column::Act,
        "p.scope" => Column::Scope,
        "p.dom" => Column::Dom,
        _ => return None,
    })
}

fn comparison(left: &Operand, right: &Operand, negated: bool) -> Option<Term> {
    use Operand::{Lit, Ref};
    let pair = |a: &str, b: &str| match (left, right) {
        (Ref(l), Ref(r)) => (l == a && r == b) || (l == b && r == a),
        _ => false,
    };
    if pair("r.act", "p.act") {
        return Some(Term::ActionEq(negated));
    }
    if pair("r.sub.principal", "p.sub") {
        return Some(Term::PrincipalEq(negated));
    }
    if pair("r.obj.resource", "p.obj") {
        return Some(Term::ResourceEq(negated));
    }
    if pair("r.sub.tenant", "p.dom") {
        return Some(Term::TenantEq(negated));
    }
    let (r, lit) = match (left, right) {
        (Ref(r), Lit(l)) | (Lit(l), Ref(r)) => (r, l),
        _ => return None,
    };
    Some(Term::ColumnIs {
        col: column(r)?,
        lit: lit.clone(),
        negated,
    })
}

fn call(w: &str) -> Option<Term> {
    Some(match w {
        "call:pathMatch(r.obj.resource,p.obj)" | "call:keyMatch2(r.obj.resource,p.obj)" => {
            Term::PathMatch
        }
        "call:g(r.sub.principal,p.sub,r.sub.tenant)" => Term::RoleOf,
        "call:g(r.sub.principal,p.sub,\"*\")" => Term::RoleGlobal,
        "call:eval(p.cond)" => Term::Condition,
        _ => return None,
    })
}

fn contains_condition(p: &Plan) -> bool {
    match p {
        Plan::Term(t) => *t == Term::Condition,
        Plan::And(items) | Plan::Or(items) => items.iter().any(contains_condition),
    }
}

/// Takes `eval(p.cond)` off the end of the top-level `&&`; refuses it anywhere else.
fn split_condition(plan: Plan) -> Result<(Plan, bool), ModelError> {
    let refuse = || {
        Err(matcher_err(
            "eval(p.cond)",
            "a condition must be the last `&&` term of the matcher, so it is evaluated only for rules that otherwise apply",
        ))
    };
    match plan {
        Plan::Term(Term::Condition) => Ok((Plan::Term(Term::Const(true)), true)),
        Plan::And(mut items) => {
            let last_is_cond = items.last() == Some(&Plan::Term(Term::Condition));
            if last_is_cond {
                items.pop();
            }
            if items.iter().any(contains_condition) {
                return refuse();
            }
            let plan = if items.len() == 1 {
                items.remove(0)
            } else {
                Plan::And(items)
            };
            Ok((plan, last_is_cond))
        }
        other if contains_condition(&other) => refuse(),
        other => Ok((other, false)),
    }
}

/// A top-level `&&` term constrains a dimension when every alternative in it is one of
/// that dimension's indexable terms.
fn dimensions(plan: &Plan) -> Dimensions {
    let conjuncts: Vec<&Plan> = match plan {
        Plan::And(items) => items.iter().collect(),
        other => vec![other],
    };
    let star = |t: &Term, want: Column| matches!(t, Term::ColumnIs { col, lit, negated: false } if *col == want && lit == "*");
    let all = |p: &Plan, ok: &dyn Fn(&Term) -> bool| -> bool {
        match p {
            Plan::Term(t) => ok(t),
            Plan::Or(items) => items.iter().all(|i| matches!(i, Plan::Term(t) if ok(t))),
            Plan::And(_) => false,
        }
    };
    let mut d = Dimensions::default();
    for c in conjuncts {
        d.subject |= all(c, &|t| {
            star(t, Column::Sub)
                || matches!(
                    t,
                    Term::RoleOf | Term::RoleGlobal | Term::PrincipalEq(false)
                )
        });
        d.tenant |= all(c, &|t| star(t, Column::Dom) || *t == Term::TenantEq(false));
        d.action |= all(c, &|t| star(t, Column::Act) || *t == Term::ActionEq(false));
        d.object |= all(c, &|t| {
            star(t, Column::Obj) || matches!(t, Term::PathMatch | Term::ResourceEq(false))
        });
    }
    d
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Column::Sub => "p.sub",
            Column::Obj => "p.obj",
            Column::Act => "p.act",
            Column::Scope => "p.scope",
            Column::Dom => "p.dom",
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SEED: &str = include_str!("../../../policies/model.conf");

    fn with_matcher(m: &str) -> String {
        let (head, _) = SEED.split_once("[matchers]").unwrap();
        format!("{head}[matchers]\nm = {m}\n")
    }

    #[test]
    fn the_shipped_model_compiles_to_an_indexable_plan_ending_in_its_condition() {
        let model = Model::compile(SEED).unwrap();
        assert!(model.uses_condition);
        let all = Dimensions {
            subject: true,
            action: true,
            object: true,
            tenant: true,
        };
        assert_eq!(model.dimensions, all);
        let Plan::And(terms) = &model.plan else {
            panic!("{:?}", model.plan)
        };
        assert_eq!(terms.len(), 5);
        assert_eq!(terms[2], Plan::Term(Term::PathMatch));
    }

    #[test]
    fn a_matcher_without_a_dimension_is_compiled_and_that_dimension_is_not_indexed() {
        let m = Model::compile(&with_matcher(
            "pathMatch(r.obj.resource, p.obj) && (p.sub == \"*\" || g(r.sub.principal, p.sub, r.sub.tenant))",
        ))
        .unwrap();
        assert!(!m.uses_condition);
        assert_eq!(
            m.dimensions,
            Dimensions {
                subject: true,
                action: false,
                object: true,
                tenant: false,
            }
        );
        // A disjunction across dimensions constrains none of them.
        let m = Model::compile(&with_matcher(
            "(p.act == \"GET\" || g(r.sub.principal, p.sub, r.sub.tenant)) && eval(p.cond)",
        ))
        .unwrap();
        assert_eq!(m.dimensions, Dimensions::default());
    }

    #[test]
    fn unsupported_matchers_and_effects_are_refused_naming_the_part() {
        let cases = [
            (
                with_matcher("r.act == p.act && keyMatch(r.obj.resource, p.obj)"),
                "unsupported matcher term `keyMatch(r.obj.resource, p.obj)`",
            ),
            (
                with_matcher("r.act == p.act && r.sub.department == p.sub"),
                "unsupported matcher term `r.sub.department == p.sub`",
            ),
            (
                with_matcher("!(r.act == p.act)"),
                "negation is not supported",
            ),
            (
                with_matcher("eval(p.cond) && r.act == p.act"),
                "a condition must be the last `&&` term",
            ),
            (
                with_matcher("r.act == p.act || eval(p.cond)"),
                "a condition must be the last `&&` term",
            ),
            (
                with_matcher("r.act == p.act && (p.scope == \"*\""),
                "missing `)`",
            ),
            (
                SEED.replace(
                    "e = some(where (p.eft == allow)) && !some(where (p.eft == deny))",
                    "e = !some(where (p.eft == deny))",
                ),
                "unsupported policy_effect `!some(where (p.eft == deny))`",
            ),
            (
                SEED.replace("g = _, _, _", "g = _, _"),
                "unsupported role_definition `_, _`",
            ),
            (
                SEED.replace(
                    "p = sub, dom, obj, act, scope, cond, eft, id",
                    "p = sub, obj, act, eft",
                ),
                "unsupported policy_definition",
            ),
            (SEED.replace("m = ", "mm = "), "missing `m`"),
        ];
        for (text, want) in cases {
            let err = Model::compile(&text).unwrap_err().to_string();
            assert!(err.contains(want), "got `{err}`, want `{want}`");
        }
    }
}
