//! The parser: tokens to an expression tree, refusing everything outside the grammar.

use super::lex::{Tok, unexpected_token};
use super::{AttrValue, ConditionError, MAX_DEPTH};

const COMPARISONS: [&str; 7] = ["==", "!=", "<", "<=", ">", ">=", "in"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    /// A `Bool`, `Int` or `Str` literal.
    Lit(AttrValue),
    /// An array literal of scalar literals.
    Array(Vec<AttrValue>),
    /// `r.<side>.<name>`.
    Attr(&'static str, String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// A comparison or `in`.
    Cmp(&'static str, Box<Expr>, Box<Expr>),
}

impl Expr {
    fn is_boolean_shaped(&self) -> bool {
        !matches!(
            self,
            Expr::Array(_) | Expr::Lit(AttrValue::Int(_) | AttrValue::Str(_) | AttrValue::List(_))
        )
    }
}

fn unexpected(found: Option<(Tok, usize)>, expected: &'static str) -> ConditionError {
    match found {
        Some((tok, column)) => unexpected_token(tok, column),
        None => ConditionError::UnexpectedEnd { expected },
    }
}

/// Recursive descent over the token list; recursion depth is bounded by [`MAX_DEPTH`].
/// The expression the tokens spell, refusing anything outside the grammar or left over.
pub(super) fn parse(toks: Vec<(Tok, usize)>) -> Result<Expr, ConditionError> {
    let mut parser = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let expr = parser.parse_or()?;
    if parser.pos < parser.toks.len() {
        return Err(unexpected(parser.advance(), "end of condition"));
    }
    Ok(expr)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek_sym(&self) -> Option<&'static str> {
        match self.toks.get(self.pos) {
            Some((Tok::Sym(s), _)) => Some(s),
            _ => None,
        }
    }

    fn at_comparison(&self) -> bool {
        self.peek_sym().is_some_and(|s| COMPARISONS.contains(&s))
    }

    fn column(&self) -> usize {
        self.toks.get(self.pos).map_or(0, |(_, c)| *c)
    }

    fn advance(&mut self) -> Option<(Tok, usize)> {
        let item = self.toks.get(self.pos).cloned();
        self.pos += 1;
        item
    }

    fn eat(&mut self, sym: &str) -> bool {
        let found = self.peek_sym() == Some(sym);
        self.pos += usize::from(found);
        found
    }

    fn enter(&mut self, column: usize) -> Result<(), ConditionError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            Err(ConditionError::TooDeep { column })
        } else {
            Ok(())
        }
    }

    fn parse_or(&mut self) -> Result<Expr, ConditionError> {
        let mut items = vec![self.parse_and()?];
        while self.eat("||") {
            items.push(self.parse_and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }

    fn parse_and(&mut self) -> Result<Expr, ConditionError> {
        let mut items = Vec::new();
        loop {
            let column = self.column();
            let e = self.parse_unary()?;
            if !e.is_boolean_shaped() {
                return Err(ConditionError::NotBoolean { column });
            }
            items.push(e);
            if !self.eat("&&") {
                break;
            }
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }

    fn parse_unary(&mut self) -> Result<Expr, ConditionError> {
        let column = self.column();
        if !self.eat("!") {
            return self.parse_cmp();
        }
        self.enter(column)?;
        let inner_column = self.column();
        let inner = if self.peek_sym() == Some("!") {
            self.parse_unary()?
        } else {
            self.parse_operand()?
        };
        if self.at_comparison() {
            return Err(ConditionError::AmbiguousNot { column });
        }
        if !inner.is_boolean_shaped() {
            return Err(ConditionError::NotBoolean {
                column: inner_column,
            });
        }
        self.depth -= 1;
        Ok(Expr::Not(Box::new(inner)))
    }

    fn parse_cmp(&mut self) -> Result<Expr, ConditionError> {
        let left = self.parse_operand()?;
        let Some(op) = self.peek_sym().filter(|s| COMPARISONS.contains(s)) else {
            return Ok(left);
        };
        self.pos += 1;
        let column = self.column();
        let right = self.parse_operand()?;
        if op == "in" && !matches!(right, Expr::Array(_) | Expr::Attr(..)) {
            return Err(ConditionError::InRightSide { column });
        }
        if self.at_comparison() {
            return Err(ConditionError::ChainedComparison {
                column: self.column(),
            });
        }
        Ok(Expr::Cmp(op, Box::new(left), Box::new(right)))
    }

    fn parse_operand(&mut self) -> Result<Expr, ConditionError> {
        let (tok, column) = self.advance().ok_or(ConditionError::UnexpectedEnd {
            expected: "an operand",
        })?;
        let e = match tok {
            Tok::Lit(v) => return Ok(Expr::Lit(v)),
            Tok::Attr(side, name) => return Ok(Expr::Attr(side, name)),
            Tok::Sym("(") => {
                self.enter(column)?;
                let e = self.parse_or()?;
                if !self.eat(")") {
                    return Err(unexpected(self.advance(), "`)`"));
                }
                e
            }
            Tok::Sym("[") => {
                self.enter(column)?;
                let mut items = Vec::new();
                let mut done = self.eat("]");
                while !done {
                    match self.advance() {
                        Some((Tok::Lit(v), _)) => items.push(v),
                        other => return Err(unexpected(other, "a literal")),
                    }
                    done = self.eat("]");
                    if !done && !self.eat(",") {
                        return Err(unexpected(self.advance(), "`,` or `]`"));
                    }
                }
                Expr::Array(items)
            }
            tok => return Err(unexpected(Some((tok, column)), "an operand")),
        };
        self.depth -= 1;
        Ok(e)
    }
}
