//! The live matrices: parsed from the policy's stored text, checked before a change stores
//! them, and the invariants every change must keep.
//!
//! What a stored matrix must be (each refusal a 422 naming the problem): a matrix file that
//! parses, whose `name` is the name it is stored under, for Warden's model (no `model`,
//! `policy` or `domains`: it runs on the live rules), of at most [`API_MAX_CELLS`] cells —
//! and the whole live set at most that many too, so that the API can always run it in one
//! request (`GET /v1/admin/matrices`). An invariant matrix that is new or edited must hold
//! on the policy it is stored with, cell for cell: otherwise the invariants would not hold
//! from the moment they exist, and every later edit would be measured against a failure.

use crate::matrix::limits::{API_MAX_CELLS, Budget};
use crate::matrix::{Matrix, MatrixError};
use crate::policy::rule::RuleSet;
use crate::policy::stored_matrix::{MatrixText, split_name};
use crate::policy::{ChangeError, Flip};

/// Parses and checks one stored matrix (see the module docs).
///
/// # Errors
/// What is wrong, for a 422.
pub fn parse(stored: &MatrixText) -> Result<Matrix, MatrixError> {
    let mut m = Matrix::from_yaml(&stored.text)?;
    let (tenant, name) = split_name(&stored.name);
    if m.name != name {
        return Err(MatrixError::Invalid(format!(
            "the matrix is named `{}` but stored as `{name}`: the names must agree",
            m.name.escape_debug(),
        )));
    }
    if let Some(tenant) = tenant {
        in_tenant(&mut m, tenant)?;
    }
    if m.model.is_some() || m.policy.is_some() {
        return Err(MatrixError::Invalid(
            "a matrix of the policy runs on the live rules: it cannot name `model`/`policy` \
             files (use `warden matrix check` for other models)"
                .into(),
        ));
    }
    if !m.domains.is_empty() {
        return Err(MatrixError::Invalid(
            "Warden's model has no domains: a matrix of the policy cannot have `domains`".into(),
        ));
    }
    match m.checked_cell_count() {
        Some(n) if n <= API_MAX_CELLS => Ok(m),
        n => Err(MatrixError::Invalid(format!(
            "the matrix has {} cells (subjects x objects x actions); a matrix of the policy \
             has at most {API_MAX_CELLS}",
            n.map_or_else(|| "too many".to_owned(), |n| n.to_string())
        ))),
    }
}

/// A tenant's matrix is decided in its tenant: each subject asks in it and holds its roles
/// there (a subject that names no tenant is given this one; one that names another is
/// refused), and it proves no `properties` (they range over every tenant: the
/// installation's to state).
fn in_tenant(m: &mut Matrix, tenant: &str) -> Result<(), MatrixError> {
    if !m.properties.is_empty() {
        return Err(MatrixError::Invalid(
            "a tenant's matrix states cells, not `properties`: properties are proved over \
             every tenant, so only the installation's matrices have them"
                .into(),
        ));
    }
    for (name, s) in &mut m.subjects {
        match s.tenant.as_deref() {
            None => s.tenant = Some(tenant.to_owned()),
            Some(t) if t == tenant => {}
            Some(other) => {
                return Err(MatrixError::Invalid(format!(
                    "subject `{name}` asks in tenant {other}: a matrix of {tenant} decides \
                     in {tenant} only"
                )));
            }
        }
    }
    Ok(())
}

/// Parses a policy's matrices, reusing `known` ones whose text is unchanged (what the current
/// snapshot already parsed), and checks the size of the whole set.
///
/// # Errors
/// 422 naming the matrix and the problem.
pub fn parse_set(
    texts: &[MatrixText],
    known: &[(MatrixText, Matrix)],
) -> Result<Vec<Matrix>, ChangeError> {
    let mut out = Vec::with_capacity(texts.len());
    for t in texts {
        let parsed = match known.iter().find(|(k, _)| k == t) {
            Some((_, m)) => m.clone(),
            None => parse(t)
                .map_err(|e| ChangeError::invalid("matrix", format!("`{}`: {e}", t.name)))?,
        };
        out.push(parsed);
    }
    let total = out
        .iter()
        .try_fold(0usize, |n, m| n.checked_add(m.checked_cell_count()?));
    if total.is_none_or(|n| n > API_MAX_CELLS) {
        return Err(ChangeError::invalid(
            "matrix",
            format!(
                "the policy's matrices would have more than {API_MAX_CELLS} cells in all; \
                 the API runs them in one request, so make them smaller"
            ),
        ));
    }
    Ok(out)
}

/// Most failing cells an `invariant_fails` refusal lists.
pub const MAX_LISTED_CELLS: usize = 100;

/// The cells of `fresh` invariant matrices that fail under `after`, with their answer under
/// `before` too (so a refusal shows whether the change or the policy makes them fail).
///
/// # Errors
/// A matrix that cannot run (422).
pub fn failing_cells(
    fresh: &[&Matrix],
    before: &RuleSet,
    after: &RuleSet,
) -> Result<(Vec<Flip>, usize), ChangeError> {
    let run = |m: &Matrix, rules: &RuleSet| {
        m.policy_under_test(rules)
            .and_then(|p| m.run_within(&p, &Budget::unlimited()))
            .map_err(|e| ChangeError::invalid("matrix", format!("`{}`: {e}", m.name)))
    };
    let (mut cells, mut total) = (Vec::new(), 0);
    for m in fresh {
        let now = run(m, after)?;
        if now.iter().all(crate::matrix::Cell::passed) {
            continue;
        }
        let then = run(m, before)?;
        for (b, a) in then.iter().zip(&now).filter(|(_, a)| !a.passed()) {
            total += 1;
            if cells.len() < MAX_LISTED_CELLS {
                cells.push(Flip {
                    matrix: m.name.clone(),
                    subject: a.subject.clone(),
                    object: a.object.clone(),
                    action: a.action.clone(),
                    before: b.actual,
                    after: a.actual,
                    expected: a.expected,
                });
            }
        }
    }
    Ok((cells, total))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn stored(name: &str, text: &str) -> MatrixText {
        MatrixText {
            name: name.into(),
            text: text.into(),
        }
    }

    const SMALL: &str = "name: small\nsubjects: {a: {roles: [user]}}\nobjects: {d: {type: document}}\nactions: [read]\nallow: [[a, d, read]]\n";

    #[test]
    fn a_stored_matrix_must_be_named_as_stored_and_run_on_the_live_rules() {
        assert!(parse(&stored("small", SMALL)).is_ok());
        let cases = [
            (stored("other", SMALL), "names must agree"),
            (
                stored("small", &format!("{SMALL}model: m.conf\npolicy: p.csv\n")),
                "cannot name `model`/`policy`",
            ),
            (
                stored(
                    "small",
                    "name: small\ndomains: [t1]\nsubjects: {a: {}}\nobjects: {d: {}}\nactions: [read]\nallow: [[a, t1, d, read]]\n",
                ),
                "cannot have `domains`",
            ),
            (stored("small", "name: small\n"), "missing field"),
            (stored("small", "[1, 2"), "line"),
        ];
        for (m, says) in cases {
            let e = parse(&m).unwrap_err().to_string();
            assert!(e.contains(says), "{}: {e}", m.text);
        }
    }

    #[test]
    fn a_tenants_matrix_decides_in_its_tenant_only() {
        let m = parse(&stored("acme/small", SMALL)).unwrap();
        assert_eq!(m.name, "small");
        assert_eq!(m.subjects["a"].tenant.as_deref(), Some("acme"));
        let mine = SMALL.replace("roles: [user]", "roles: [user], tenant: acme");
        assert!(parse(&stored("acme/small", &mine)).is_ok());
        let theirs = SMALL.replace("roles: [user]", "roles: [user], tenant: globex");
        let e = parse(&stored("acme/small", &theirs))
            .unwrap_err()
            .to_string();
        assert!(e.contains("asks in tenant globex"), "{e}");
        // the installation's matrices may name any tenant
        assert!(parse(&stored("small", &theirs)).is_ok());
        let proved = format!("{SMALL}properties: [{{name: p, objects: [d], actions: [read]}}]\n");
        let e = parse(&stored("acme/small", &proved))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not `properties`"), "{e}");
        let e = parse(&stored("acme/other", SMALL)).unwrap_err().to_string();
        assert!(e.contains("names must agree"), "{e}");
    }

    #[test]
    fn a_matrix_larger_than_one_api_run_is_refused_before_anything_runs() {
        let subjects: Vec<String> = (0..400).map(|i| format!("s{i}: {{}}")).collect();
        let objects: Vec<String> = (0..300).map(|i| format!("o{i}: {{}}")).collect();
        let text = format!(
            "name: big\nsubjects: {{{}}}\nobjects: {{{}}}\nactions: [read]\nallow: [['*', '*', read]]\n",
            subjects.join(", "),
            objects.join(", ")
        );
        let e = parse(&stored("big", &text)).unwrap_err().to_string();
        assert!(e.contains("120000 cells"), "{e}");
    }

    #[test]
    fn the_whole_set_is_bounded_like_one_api_run() {
        let subjects: Vec<String> = (0..250).map(|i| format!("s{i}: {{}}")).collect();
        let objects: Vec<String> = (0..300).map(|i| format!("o{i}: {{}}")).collect();
        let text = |name: &str| {
            format!(
                "name: {name}\nsubjects: {{{}}}\nobjects: {{{}}}\nactions: [read]\nallow: [['*', '*', read]]\n",
                subjects.join(", "),
                objects.join(", ")
            )
        };
        let one = [stored("a", &text("a"))];
        assert_eq!(parse_set(&one, &[]).unwrap().len(), 1);
        let two = [stored("a", &text("a")), stored("b", &text("b"))];
        let e = parse_set(&two, &[]).unwrap_err().to_string();
        assert!(e.contains("more than 100000 cells in all"), "{e}");
    }
}
