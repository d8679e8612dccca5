//! A plan (`policy::analysis::plan`, what `POST /v1/plan` and `GET /api/documents` compute)
//! for one (subject, action, object type) on the seed policy grown to 100, 1k and 10k rules
//! (the generator of `benches/decide.rs`): alice, a viewer in eng with clearance 2, reading
//! documents (`department == "eng" && classification <= 2 || owner == "alice"` with the
//! clearance deny folded in). Target (issue 25): < 1 ms at 10k rules. Run with
//! `cargo bench --bench plan`; results are in BENCHMARKS.md.

use std::collections::BTreeMap;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use warden::policy::analysis::{PlanKind, plan};
use warden::policy::decide::Policy;
use warden::policy::model::MODEL;
use warden::policy::{AttrValue, Subject};

#[path = "common/policy.rs"]
mod generated;

fn alice() -> Subject {
    Subject {
        principal: "user:alice".into(),
        name: "alice".into(),
        scopes: vec!["documents:read".into(), "documents:write".into()],
        tenant: warden::policy::rule::DEFAULT_TENANT.into(),
        attributes: BTreeMap::from([
            ("department".into(), AttrValue::Str("eng".into())),
            ("clearance".into(), AttrValue::Int(2)),
        ]),
        roles: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("plan");
    group.sample_size(50);
    group.measurement_time(std::time::Duration::from_secs(3));
    let schema = warden::store::documents::schema();
    let sub = alice();
    for n in [100usize, 1_000, 10_000] {
        let rows = generated::policy(n, warden::policy::rule::DEFAULT_TENANT);
        let policy = Policy::from_rows(MODEL, rows.rules, &rows.assignments).expect("policy");
        // The benchmark measures a real, conditional plan, not an early "never".
        let p = plan(&policy, &sub, "read", "document", Some(&schema));
        assert_eq!(p.kind, PlanKind::Conditional, "{}", p.text);
        println!("plan at {n} rules: {}", p.text);
        group.bench_with_input(BenchmarkId::new("alice-read-document", n), &n, |b, _| {
            b.iter(|| std::hint::black_box(plan(&policy, &sub, "read", "document", Some(&schema))));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
