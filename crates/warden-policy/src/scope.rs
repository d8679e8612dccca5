//! Token scopes, as rules name them and tokens carry them.

/// A token scope: 1-64 printable ASCII characters other than space, `"` and `\` (RFC 6749 §3.3).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Scope(String);

impl Scope {
    /// Parses one scope.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if s.is_empty() || s.len() > 64 {
            return Err("a scope must be 1-64 characters");
        }
        if !s
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
        {
            return Err("a scope may contain only printable ASCII other than space, '\"' and '\\'");
        }
        if s == "*" {
            return Err("`*` is reserved for rules");
        }
        Ok(Self(s.to_owned()))
    }

    /// Parses a space-separated list, deduplicated and sorted.
    pub fn parse_list(s: &str) -> Result<Vec<String>, &'static str> {
        let mut out = s
            .split(' ')
            .filter(|p| !p.is_empty())
            .map(|p| Scope::parse(p).map(|s| s.0))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort();
        out.dedup();
        Ok(out)
    }
}
