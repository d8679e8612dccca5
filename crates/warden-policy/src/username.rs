//! Account names as the policy knows them: a username, and the key (`user:<key>`) a rule
//! names it by.

/// A username: 3-64 characters of `[A-Za-z0-9._-]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Parses a username.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        if !(3..=64).contains(&s.len()) {
            return Err("must be 3-64 characters");
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err("may contain only letters, digits, '.', '_' and '-'");
        }
        Ok(Self(s.to_owned()))
    }

    /// The name as typed.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lower-cased name: what uniqueness, the policy and rate limits key on.
    pub fn key(&self) -> String {
        key(&self.0)
    }
}

/// The key of a name, valid or not (lookups of what a client typed): lower-cased, so `Alice`
/// and `alice` are one account and one `user:alice` subject.
pub fn key(name: &str) -> String {
    name.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_documented_alphabet_and_length() {
        for ok in ["bob", "alice.smith", "a_b-c", &"x".repeat(64)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ab",
            &"x".repeat(65),
            "al ice",
            "bob@x",
            "ünï",
            "a/b",
            "a:b",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_key_is_the_lower_cased_name() {
        assert_eq!(
            Username::parse("Alice.Smith").map(|u| u.key()),
            Ok("alice.smith".to_owned())
        );
        assert_eq!(key("ADMIN"), "admin");
    }
}
