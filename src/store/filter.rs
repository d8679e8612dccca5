//! A plan's residual condition ([`Cond`]) as a parameterised SQL `WHERE` clause, so a list
//! endpoint reads exactly the rows the policy allows instead of deciding on every row.
//!
//! The condition is first restricted to the table's columns (a closed schema: every row has
//! every column, never NULL), which turns type tests into constants and drops comparisons
//! that cannot hold; what remains is a comparison of a column with a bound value, or of two
//! columns. Values are always bound, never spliced. String order is byte order on both
//! backends (SQLite's default `BINARY` collation; `COLLATE "C"` on Postgres), as the decision
//! function compares strings. Anything else makes the translation give up (None): the caller
//! then decides row by row, so a plan the translator does not know is never guessed at.

use crate::policy::AttrValue;
use crate::policy::analysis::{AttrType, Cmp, Cond, Schema};

use super::Backend;

/// One column a condition's attribute maps to.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    /// The attribute name in conditions (`r.obj.<attribute>`).
    pub attribute: &'static str,
    /// The SQL column (a constant: never from input).
    pub sql: &'static str,
    /// Its type (`String` columns are TEXT, `Int` columns INTEGER/BIGINT, both NOT NULL).
    pub ty: AttrType,
}

/// A value bound to a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    /// TEXT.
    Str(String),
    /// INTEGER / BIGINT.
    Int(i64),
}

/// A `WHERE` fragment and its binds, numbered from the placeholder the caller gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Where {
    /// SQL, with `$n` placeholders.
    pub sql: String,
    /// Values for the placeholders, in order.
    pub binds: Vec<Bind>,
}

/// The schema the columns describe (what a plan for these rows is restricted to).
pub fn schema(columns: &[Column]) -> Schema {
    Schema::new(columns.iter().map(|c| (c.attribute, c.ty)))
}

/// `cond` over `columns` as SQL whose placeholders start at `$first`; None when some part has
/// no translation (the caller then decides row by row).
pub fn where_clause(
    cond: &Cond,
    columns: &[Column],
    backend: Backend,
    first: usize,
) -> Option<Where> {
    let restricted = cond.restrict(&schema(columns));
    let mut w = Writer {
        columns,
        backend,
        next: first,
        binds: Vec::new(),
    };
    let sql = w.cond(&restricted)?;
    Some(Where {
        sql,
        binds: w.binds,
    })
}

struct Writer<'a> {
    columns: &'a [Column],
    backend: Backend,
    next: usize,
    binds: Vec<Bind>,
}

impl Writer<'_> {
    fn column(&self, attribute: &str) -> Option<Column> {
        self.columns
            .iter()
            .find(|c| c.attribute == attribute)
            .copied()
    }

    fn bind(&mut self, b: Bind) -> String {
        self.binds.push(b);
        let p = format!("${}", self.next);
        self.next += 1;
        p
    }

    fn join(&mut self, items: &[Cond], sep: &str) -> Option<String> {
        let parts = items
            .iter()
            .map(|i| self.cond(i))
            .collect::<Option<Vec<_>>>()?;
        Some(format!("({})", parts.join(sep)))
    }

    fn op(cmp: Cmp) -> Option<&'static str> {
        Some(match cmp {
            Cmp::Eq => "=",
            Cmp::Ne => "<>",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::In | Cmp::Contains => return None,
        })
    }

    /// The column as an operand: byte-order collation for strings on Postgres.
    fn operand(&self, c: Column) -> String {
        match (c.ty, self.backend) {
            (AttrType::String, Backend::Postgres) => format!("{} COLLATE \"C\"", c.sql),
            _ => c.sql.to_owned(),
        }
    }

    fn cond(&mut self, c: &Cond) -> Option<String> {
        match c {
            Cond::True => Some("1 = 1".into()),
            Cond::False => Some("1 = 0".into()),
            Cond::And { items } => self.join(items, " AND "),
            Cond::Or { items } => self.join(items, " OR "),
            // Columns are NOT NULL, so SQL's NOT is the plain negation.
            Cond::Not { item } => Some(format!("NOT {}", self.cond(item)?)),
            Cond::Compare {
                attribute,
                cmp,
                value,
            } => {
                let col = self.column(attribute)?;
                let op = Self::op(*cmp)?;
                let bind = match (col.ty, value) {
                    (AttrType::String, AttrValue::Str(s)) => Bind::Str(s.clone()),
                    (AttrType::Int, AttrValue::Int(n)) => Bind::Int(i64::from(*n)),
                    _ => return None,
                };
                let lhs = self.operand(col);
                let p = self.bind(bind);
                Some(format!("{lhs} {op} {p}"))
            }
            Cond::CompareAttributes { left, cmp, right } => {
                let (l, r) = (self.column(left)?, self.column(right)?);
                if l.ty != r.ty || !matches!(l.ty, AttrType::String | AttrType::Int) {
                    return None;
                }
                let op = Self::op(*cmp)?;
                Some(format!("{} {op} {}", self.operand(l), self.operand(r)))
            }
            Cond::HasType { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::policy::analysis::cond::{and, not, or};

    const COLUMNS: &[Column] = &[
        Column {
            attribute: "department",
            sql: "department",
            ty: AttrType::String,
        },
        Column {
            attribute: "classification",
            sql: "classification",
            ty: AttrType::Int,
        },
    ];

    fn cmp(a: &str, cmp: Cmp, v: AttrValue) -> Cond {
        Cond::Compare {
            attribute: a.into(),
            cmp,
            value: v,
        }
    }

    #[test]
    fn values_are_bound_and_strings_compare_in_byte_order_on_postgres() {
        let c = or([
            and([
                cmp("department", Cmp::Eq, AttrValue::Str("eng' OR 1=1".into())),
                cmp("classification", Cmp::Le, AttrValue::Int(2)),
            ]),
            not(cmp("department", Cmp::Lt, AttrValue::Str("m".into()))),
        ]);
        let w = where_clause(&c, COLUMNS, Backend::Postgres, 3).unwrap();
        assert_eq!(
            w.sql,
            "((department COLLATE \"C\" = $3 AND classification <= $4) OR department COLLATE \"C\" >= $5)"
        );
        assert_eq!(
            w.binds,
            vec![
                Bind::Str("eng' OR 1=1".into()),
                Bind::Int(2),
                Bind::Str("m".into())
            ]
        );
        let w = where_clause(&c, COLUMNS, Backend::Sqlite, 1).unwrap();
        assert_eq!(
            w.sql,
            "((department = $1 AND classification <= $2) OR department >= $3)"
        );
    }

    #[test]
    fn comparisons_no_row_can_satisfy_become_false_and_unknown_shapes_give_up() {
        let never = cmp("owner", Cmp::Eq, AttrValue::Str("alice".into()));
        assert_eq!(
            where_clause(&never, COLUMNS, Backend::Sqlite, 1)
                .unwrap()
                .sql,
            "1 = 0"
        );
        let mistyped = cmp("classification", Cmp::Eq, AttrValue::Str("3".into()));
        assert_eq!(
            where_clause(&mistyped, COLUMNS, Backend::Sqlite, 1)
                .unwrap()
                .sql,
            "1 = 0"
        );
        let in_text = Cond::CompareAttributes {
            left: "department".into(),
            cmp: Cmp::In,
            right: "department".into(),
        };
        assert_eq!(
            where_clause(&in_text, COLUMNS, Backend::Sqlite, 1)
                .unwrap()
                .sql,
            "1 = 0"
        );
        let list_column = [Column {
            attribute: "labels",
            sql: "labels",
            ty: AttrType::List,
        }];
        let contains = cmp("labels", Cmp::Contains, AttrValue::Str("x".into()));
        assert_eq!(
            where_clause(&contains, &list_column, Backend::Sqlite, 1),
            None
        );
    }
}
