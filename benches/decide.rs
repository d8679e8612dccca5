//! Baseline: `decide()` on the seed model with 100, 1k and 10k generated rules, one thread
//! and two threads. Run with `cargo bench --bench decide`. The fast-engine work is measured
//! against these numbers (see BENCHMARKS.md).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use warden::authz::adapter::Loaded;
use warden::authz::rule::{Assignment, Rule};
use warden::authz::seed::{SEED_POLICY, parse_policy};
use warden::authz::{AttrValue, Object, Snapshot, Subject};

/// The seed policy plus `n - seed` generated rules in the same shape: route rules for other
/// paths and attribute rules for other resource types and roles, so every request still
/// scans all of them (deny-override never stops early without a deny).
fn policy(n: usize) -> Loaded {
    let seed = parse_policy(SEED_POLICY).expect("seed");
    let mut rules = seed.rules.clone();
    let mut i = 0;
    while rules.len() < n {
        let id = 10_000 + i as i64;
        let rule = match i % 3 {
            0 => Rule::parse(
                id,
                &format!("role:team{}", i % 50),
                &format!("/svc{i}/items/:id"),
                "GET",
                "*",
                "",
                "allow",
            ),
            1 => Rule::parse(
                id,
                &format!("role:team{}", i % 50),
                &format!("kind{}", i % 200),
                "read",
                "documents:read",
                "r.sub.department == r.obj.department && r.sub.clearance >= r.obj.classification",
                "allow",
            ),
            _ => Rule::parse(
                id,
                "role:user",
                &format!("kind{}", i % 200),
                "update",
                "*",
                "r.obj.owner == r.sub.name",
                "allow",
            ),
        };
        rules.push(rule.expect("valid generated rule"));
        i += 1;
    }
    let mut assignments = seed.assignments.clone();
    assignments.push(Assignment {
        id: 0,
        member: "user:alice".into(),
        role: "role:viewer".into(),
    });
    Loaded {
        version: 1,
        rules,
        assignments,
    }
}

fn alice() -> Subject {
    Subject {
        principal: "user:alice".into(),
        name: "alice".into(),
        scopes: vec!["documents:read".into(), "documents:write".into()],
        attributes: BTreeMap::from([
            ("department".into(), AttrValue::Str("eng".into())),
            ("clearance".into(), AttrValue::Int(2)),
        ]),
    }
}

fn document() -> Object {
    Object {
        resource: "document".into(),
        attributes: BTreeMap::from([
            ("department".into(), AttrValue::Str("eng".into())),
            ("owner".into(), AttrValue::Str("bob".into())),
            ("classification".into(), AttrValue::Int(1)),
        ]),
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("decide");
    group.sample_size(20);
    for n in [100usize, 1_000, 10_000] {
        let snap = Arc::new(
            rt.block_on(Snapshot::from_rows(policy(n)))
                .expect("snapshot"),
        );
        let (sub, obj) = (alice(), document());
        assert!(
            snap.decide(&sub, &obj, "read").allowed,
            "the benchmark request is an allow"
        );
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::new("1-thread", n), &n, |b, _| {
            b.iter(|| snap.decide(&sub, &obj, "read"));
        });
        // Two threads deciding at once on the same snapshot (the server's situation on this
        // 2-core machine): time per decision per thread.
        group.bench_with_input(BenchmarkId::new("2-threads", n), &n, |b, _| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                std::thread::scope(|s| {
                    for _ in 0..2 {
                        let snap = snap.clone();
                        s.spawn(move || {
                            let (sub, obj) = (alice(), document());
                            for _ in 0..iters {
                                std::hint::black_box(snap.decide(&sub, &obj, "read"));
                            }
                        });
                    }
                });
                start.elapsed()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
