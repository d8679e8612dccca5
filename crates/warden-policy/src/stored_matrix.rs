//! A matrix as the policy holds it: a name and the text of its file (the format of
//! `policies/matrices/*.yaml`). Matrices are part of the policy — versioned, audited and
//! rolled back with the rules — but this pure core keeps their text only: the engine parses
//! and checks them (`crate::matrix` sits above this module).

use serde::{Deserialize, Serialize};

/// Longest matrix name.
pub const MAX_NAME_LEN: usize = 64;

/// Most matrices one policy holds (each is evaluated by every policy change that its
/// invariants guard, and by the console's list).
pub const MAX_MATRICES: usize = 32;

/// A stored matrix: its name and its YAML (or JSON) text, as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct MatrixText {
    /// The matrix's name (the `name` field of its text).
    pub name: String,
    /// The matrix file's text.
    pub text: String,
}

/// Checks a matrix name: 1 to [`MAX_NAME_LEN`] characters of `a-z`, `0-9`, `-` and `_`,
/// starting with a letter or digit, and not `run`. Names are URL path segments
/// (`/v1/admin/matrices/{name}`, where a `.html` suffix asks for the grid and `run` is a
/// route of its own), so nothing else is allowed.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(format!("a matrix name has 1 to {MAX_NAME_LEN} characters"));
    }
    if !name.chars().all(ok_char) || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(format!(
            "`{}` is not a matrix name: use a-z, 0-9, `-` and `_`, starting with a letter or digit",
            name.escape_debug()
        ));
    }
    if RESERVED.contains(&name) {
        return Err(format!(
            "`{name}` is reserved (`/v1/admin/matrices/{name}` is another route)"
        ));
    }
    Ok(())
}

/// A tenant's matrix is stored as `<tenant>/<name>` beside the installation's (plain
/// `<name>`): one table and one change protocol for both, and the two can never collide,
/// since neither a tenant name nor a matrix name contains `/`.
pub const TENANT_SEPARATOR: char = '/';

/// The name a tenant's matrix `name` is stored under.
pub fn qualified(tenant: &str, name: &str) -> String {
    format!("{tenant}{TENANT_SEPARATOR}{name}")
}

/// A stored name's tenant (None: the installation's matrix) and its own name.
pub fn split_name(stored: &str) -> (Option<&str>, &str) {
    match stored.split_once(TENANT_SEPARATOR) {
        Some((tenant, name)) => (Some(tenant), name),
        None => (None, stored),
    }
}

/// Checks a stored name: a matrix name ([`check_name`]), or `<tenant>/<name>` for a
/// tenant's matrix.
pub fn check_stored_name(stored: &str) -> Result<(), String> {
    let (tenant, name) = split_name(stored);
    if let Some(tenant) = tenant {
        crate::rule::parse_tenant(tenant).map_err(|e| e.to_string())?;
    }
    check_name(name)
}

/// The line of a policy file that says it carries the policy's matrices (below it).
pub const FILE_MARKER: &str = "#@matrices";
const FILE_MATRIX: &str = "#@matrix ";
const FILE_LINE: &str = "#|";

/// The policy's matrices as a block of a policy file (`warden policy export`): comment lines
/// to anything that reads the file as CSV (`policy lint`, casbin tools, an older Warden), so
/// the file stays a policy file. [`FILE_MARKER`] (with the number of matrices), then per
/// matrix `#@matrix <name>` and its text, each line prefixed with `#| `.
pub fn to_policy_file(matrices: &[MatrixText]) -> String {
    let mut out = format!("{FILE_MARKER} {}\n", matrices.len());
    for m in matrices {
        out.push_str(FILE_MATRIX);
        out.push_str(&m.name);
        out.push('\n');
        for line in m.text.lines() {
            out.push_str(FILE_LINE);
            if !line.is_empty() {
                out.push(' ');
                out.push_str(line);
            }
            out.push('\n');
        }
    }
    out
}

/// The matrices block of a policy file (see [`to_policy_file`]): None when the file has no
/// block (a file exported before matrices lived in the policy, or written by hand), which an
/// import reads as "leave the matrices as they are". The names are checked; the texts are
/// the engine's to parse.
///
/// # Errors
/// A malformed block, with its 1-based line number.
pub fn from_policy_file(text: &str) -> Result<Option<Vec<MatrixText>>, (usize, String)> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let Some((_, marker)) = lines
        .find(|(_, l)| l.trim_end() == FILE_MARKER || l.starts_with(&format!("{FILE_MARKER} ")))
    else {
        return Ok(None);
    };
    let expected: Option<usize> = marker[FILE_MARKER.len()..].trim().parse().ok();
    let mut out: Vec<MatrixText> = Vec::new();
    for (n, line) in lines {
        if let Some(name) = line.strip_prefix(FILE_MATRIX) {
            let name = name.trim();
            check_stored_name(name).map_err(|e| (n, e))?;
            if out.iter().any(|m| m.name == name) {
                return Err((n, format!("two matrices are named `{name}`")));
            }
            out.push(MatrixText {
                name: name.to_owned(),
                text: String::new(),
            });
        } else if let Some(rest) = line.strip_prefix(FILE_LINE) {
            let Some(m) = out.last_mut() else {
                return Err((
                    n,
                    format!("a `{FILE_LINE}` line before any `{FILE_MATRIX}<name>`"),
                ));
            };
            m.text.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            m.text.push('\n');
        } else if line.starts_with("#@") {
            return Err((
                n,
                format!("unknown matrix block line `{}`", line.escape_debug()),
            ));
        }
    }
    if expected != Some(out.len()) {
        return Err((
            0,
            format!(
                "`{FILE_MARKER}` announces {} matrices, the file holds {}: it was cut short or edited",
                expected.map_or_else(|| "an unreadable number of".to_owned(), |n| n.to_string()),
                out.len()
            ),
        ));
    }
    Ok(Some(out))
}

/// Names that are routes of their own under `/v1/admin/matrices/`.
const RESERVED: [&str; 1] = ["run"];

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, text: &str) -> MatrixText {
        MatrixText {
            name: name.into(),
            text: text.into(),
        }
    }

    #[test]
    fn matrices_survive_a_policy_file_and_stay_comments_to_its_csv() {
        let set = vec![
            m(
                "a",
                "name: a\n# a comment\n\nsubjects:\n  x: {roles: [user]}\n",
            ),
            m("b", "name: b\n"),
        ];
        let block = to_policy_file(&set);
        assert!(block.lines().all(|l| l.starts_with('#')), "{block}");
        let file = format!("p, role:a, document, read, *, , allow\n{block}");
        assert_eq!(from_policy_file(&file), Ok(Some(set)));
        assert_eq!(from_policy_file(&to_policy_file(&[])), Ok(Some(Vec::new())));
    }

    #[test]
    fn a_file_without_the_block_says_nothing_about_matrices() {
        assert_eq!(
            from_policy_file("p, role:a, x, read, *, , allow\n# c\n"),
            Ok(None)
        );
    }

    #[test]
    fn a_damaged_block_is_refused_with_its_line() {
        let cases = [
            ("#@matrices 1\n#| name: a\n", 2),
            ("#@matrices 1\n#@matrix Bad\n", 2),
            ("#@matrices 2\n#@matrix a\n#@matrix a\n", 3),
            ("#@matrices 1\n#@matrix a\n#@other\n", 3),
            ("#@matrices 2\n#@matrix a\n#| name: a\n", 0),
        ];
        for (text, line) in cases {
            assert_eq!(from_policy_file(text).map_err(|e| e.0), Err(line), "{text}");
        }
    }

    #[test]
    fn matrix_names_are_lower_case_path_segments() {
        for good in ["seed", "invariants", "my-app_2", "0day"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        let long = "a".repeat(MAX_NAME_LEN + 1);
        for bad in [
            "",
            "run",
            "Seed",
            "seed.html",
            "a/b",
            "-x",
            "_x",
            "é",
            "a b",
            long.as_str(),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_tenants_matrix_is_stored_under_its_tenant_and_nothing_else_may_hold_a_slash() {
        assert_eq!(qualified("acme", "isolation"), "acme/isolation");
        assert_eq!(split_name("acme/isolation"), (Some("acme"), "isolation"));
        assert_eq!(split_name("seed"), (None, "seed"));
        for good in ["seed", "acme/isolation", "t-2/0day"] {
            assert_eq!(check_stored_name(good), Ok(()), "{good}");
        }
        for bad in [
            "Acme/x", "/x", "acme/", "acme/run", "a/b/c", "acme/X", "*/x",
        ] {
            assert!(check_stored_name(bad).is_err(), "{bad:?}");
        }
    }
}
