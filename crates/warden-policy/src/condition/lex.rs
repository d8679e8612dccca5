//! The lexer: condition text to tokens with their columns.

use std::fmt;

use super::{AttrValue, ConditionError};

const MAX_IDENT_LEN: usize = 64;

/// Rhai keywords and reserved words: never identifiers or attribute names here.
const RESERVED: &str = "Fn _ as async await break call case catch const continue curry debug \
    default do else eval exit export false fn for global go goto if import in is is_def_fn \
    is_def_var is_shared let loop match module new nil null package print private protected \
    public return shared spawn static super switch sync this thread throw true try type_of \
    until use var void while with yield";

/// Operators and punctuation, two-character ones first so `<=` wins over `<`.
const SYMBOLS: [&str; 14] = [
    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "[", "]", ",",
];
/// A lexical token. `Lit` holds `Bool`, `Int` or `Str`; `Sym` is an operator, punctuation or `in`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    Lit(AttrValue),
    Attr(&'static str, String),
    Sym(&'static str),
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Lit(AttrValue::Str(s)) if s.chars().count() > 20 => {
                write!(f, "\"{}…\"", s.chars().take(20).collect::<String>())
            }
            Tok::Lit(AttrValue::Str(s)) => write!(f, "\"{s}\""),
            Tok::Lit(AttrValue::Int(n)) => write!(f, "{n}"),
            Tok::Lit(AttrValue::Bool(b)) => write!(f, "{b}"),
            Tok::Lit(AttrValue::List(l)) => write!(f, "{l:?}"),
            Tok::Attr(side, name) => write!(f, "r.{side}.{name}"),
            Tok::Sym(s) => f.write_str(s),
        }
    }
}

type Lexed = Result<(Tok, usize), ConditionError>;

fn not_allowed(what: impl Into<String>, column: usize) -> ConditionError {
    let what = what.into();
    ConditionError::NotAllowed { what, column }
}

pub(super) fn unexpected_token(token: impl ToString, column: usize) -> ConditionError {
    let token = token.to_string();
    ConditionError::UnexpectedToken { token, column }
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn is_reserved(word: &str) -> bool {
    RESERVED.split_ascii_whitespace().any(|r| r == word)
}

fn text(cs: &[char], from: usize, to: usize) -> String {
    cs.get(from..to).unwrap_or_default().iter().collect()
}

fn word_end(cs: &[char], mut end: usize) -> usize {
    while cs.get(end).is_some_and(|&c| is_word(c)) {
        end += 1;
    }
    end
}

fn followed_by_paren(cs: &[char], mut k: usize) -> bool {
    while cs.get(k).is_some_and(char::is_ascii_whitespace) {
        k += 1;
    }
    cs.get(k) == Some(&'(')
}

/// Would casbin's `\b(r\d*|p\d*)\.` rewrite match in `s`? Errs towards "yes" (ASCII word
/// characters, any numeric character as a digit), which can only refuse more.
fn casbin_would_rewrite(s: &str) -> bool {
    let cs: Vec<char> = s.chars().collect();
    (0..cs.len()).any(|k| {
        let boundary = k == 0 || !cs.get(k - 1).is_some_and(|&c| is_word(c));
        let mut j = k + 1;
        while cs.get(j).is_some_and(|c| c.is_numeric()) {
            j += 1;
        }
        boundary && matches!(cs.get(k), Some('r' | 'p')) && cs.get(j) == Some(&'.')
    })
}

pub(super) fn lex(cs: &[char], offset: usize) -> Result<Vec<(Tok, usize)>, ConditionError> {
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = cs.get(i) {
        let column = offset + i + 1;
        let at = |k: usize| cs.get(i + k).copied();
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == '<' && at(1) == Some('-') {
            return Err(unexpected_token("<-", column));
        }
        let symbol = SYMBOLS
            .iter()
            .find(|s| s.chars().enumerate().all(|(k, sc)| at(k) == Some(sc)));
        let (tok, len) = match (symbol, c) {
            (Some(s), _) => (Tok::Sym(s), s.len()),
            (_, '"') => lex_string(cs, i, column)?,
            (_, '-') if at(1).is_some_and(|d| d.is_ascii_digit()) => lex_number(cs, i, column)?,
            (_, '0'..='9') => lex_number(cs, i, column)?,
            (_, 'a'..='z' | 'A'..='Z' | '_') => lex_word(cs, i, column)?,
            (_, '=') => return Err(not_allowed("assignment `=`", column)),
            (_, '\'') => return Err(not_allowed("single-quoted literal (use \"...\")", column)),
            (_, '`') => return Err(not_allowed("backtick string (use \"...\")", column)),
            _ => return Err(unexpected_token(c.escape_debug(), column)),
        };
        toks.push((tok, column));
        i += len;
    }
    Ok(toks)
}

fn lex_string(cs: &[char], start: usize, column: usize) -> Lexed {
    let bad = |problem| Err(ConditionError::BadString { column, problem });
    let mut end = start + 1;
    loop {
        match cs.get(end) {
            None => return bad("is unterminated"),
            Some('"') => break,
            Some('\\') => return bad("contains a backslash (escapes are not allowed)"),
            Some(c) if c.is_control() => return bad("contains a newline or control character"),
            Some(_) => end += 1,
        }
    }
    let s = text(cs, start + 1, end);
    if casbin_would_rewrite(&s) {
        return bad("contains `r.` or `p.`, which casbin would rewrite");
    }
    Ok((Tok::Lit(AttrValue::Str(s)), end + 1 - start))
}

fn lex_number(cs: &[char], start: usize, column: usize) -> Lexed {
    let negative = cs.get(start) == Some(&'-');
    let digits = start + usize::from(negative);
    let mut end = digits;
    while cs.get(end).is_some_and(char::is_ascii_digit) {
        end += 1;
    }
    match cs.get(end) {
        Some('.') => return Err(not_allowed("floating-point number", column)),
        Some(&c) if is_word(c) => return Err(ConditionError::BadInteger { column }),
        _ => {}
    }
    let n: i32 = text(cs, digits, end)
        .parse()
        .map_err(|_| ConditionError::BadInteger { column })?;
    Ok((
        Tok::Lit(AttrValue::Int(if negative { -n } else { n })),
        end - start,
    ))
}

fn lex_word(cs: &[char], start: usize, column: usize) -> Lexed {
    let too_long = || Err(not_allowed("identifier longer than 64 characters", column));
    let end = word_end(cs, start);
    let word = text(cs, start, end);
    if word.len() > MAX_IDENT_LEN {
        return too_long();
    }
    if cs.get(end) == Some(&'.') {
        let seg_end = word_end(cs, end + 1);
        if seg_end - end - 1 > MAX_IDENT_LEN {
            return too_long();
        }
        let seg = text(cs, end + 1, seg_end);
        let side = match (word.as_str(), seg.as_str()) {
            ("r", "sub") => "sub",
            ("r", "obj") => "obj",
            (w, _)
                if w.strip_prefix('p')
                    .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit())) =>
            {
                return Err(not_allowed("policy reference `p.`", column));
            }
            (w, s) => {
                let root = format!("{w}.{s}");
                return Err(ConditionError::UnknownRoot { root, column });
            }
        };
        return lex_attr(cs, start, seg_end, side, column);
    }
    let tok = match word.as_str() {
        "true" => Tok::Lit(AttrValue::Bool(true)),
        "false" => Tok::Lit(AttrValue::Bool(false)),
        "in" => Tok::Sym("in"),
        w if is_reserved(w) => return Err(not_allowed(format!("keyword `{w}`"), column)),
        _ if followed_by_paren(cs, end) => {
            return Err(ConditionError::UnknownFunction { name: word, column });
        }
        _ => return Err(ConditionError::UnknownIdentifier { name: word, column }),
    };
    Ok((tok, end - start))
}

/// Lexes the `.NAME` of `r.sub.NAME`; `seg_end` points just past `sub`/`obj`.
fn lex_attr(cs: &[char], start: usize, seg_end: usize, side: &'static str, column: usize) -> Lexed {
    if cs.get(seg_end) != Some(&'.') {
        let (text, reason) = (format!("r.{side}"), "expected `.NAME` after it");
        return Err(ConditionError::InvalidAttribute {
            text,
            column,
            reason,
        });
    }
    let name_end = word_end(cs, seg_end + 1);
    let name = text(cs, seg_end + 1, name_end);
    let text = format!("r.{side}.{name}");
    let invalid = |reason| {
        let text = text.clone();
        Err(ConditionError::InvalidAttribute {
            text,
            column,
            reason,
        })
    };
    match name.trim_start_matches('_').chars().next() {
        None => return invalid("missing attribute name"),
        Some(c) if !c.is_ascii_alphabetic() => return invalid("names must start with a letter"),
        _ if name.len() > MAX_IDENT_LEN => return invalid("name longer than 64 characters"),
        _ => {}
    }
    if cs.get(name_end) == Some(&'.') {
        return invalid("nested attribute access is not allowed");
    }
    if is_reserved(&name) {
        return invalid("the name is a reserved word");
    }
    if followed_by_paren(cs, name_end) {
        return Err(ConditionError::UnknownFunction { name: text, column });
    }
    Ok((Tok::Attr(side, name), name_end - start))
}
