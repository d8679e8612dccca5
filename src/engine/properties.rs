//! The change protocol's property check: every property of every invariant matrix the change
//! leaves is proved on the policy it would produce (`policy::analysis::property`). A property
//! that fails is a 409 `property_violated` with the counterexample; one that cannot be proved
//! within the prover's bound refuses the change too (fail closed: 422 naming the property).

use crate::matrix::Matrix;
use crate::policy::ChangeError;
use crate::policy::analysis::{ProofError, prove};
use crate::policy::decide::Policy;

/// Proves the properties of the invariant `matrices` on `policy`, off the async runtime (a
/// proof decides up to millions of requests).
pub async fn check(matrices: &[Matrix], policy: &Policy) -> Result<(), ChangeError> {
    let guarded: Vec<(String, crate::policy::analysis::Property)> = matrices
        .iter()
        .filter(|m| m.invariant)
        .flat_map(|m| m.properties.iter().map(|p| (m.name.clone(), p.clone())))
        .collect();
    if guarded.is_empty() {
        return Ok(());
    }
    let policy = policy.clone();
    tokio::task::spawn_blocking(move || check_now(&guarded, &policy))
        .await
        .map_err(ChangeError::internal)?
}

/// [`check`] on the calling thread (the CLI and benchmarks).
pub fn check_now(
    properties: &[(String, crate::policy::analysis::Property)],
    policy: &Policy,
) -> Result<(), ChangeError> {
    for (matrix, property) in properties {
        match prove(policy, property) {
            Ok(None) => {}
            Ok(Some(counterexample)) => {
                return Err(ChangeError::PropertyViolated {
                    matrix: matrix.clone(),
                    counterexample: Box::new(counterexample),
                });
            }
            Err(e @ (ProofError::TooLarge(_) | ProofError::InvalidPremise { .. })) => {
                return Err(ChangeError::invalid("matrix", e));
            }
        }
    }
    Ok(())
}
