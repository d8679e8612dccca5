//! The seed matrices: `policies/matrices/*.yaml`, loaded into a new database with the seed
//! policy (`policies/policy.csv`), exactly like it — once, never re-imposed on a database
//! that has its own. From then on the database's matrices are the live set.

use crate::policy::stored_matrix::MatrixText;

/// Every matrix file under `policies/matrices/`: (file name, text). A unit test proves the
/// list names every file of the directory, so a new file cannot be left out of the seed.
pub const SEED_FILES: &[(&str, &str)] = &[
    (
        "forward.yaml",
        include_str!("../../policies/matrices/forward.yaml"),
    ),
    (
        "invariants.yaml",
        include_str!("../../policies/matrices/invariants.yaml"),
    ),
    (
        "seed.yaml",
        include_str!("../../policies/matrices/seed.yaml"),
    ),
];

/// The seed matrices as the policy stores them, named by their `name` field.
///
/// # Errors
/// A seed file that does not parse, or whose name is not a matrix name (the tests catch
/// both before a release).
pub fn seed_matrices() -> Result<Vec<MatrixText>, String> {
    let mut out = Vec::with_capacity(SEED_FILES.len());
    for (file, text) in SEED_FILES {
        let m =
            super::Matrix::from_yaml(text).map_err(|e| format!("policies/matrices/{file}: {e}"))?;
        crate::policy::stored_matrix::check_name(&m.name)
            .map_err(|e| format!("policies/matrices/{file}: {e}"))?;
        out.push(MatrixText {
            name: m.name,
            text: (*text).to_owned(),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn the_seed_names_every_file_of_policies_matrices_with_its_current_text() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/matrices");
        let mut on_disk: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read_to_string(&p).unwrap())
            })
            .collect();
        on_disk.sort();
        let seed: Vec<(String, String)> = SEED_FILES
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
            .collect();
        assert_eq!(seed, on_disk);
    }

    #[test]
    fn every_seed_matrix_parses_and_has_a_storable_name() {
        let names: Vec<String> = seed_matrices()
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(names, ["forward", "invariants", "seed"]);
    }
}
