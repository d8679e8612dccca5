//! The values [`super::prove`] tries for the attributes one class of requests leaves free, and
//! why they stand for every value.
//!
//! A condition is built from atoms, and an atom's outcome (true, false or an error) depends on
//! its operands only through their **order type**: which type each value has, and how each
//! value lies relative to the constants and to the other values it meets in an atom (`<`, `=`
//! or `>`; for a list, which of those values it contains and whether it equals another list).
//! Two requests of the same order type are decided alike by every rule and the premise, so one
//! request per order type covers them all. The values below realise every order type:
//!
//! - **Groups.** Attributes that meet in an atom (`r.sub.a < r.obj.b`, or `a in L` and
//!   `b in L`) form a *linked group*; its *constants* are the literals its members meet (and the
//!   fixed values of built-ins in it: the subject's name, principal, tenant, scopes, the
//!   resource). Only values of one group are ever compared, so each group is partitioned at
//!   its own constants, and an attribute compared with nothing varies over few values.
//! - **Types.** Each attribute is missing, or of each type it is used as (types spread along
//!   `==`/`!=`/`<`... between attributes: `a == b` compares two ints as well as two strings),
//!   or of one type it is not used as (every such type answers every atom alike: an error, or
//!   false for `in`), `m` distinct values of it so that same-typed wrong values can still be
//!   equal or not. A wrong type is tried only where it answers unlike a missing value (an
//!   error too, and errors are all alike to the decision): `x in ...`, or `x == y`/`x != y`.
//! - **Strings and ints** (`m` = the group's members of that type). Compared only with `==`,
//!   `!=`, `in [...]`: each constant and `m` fresh values. Ordered (`<`, `<=`, `>`, `>=`
//!   against a string or another attribute): each constant, and up to `m` distinct values
//!   inside each gap of the sorted constants, below the smallest and above the largest (for
//!   strings `c + "a"` ... checked to lie below the next constant, falling back to `c + "\0"`;
//!   `""` and `"a"`... below the smallest). Any `m` values of a group then fit in one gap in
//!   every order (`<`, `=`, `>`) they can take there.
//! - **Lists** (varied after the other attributes, since their classes depend on those
//!   values). Only membership (`x in L`) and equality with a list (`L == [...]`, `L == M`) look
//!   inside a list. Let `V` be the values the tests `x in L` (of `L`'s type group) look for in
//!   this request: `L` is each subset of `V` (sorted), each such subset with `1..=k` fresh
//!   elements added (`k` = lists it can be compared with, so a list can equal an array's
//!   members and still differ from it), and each array literal it is compared with. Any list
//!   agrees with one of these on every membership test and every equality; monotonicity is not
//!   assumed (a `!`, a deny rule). Because every tested `x` is in `L`'s linked group, the
//!   values realise every pattern of which tested values are equal.

use std::collections::{BTreeSet, HashMap};

use crate::condition::{AttrRef, Attributes, Expr};
use crate::{AttrValue, Object, Subject};

/// An attribute, as (side, name).
pub(super) type Key = (&'static str, String);

/// The attributes a request's structure fixes, as conditions (and `Policy::decide`) read them.
const BUILTINS: [(&str, &str); 5] = [
    ("sub", "name"),
    ("sub", "principal"),
    ("sub", "tenant"),
    ("sub", "scopes"),
    ("obj", "resource"),
];

/// Whether `key` is fixed by the request's structure (name, principal, tenant, scopes,
/// resource) rather than an attribute the search varies.
fn is_builtin(key: &Key) -> bool {
    BUILTINS.iter().any(|(s, n)| *s == key.0 && *n == key.1)
}

/// A subject and an object as conditions read them (as the decision function does).
pub(super) struct View<'a>(pub(super) &'a Subject, pub(super) &'a Object);

impl Attributes for View<'_> {
    fn sub(&self, name: &str) -> Option<AttrRef<'_>> {
        match name {
            "name" => Some(AttrRef::Str(&self.0.name)),
            "principal" => Some(AttrRef::Str(&self.0.principal)),
            "tenant" => Some(AttrRef::Str(&self.0.tenant)),
            "scopes" => Some(AttrRef::List(&self.0.scopes)),
            _ => self.0.attributes.get(name).map(AttrValue::as_attr_ref),
        }
    }

    fn obj(&self, name: &str) -> Option<AttrRef<'_>> {
        match name {
            "resource" => Some(AttrRef::Str(&self.1.resource)),
            _ => self.1.attributes.get(name).map(AttrValue::as_attr_ref),
        }
    }
}

impl View<'_> {
    fn get(&self, key: &Key) -> Option<AttrRef<'_>> {
        if key.0 == "sub" {
            self.sub(&key.1)
        } else {
            self.obj(&key.1)
        }
    }
}

/// How an attribute is used, which picks its types.
#[derive(Debug, Clone, Copy, Default)]
struct Uses {
    int: bool,
    string: bool,
    boolean: bool,
    list: bool,
}

impl Uses {
    fn or(&mut self, other: Uses) {
        self.int |= other.int;
        self.string |= other.string;
        self.boolean |= other.boolean;
        self.list |= other.list;
    }
}

/// What the conditions say about one attribute.
#[derive(Debug, Clone, Default)]
struct Facts {
    uses: Uses,
    /// Compared with `<`... against a string or an attribute: the order of its strings matters.
    orders_strings: bool,
    /// Compared with `<`... against an int or an attribute.
    orders_ints: bool,
    /// Where a value of a type it is not used as answers differently from a missing one (both
    /// are otherwise errors): looked for with `in` (false), or compared with `==`/`!=` to an
    /// attribute (which may hold the same type).
    wrong_type_matters: bool,
    strings: BTreeSet<String>,
    ints: BTreeSet<i32>,
    /// Array literals of strings it is compared with as a list (`==`, `!=`).
    arrays: BTreeSet<Vec<String>>,
}

/// Something looked for in a list attribute with `in`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Operand {
    Const(String),
    Attr(Key),
}

/// The attributes a set of conditions reads, how, and which of them meet.
#[derive(Debug, Default)]
pub(super) struct Domains {
    keys: Vec<Key>,
    index: HashMap<Key, usize>,
    facts: Vec<Facts>,
    /// Union-find over attributes compared with each other (they share types).
    same_type: Vec<usize>,
    /// Union-find over attributes whose values meet in an atom (compared, or looked for in the
    /// same list): the linked groups.
    linked: Vec<usize>,
    /// `operand in list`.
    tests: Vec<(Operand, usize)>,
}

/// What one structural class fixes: the built-in attributes' values.
pub(super) struct Fixed<'a> {
    /// The subject's name; None for a fresh user, whose name varies.
    pub(super) name: Option<&'a str>,
    /// `user:...`.
    pub(super) principal: &'a str,
    /// The tenant.
    pub(super) tenant: &'a str,
    /// The token scopes.
    pub(super) scopes: &'a [String],
    /// The object's resource.
    pub(super) resource: &'a str,
}

fn root(parent: &[usize], mut i: usize) -> usize {
    while parent[i] != i {
        i = parent[i];
    }
    i
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (root(parent, a), root(parent, b));
    parent[ra] = rb;
}

impl Domains {
    /// What `conditions` read.
    pub(super) fn of(conditions: &[&crate::condition::Condition]) -> Self {
        let mut d = Domains::default();
        for c in conditions {
            if let Some(e) = c.expr() {
                d.walk(e);
            }
        }
        d
    }

    /// Whether a condition reads `key`.
    pub(super) fn reads(&self, key: &Key) -> bool {
        self.index.contains_key(key)
    }

    fn key(&mut self, side: &'static str, name: &str) -> usize {
        let key = (side, name.to_owned());
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.keys.len();
        let mut facts = Facts::default();
        if is_builtin(&key) {
            if key.1 == "scopes" {
                facts.uses.list = true;
            } else {
                facts.uses.string = true;
            }
        }
        self.index.insert(key.clone(), i);
        self.keys.push(key);
        self.facts.push(facts);
        self.same_type.push(i);
        self.linked.push(i);
        i
    }

    fn walk(&mut self, e: &Expr) {
        match e {
            Expr::Attr(side, name) => {
                let k = self.key(side, name);
                self.facts[k].uses.boolean = true;
            }
            Expr::Lit(_) | Expr::Array(_) => {}
            Expr::Not(inner) => self.walk(inner),
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| self.walk(i)),
            Expr::Cmp(op, l, r) => self.compare(op, l, r),
        }
    }

    /// An operand of a comparison: the attribute it is, if one (a parenthesised boolean
    /// expression is walked).
    fn operand(&mut self, e: &Expr) -> Option<usize> {
        match e {
            Expr::Attr(side, name) => Some(self.key(side, name)),
            Expr::Lit(_) | Expr::Array(_) => None,
            other => {
                self.walk(other);
                None
            }
        }
    }

    fn compare(&mut self, op: &str, l: &Expr, r: &Expr) {
        let ordering = matches!(op, "<" | "<=" | ">" | ">=");
        let (lk, rk) = (self.operand(l), self.operand(r));
        match (lk, rk) {
            (Some(a), Some(b)) if op == "in" => {
                self.facts[a].uses.string = true;
                self.facts[a].wrong_type_matters = true;
                self.facts[b].uses.list = true;
                self.tests.push((Operand::Attr(self.keys[a].clone()), b));
                union(&mut self.linked, a, b);
            }
            (Some(a), Some(b)) => {
                union(&mut self.same_type, a, b);
                union(&mut self.linked, a, b);
                for k in [a, b] {
                    let f = &mut self.facts[k];
                    // Two attributes are compared as any type both hold: `==` as strings (or
                    // whatever else they are used as), `<` as ints and as strings.
                    f.uses.string = true;
                    f.uses.int |= ordering;
                    f.orders_strings |= ordering;
                    f.orders_ints |= ordering;
                    // Ordering makes both ints and strings used: other types are errors.
                    f.wrong_type_matters |= !ordering;
                }
            }
            (None, Some(list)) if op == "in" => {
                // Only a string can be in a list; anything else is false (or an error when
                // the attribute is no list).
                self.facts[list].uses.list = true;
                if let Expr::Lit(AttrValue::Str(s)) = l {
                    self.facts[list].strings.insert(s.clone());
                    self.tests.push((Operand::Const(s.clone()), list));
                }
            }
            (Some(a), None) | (None, Some(a)) => {
                let other = if lk.is_some() { r } else { l };
                let f = &mut self.facts[a];
                match other {
                    Expr::Lit(AttrValue::Int(i)) => {
                        f.uses.int = true;
                        f.ints.insert(*i);
                        f.orders_ints |= ordering;
                    }
                    Expr::Lit(AttrValue::Str(s)) => {
                        f.uses.string = true;
                        f.strings.insert(s.clone());
                        f.orders_strings |= ordering;
                    }
                    Expr::Lit(AttrValue::Bool(_)) => f.uses.boolean = true,
                    // `a in [...]`: `a` equals one of the items.
                    Expr::Array(items) if op == "in" => {
                        f.wrong_type_matters = true;
                        for v in items {
                            match v {
                                AttrValue::Int(i) => {
                                    f.uses.int = true;
                                    f.ints.insert(*i);
                                }
                                AttrValue::Str(s) => {
                                    f.uses.string = true;
                                    f.strings.insert(s.clone());
                                }
                                AttrValue::Bool(_) => f.uses.boolean = true,
                                AttrValue::List(_) => {}
                            }
                        }
                    }
                    // `a == [...]`: a list equal to the items (ordering a list is an error).
                    Expr::Array(items) if !ordering => {
                        f.uses.list = true;
                        let strings: Option<Vec<String>> = items
                            .iter()
                            .map(|v| match v {
                                AttrValue::Str(s) => Some(s.clone()),
                                _ => None,
                            })
                            .collect();
                        // An array with a non-string item equals no list. Its items are what
                        // a list equal to it holds: values looked for in it may equal them.
                        if let Some(strings) = strings {
                            f.strings.extend(strings.iter().cloned());
                            f.arrays.insert(strings);
                        }
                    }
                    Expr::Lit(AttrValue::List(items)) if !ordering => {
                        f.uses.list = true;
                        f.strings.extend(items.iter().cloned());
                        f.arrays.insert(items.clone());
                    }
                    Expr::Array(_) | Expr::Lit(AttrValue::List(_)) => {}
                    // A parenthesised boolean expression.
                    _ => f.uses.boolean = true,
                }
            }
            (None, None) => {}
        }
    }

    /// The values every attribute takes in the class `fixed` describes; `known` are the
    /// principals the policy names (a fresh user is none of them).
    pub(super) fn space(&self, fixed: &Fixed<'_>, known: &BTreeSet<String>) -> Space {
        let n = self.keys.len();
        let type_root: Vec<usize> = (0..n).map(|i| root(&self.same_type, i)).collect();
        let link_root: Vec<usize> = (0..n).map(|i| root(&self.linked, i)).collect();
        let mut uses = vec![Uses::default(); n];
        for i in 0..n {
            uses[type_root[i]].or(self.facts[i].uses);
        }
        let uses: Vec<Uses> = (0..n).map(|i| uses[type_root[i]]).collect();
        let fresh_name = |i: usize| fixed.name.is_none() && self.keys[i] == ("sub", "name".into());
        let variable = |i: usize| !is_builtin(&self.keys[i]) || fresh_name(i);

        // Per linked group: constants, whether ordered, and how many members of each type.
        let mut groups: HashMap<usize, Group> = HashMap::new();
        for i in 0..n {
            let g = groups.entry(link_root[i]).or_default();
            let f = &self.facts[i];
            g.strings.extend(f.strings.iter().cloned());
            g.ints.extend(f.ints.iter().copied());
            g.orders_strings |= f.orders_strings;
            g.orders_ints |= f.orders_ints;
            if variable(i) {
                g.strings_m += usize::from(uses[i].string);
                g.ints_m += usize::from(uses[i].int);
            } else {
                match self.keys[i].1.as_str() {
                    "name" => g.strings.extend(fixed.name.map(str::to_owned)),
                    "principal" => {
                        g.strings.insert(fixed.principal.to_owned());
                    }
                    "tenant" => {
                        g.strings.insert(fixed.tenant.to_owned());
                    }
                    "resource" => {
                        g.strings.insert(fixed.resource.to_owned());
                    }
                    _ => g.strings.extend(fixed.scopes.iter().cloned()),
                }
            }
        }
        // How many of a type group may hold a wrong type where it matters (never the name).
        let mut wrong_typed: HashMap<usize, usize> = HashMap::new();
        for i in (0..n).filter(|&i| variable(i) && !fresh_name(i)) {
            if self.facts[i].wrong_type_matters {
                *wrong_typed.entry(type_root[i]).or_default() += 1;
            }
        }

        // Lists, per type group: what is looked for in them, and what they are compared with.
        let mut lists: HashMap<usize, ListGroup> = HashMap::new();
        for i in (0..n).filter(|&i| uses[i].list) {
            let g = lists.entry(type_root[i]).or_default();
            g.arrays.extend(self.facts[i].arrays.iter().cloned());
            if self.keys[i] == ("sub", "scopes".into()) {
                g.arrays.insert(fixed.scopes.to_vec());
            } else if variable(i) {
                g.members += 1;
            }
        }
        for (operand, list) in &self.tests {
            if let Some(g) = lists.get_mut(&type_root[*list])
                && !g.tests.contains(operand)
            {
                g.tests.push(operand.clone());
            }
        }

        let mut space = Space::default();
        let mut group_index: HashMap<usize, usize> = HashMap::new();
        for i in 0..n {
            if !variable(i) || fresh_name(i) {
                continue;
            }
            let g = &groups[&link_root[i]];
            let u = uses[i];
            let mut values = vec![None];
            if u.int {
                values.extend(g.ints().into_iter().map(|v| Some(AttrValue::Int(v))));
            }
            if u.string {
                values.extend(g.strings().into_iter().map(|v| Some(AttrValue::Str(v))));
            }
            if u.boolean {
                values.extend([Some(AttrValue::Bool(true)), Some(AttrValue::Bool(false))]);
            }
            if self.facts[i].wrong_type_matters {
                let m = wrong_typed.get(&type_root[i]).copied().unwrap_or(1);
                values.extend(wrong_type(u, m).into_iter().map(Some));
            }
            let key = self.keys[i].clone();
            if u.list {
                let next = space.groups.len();
                let group = *group_index.entry(type_root[i]).or_insert(next);
                if group == next {
                    space
                        .groups
                        .push(lists.remove(&type_root[i]).unwrap_or_default());
                }
                space.lists.push(ListDim {
                    key,
                    fixed: values,
                    group,
                });
            } else {
                space.scalars.push((key, values));
            }
        }
        space.names = match fixed.name {
            Some(name) => vec![name.to_owned()],
            // A name read varies over its group's values, none an account's; one not read is
            // the fresh user's.
            None => match self.index.get(&("sub", "name".into())) {
                Some(&i) => groups[&link_root[i]]
                    .strings()
                    .into_iter()
                    .filter(|s| !known.contains(&format!("user:{s}")))
                    .collect(),
                None => vec![super::FRESH_USER.to_owned()],
            },
        };
        space
    }
}

/// One linked group's constants and members.
#[derive(Debug, Default)]
struct Group {
    strings: BTreeSet<String>,
    ints: BTreeSet<i32>,
    orders_strings: bool,
    orders_ints: bool,
    strings_m: usize,
    ints_m: usize,
}

impl Group {
    fn strings(&self) -> Vec<String> {
        string_values(&self.strings, self.strings_m, self.orders_strings)
    }

    fn ints(&self) -> Vec<i32> {
        int_values(&self.ints, self.ints_m, self.orders_ints)
    }
}

/// Each constant, then `m` fresh strings (unordered) or up to `m` strings inside each gap of
/// the sorted constants, below the smallest and above the largest (ordered).
fn string_values(consts: &BTreeSet<String>, m: usize, ordered: bool) -> Vec<String> {
    let mut out: Vec<String> = consts.iter().cloned().collect();
    if !ordered {
        let fresh = (0..).map(|i: u32| match char::from_u32(u32::from(b'a') + i) {
            Some(c) if i < 26 => format!("~{c}"),
            _ => format!("~{i}"),
        });
        out.extend(fresh.filter(|s| !consts.contains(s)).take(m));
        return out;
    }
    let mut lower: Option<&String> = None;
    for upper in consts.iter().map(Some).chain([None]) {
        out.extend(between(
            lower.map(String::as_str),
            upper.map(String::as_str),
            m,
        ));
        lower = upper;
    }
    out
}

/// Up to `m` distinct strings strictly between `lower` and `upper` (None: unbounded),
/// readable ones first (`""`, `lower + "a"`, ...), then `lower + "\0"...`, each checked.
fn between(lower: Option<&str>, upper: Option<&str>, m: usize) -> Vec<String> {
    let inside =
        |s: &String| lower.is_none_or(|l| l < s.as_str()) && upper.is_none_or(|u| s.as_str() < u);
    let prefix = lower.unwrap_or("");
    let empty = lower.is_none().then(String::new);
    let letters = (b'a'..=b'z').map(|c| format!("{prefix}{}", char::from(c)));
    let nuls = (1..=m).map(|i| format!("{prefix}{}", "\u{0}".repeat(i)));
    empty
        .into_iter()
        .chain(letters)
        .chain(nuls)
        .filter(inside)
        .take(m)
        .collect()
}

/// Each constant, then `m` fresh ints (unordered) or up to `m` ints inside each gap of the
/// sorted constants, below the smallest and above the largest (ordered).
fn int_values(consts: &BTreeSet<i32>, m: usize, ordered: bool) -> Vec<i32> {
    let mut out: Vec<i32> = consts.iter().copied().collect();
    if !ordered || consts.is_empty() {
        out.extend((0..).filter(|i| !consts.contains(i)).take(m));
        return out;
    }
    let (Some(&lo), Some(&hi)) = (consts.first(), consts.last()) else {
        return out;
    };
    let steps = 1..=i32::try_from(m).unwrap_or(i32::MAX);
    out.extend(steps.clone().filter_map(|d| lo.checked_sub(d)));
    let mut prev: Option<i32> = None;
    for &c in consts {
        if let Some(p) = prev {
            out.extend(
                steps
                    .clone()
                    .filter_map(|d| p.checked_add(d))
                    .filter(|v| *v < c),
            );
        }
        prev = Some(c);
    }
    out.extend(steps.filter_map(|d| hi.checked_add(d)));
    out
}

/// `m` distinct values of a type the attribute is not used as, if there is one: they answer
/// every atom alike (an error, or false for `in`), and `m` of them can be equal or not.
fn wrong_type(u: Uses, m: usize) -> Vec<AttrValue> {
    let m = m.max(1);
    if !u.int {
        (0..).take(m).map(AttrValue::Int).collect()
    } else if !u.string {
        (1..=m).map(|i| AttrValue::Str("~".repeat(i))).collect()
    } else if !u.boolean && m <= 2 {
        [true, false]
            .into_iter()
            .take(m)
            .map(AttrValue::Bool)
            .collect()
    } else if !u.list {
        (0..m)
            .map(|i| AttrValue::List(vec!["~".into(); i]))
            .collect()
    } else if !u.boolean {
        vec![AttrValue::Bool(true), AttrValue::Bool(false)]
    } else {
        Vec::new()
    }
}

/// A list attribute's group: what `in` looks for in its lists and the arrays they are compared
/// with.
#[derive(Debug, Default)]
struct ListGroup {
    tests: Vec<Operand>,
    arrays: BTreeSet<Vec<String>>,
    /// The group's list attributes.
    members: usize,
}

impl ListGroup {
    /// Fresh elements to add to a subset: enough that lists equal on every tested value can
    /// still differ from each other and from every array.
    fn extra(&self) -> usize {
        if self.arrays.is_empty() && self.members < 2 {
            0
        } else {
            self.members
        }
    }
}

/// A list attribute: its values other than lists, and its group.
#[derive(Debug)]
struct ListDim {
    key: Key,
    fixed: Vec<Option<AttrValue>>,
    group: usize,
}

/// The values of one class: names (a fresh user's vary), scalar attributes (a product), and
/// list attributes (whose lists depend on the scalars).
#[derive(Debug, Default)]
pub(super) struct Space {
    names: Vec<String>,
    scalars: Vec<(Key, Vec<Option<AttrValue>>)>,
    lists: Vec<ListDim>,
    groups: Vec<ListGroup>,
}

impl Space {
    /// How many requests [`Space::search`] decides at most (None past `usize`).
    pub(super) fn size(&self) -> Option<usize> {
        let scalars = self
            .scalars
            .iter()
            .try_fold(self.names.len(), |n, (_, v)| n.checked_mul(v.len()))?;
        self.lists.iter().try_fold(scalars, |n, d| {
            let g = &self.groups[d.group];
            let looked_for = g.tests.iter().try_fold(0usize, |n, t| {
                n.checked_add(match t {
                    Operand::Attr(k) => match self.lists.iter().find(|l| l.key == *k) {
                        Some(l) => l.fixed.len(),
                        None => 1,
                    },
                    Operand::Const(_) => 1,
                })
            })?;
            let subsets = 1usize.checked_shl(u32::try_from(looked_for).ok()?)?;
            let lists = subsets
                .checked_mul(g.extra() + 1)?
                .checked_add(g.arrays.len())?;
            n.checked_mul(d.fixed.len().checked_add(lists)?)
        })
    }

    /// Sets `sub`'s name and attributes and `obj`'s attributes to each combination in turn
    /// until `visit` says stop; true if it did.
    pub(super) fn search(
        &self,
        sub: &mut Subject,
        obj: &mut Object,
        mut visit: impl FnMut(&Subject, &Object) -> bool,
    ) -> bool {
        let lens: Vec<usize> = self.scalars.iter().map(|(_, v)| v.len()).collect();
        for name in &self.names {
            sub.name.clone_from(name);
            let mut choice = vec![0usize; self.scalars.len()];
            loop {
                sub.attributes.clear();
                obj.attributes.clear();
                for ((key, values), &i) in self.scalars.iter().zip(&choice) {
                    set(sub, obj, key, values[i].as_ref());
                }
                let lists: Vec<Vec<AttrValue>> = self
                    .groups
                    .iter()
                    .map(|g| self.lists_of(g, sub, obj))
                    .collect();
                let values: Vec<Vec<Option<AttrValue>>> = self
                    .lists
                    .iter()
                    .map(|d| {
                        let mut v = d.fixed.clone();
                        v.extend(lists[d.group].iter().cloned().map(Some));
                        v
                    })
                    .collect();
                let inner_lens: Vec<usize> = values.iter().map(Vec::len).collect();
                let mut inner = vec![0usize; self.lists.len()];
                loop {
                    for ((d, values), &i) in self.lists.iter().zip(&values).zip(&inner) {
                        set(sub, obj, &d.key, values[i].as_ref());
                    }
                    if visit(sub, obj) {
                        return true;
                    }
                    if !advance(&mut inner, &inner_lens) {
                        break;
                    }
                }
                if !advance(&mut choice, &lens) {
                    break;
                }
            }
        }
        false
    }

    /// The lists a list attribute of `g` takes in this request: every subset of the values
    /// looked for in it, with fresh elements, and the arrays it is compared with; shortest
    /// first.
    fn lists_of(&self, g: &ListGroup, sub: &Subject, obj: &Object) -> Vec<AttrValue> {
        let view = View(sub, obj);
        let mut looked_for = BTreeSet::new();
        for t in &g.tests {
            match t {
                Operand::Const(s) => {
                    looked_for.insert(s.clone());
                }
                Operand::Attr(k) => match self.lists.iter().find(|l| l.key == *k) {
                    // Itself a list attribute, set after this: each string it may hold.
                    Some(l) => looked_for.extend(l.fixed.iter().filter_map(|v| match v {
                        Some(AttrValue::Str(s)) => Some(s.clone()),
                        _ => None,
                    })),
                    None => {
                        if let Some(AttrRef::Str(s)) = view.get(k) {
                            looked_for.insert(s.to_owned());
                        }
                    }
                },
            }
        }
        let items: Vec<&String> = looked_for.iter().collect();
        let fresh: Vec<String> = (1..)
            .map(|i| format!("~{i}"))
            .filter(|s| !looked_for.contains(s))
            .take(g.extra())
            .collect();
        let mut out: BTreeSet<(usize, Vec<String>)> = BTreeSet::new();
        for mask in 0..1usize.checked_shl(items.len() as u32).unwrap_or(0) {
            let subset: Vec<String> = items
                .iter()
                .enumerate()
                .filter(|(i, _)| mask >> i & 1 == 1)
                .map(|(_, s)| (*s).clone())
                .collect();
            for j in 0..=fresh.len() {
                let mut list = subset.clone();
                list.extend(fresh[..j].iter().cloned());
                out.insert((list.len(), list));
            }
        }
        out.extend(g.arrays.iter().map(|a| (a.len(), a.clone())));
        out.into_iter().map(|(_, l)| AttrValue::List(l)).collect()
    }
}

fn set(sub: &mut Subject, obj: &mut Object, key: &Key, value: Option<&AttrValue>) {
    let map = if key.0 == "sub" {
        &mut sub.attributes
    } else {
        &mut obj.attributes
    };
    match value {
        Some(v) => {
            map.insert(key.1.clone(), v.clone());
        }
        None => {
            map.remove(&key.1);
        }
    }
}

/// The next combination of indices below `lens`; false after the last.
fn advance(choice: &mut [usize], lens: &[usize]) -> bool {
    for (c, &len) in choice.iter_mut().zip(lens) {
        *c += 1;
        if *c < len {
            return true;
        }
        *c = 0;
    }
    false
}
