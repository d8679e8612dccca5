//! The seed policy (`policies/policy.csv`, embedded in the binary) and its CSV format.

use super::rule::{Assignment, GLOBAL, Rule, RuleError, RuleSet, legacy_domain, parse_subject};

/// The seed policy loaded into an empty database on first start.
pub const SEED_POLICY: &str = include_str!("../../../policies/policy.csv");

/// A line of a policy file could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CsvError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

/// Splits one CSV line: fields separated by commas, trimmed; a field wrapped in double quotes
/// may contain commas (`""` inside quotes is a literal quote).
pub fn split_csv_line(line: &str) -> Result<Vec<String>, &'static str> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            chars.next();
        }
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => return Err("unterminated quoted field"),
                }
            }
            while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                chars.next();
            }
            if !matches!(chars.peek(), None | Some(',')) {
                return Err("text after a closing quote");
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                field.push(*c);
                chars.next();
            }
            field = field.trim_end().to_owned();
        }
        fields.push(field);
        match chars.next() {
            Some(',') => continue,
            _ => return Ok(fields),
        }
    }
}

/// Parses a Warden policy file. Every line is validated; the first bad line is reported.
/// `p` rules are numbered 1, 2, ... in file order, the ids the database gives them when it
/// loads the file as its seed, so a rule has one name in the CLI, the API and the console;
/// `g` lines get their line number. The version is 0.
pub fn parse_policy(text: &str) -> Result<RuleSet, CsvError> {
    let mut out = RuleSet::default();
    let mut rules: i64 = 0;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let err = |message: String| CsvError { line, message };
        let f = split_csv_line(trimmed).map_err(|m| err(m.into()))?;
        match f.first().map(String::as_str) {
            // An eighth field names the rule's tenant; without it the rule is global.
            Some("p") if f.len() == 7 || f.len() == 8 => {
                rules += 1;
                let rule = Rule::parse(rules, &f[1], &f[2], &f[3], &f[4], &f[5], &f[6])
                    .and_then(|r| r.in_tenant(f.get(7).map_or(GLOBAL, String::as_str)))
                    .map_err(|e| err(e.to_string()))?;
                out.rules.push(rule);
            }
            // A fourth field names the assignment's domain (a tenant or `*`); without it the
            // line means what it meant before tenants ([`legacy_domain`]).
            Some("g") if f.len() == 3 || f.len() == 4 => {
                let check = |s: &str| {
                    parse_subject(s)
                        .map(|_| ())
                        .map_err(|e: RuleError| err(e.to_string()))
                };
                check(&f[1])?;
                check(&f[2])?;
                if !f[2].starts_with("role:") {
                    return Err(err(format!("`{}` must be a role:<name>", f[2])));
                }
                let id = i64::try_from(line).unwrap_or(0);
                let domain = f.get(3).map_or(legacy_domain(&f[1], &f[2]), String::as_str);
                out.assignments.push(
                    Assignment::parse(id, &f[1], &f[2])
                        .and_then(|a| a.in_domain(domain))
                        .map_err(|e| err(e.to_string()))?,
                );
            }
            Some("p") => {
                return Err(err(format!(
                    "a p line needs 7 or 8 fields, found {}",
                    f.len()
                )));
            }
            Some("g") => {
                return Err(err(format!(
                    "a g line needs 3 or 4 fields, found {}",
                    f.len()
                )));
            }
            _ => return Err(err("a line must start with p or g".into())),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_seed_policy_parses() {
        let p = parse_policy(SEED_POLICY).expect("seed policy is valid");
        assert!(p.rules.len() >= 10);
        assert!(
            p.assignments
                .iter()
                .any(|a| a.member == "role:editor" && a.role == "role:viewer")
        );
    }

    #[test]
    fn quoted_fields_may_contain_commas_and_quotes() {
        assert_eq!(
            split_csv_line(r#"p, "a, b", "say ""hi""" ,c"#).expect("ok"),
            vec!["p", "a, b", r#"say "hi""#, "c"]
        );
        assert_eq!(split_csv_line("p,,x").expect("ok"), vec!["p", "", "x"]);
        assert!(split_csv_line(r#"p, "open"#).is_err());
    }

    #[test]
    fn a_bad_line_is_reported_with_its_number() {
        let e =
            parse_policy("# c\np, role:a, document, read, *, loop {}, allow\n").expect_err("bad");
        assert_eq!(e.line, 2);
        let e = parse_policy("x, y\n").expect_err("bad");
        assert_eq!(e.line, 1);
        let e = parse_policy("g, user:a, user:b\n").expect_err("bad");
        assert!(e.message.contains("role:"));
    }
}
