//! Parsed account inputs: once you hold one of these, it is valid.

use std::fmt;

/// A password: 8-256 characters. Never printed.
pub struct Password(String);

impl Password {
    /// Parses a password (length counted in characters, not bytes).
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let n = s.chars().count();
        if !(8..=256).contains(&n) {
            return Err("must be 8-256 characters");
        }
        Ok(Self(s.to_owned()))
    }

    /// The secret text, for hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// An e-mail address, checked for shape (one `@`, a dotted domain, no spaces, ≤ 254 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses an e-mail address.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        const BAD: &str = "is not a valid e-mail address";
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(BAD);
        }
        let (local, domain) = s.split_once('@').ok_or(BAD)?;
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty()
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if local.is_empty() || local.len() > 64 || !domain.contains('.') || !labels_ok {
            return Err(BAD);
        }
        Ok(Self(s.to_owned()))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

pub use crate::policy::scope::Scope;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_8_to_256_characters_and_never_printed() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"é".repeat(256)).is_ok());
        assert!(Password::parse(&"x".repeat(257)).is_err());
        let p = Password::parse("hunter2hunter2").expect("valid");
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        for ok in ["a@b.co", "first.last+tag@example.org"] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@.co", "a@b..co", "a b@c.de", "a@-b.co", "a@b.co\n",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scope_lists_are_split_on_spaces_deduplicated_and_sorted() {
        assert_eq!(
            Scope::parse_list("b a  b").expect("valid"),
            vec!["a".to_string(), "b".to_string()]
        );
        assert!(Scope::parse_list("a \"b\"").is_err());
        assert!(Scope::parse_list("*").is_err());
        assert_eq!(Scope::parse_list("").expect("valid"), Vec::<String>::new());
    }
}
