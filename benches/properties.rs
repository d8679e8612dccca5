//! Proving the shipped properties (`policies/matrices/invariants.yaml`, `properties:`) on the
//! seed policy grown to 100, 1k and 10k rules (the generator of `benches/decide.rs`), and the
//! edit check's cost: the same proof, as `engine::properties::check_now` runs it on the
//! policy an edit would produce. Run with `cargo bench --bench properties`; results are in
//! BENCHMARKS.md.

use std::path::Path;
use std::time::{Duration, Instant};

use warden::engine::properties::check_now;
use warden::matrix::Matrix;
use warden::policy::analysis::prove;
use warden::policy::decide::Policy;
use warden::policy::model::MODEL;
use warden::policy::rule::RuleSet;

#[path = "common/policy.rs"]
mod generated;

/// The generated policy, alice a viewer in the default tenant.
fn policy(n: usize) -> RuleSet {
    generated::policy(n, warden::policy::rule::DEFAULT_TENANT)
}

/// The median of `runs` timings of `f`.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let matrix =
        Matrix::from_file(Path::new("policies/matrices/invariants.yaml")).expect("invariants");
    let guarded: Vec<(String, _)> = matrix
        .properties
        .iter()
        .map(|p| (matrix.name.clone(), p.clone()))
        .collect();
    for n in [100usize, 1_000, 10_000] {
        let rows = policy(n);
        let compiled =
            Policy::from_rows(MODEL, rows.rules.clone(), &rows.assignments).expect("policy");
        for p in &matrix.properties {
            let t = median(11, || {
                assert!(
                    prove(&compiled, p).expect("proof").is_none(),
                    "{} fails",
                    p.name
                );
            });
            println!("prove {:<28} {n:>6} rules: {t:?}", p.name);
        }
        let t = median(11, || {
            check_now(&guarded, &compiled).expect("the edit check passes")
        });
        println!("edit check (every property) {n:>6} rules: {t:?}");
    }
}
