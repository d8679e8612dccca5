//! `decide()` on the seed model with 100 to 100k generated rules: the compiled engine, one
//! thread and two threads, and casbin-rs (the pre-compilation path, now the oracle) in the
//! same run at 1k and 10k. Also prints the p50 of batches, the time to compile 100k rules and
//! the process's resident memory with them loaded. Run with `cargo bench --bench decide`;
//! results are in BENCHMARKS.md.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use warden::engine::Snapshot;
use warden::policy::decide::Policy;
use warden::policy::model::Model;
use warden::policy::rule::RuleSet;
use warden::policy::rule::{Assignment, Rule};
use warden::policy::seed::{SEED_POLICY, parse_policy};
use warden::policy::{AttrValue, Object, Subject};

#[path = "common/policy.rs"]
mod generated;

/// The generated policy, alice a viewer in every tenant.
fn policy(n: usize) -> RuleSet {
    generated::policy(n, "*")
}

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

/// The same document without its owner: the seed's owners' rule cannot be evaluated (it
/// grants nothing; the viewer rule still allows).
fn document_without_owner() -> Object {
    let mut d = document();
    d.attributes.remove("owner");
    d
}

/// Median time per decision over `batches` batches of `per_batch` decisions.
fn p50(snap: &Snapshot, batches: usize, per_batch: u32) -> std::time::Duration {
    p50_of(snap, &document(), batches, per_batch)
}

/// [`p50`] for another object.
fn p50_of(snap: &Snapshot, obj: &Object, batches: usize, per_batch: u32) -> std::time::Duration {
    let (sub, obj) = (alice(), obj.clone());
    let mut times: Vec<_> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                std::hint::black_box(snap.decide(&sub, &obj, "read"));
            }
            start.elapsed() / per_batch
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Load time and memory first, before other snapshots exist.
    let before = rss_kib();
    let rows = policy(100_000);
    let start = Instant::now();
    let big = Snapshot::compile(rows).expect("snapshot");
    let load = start.elapsed();
    println!(
        "load 100k rules: compile {load:?}; process RSS {} MiB (was {} MiB before generating)",
        rss_kib() / 1024,
        before / 1024
    );
    drop(big);

    // A registration: compiling the whole policy again (before) vs adding the new member to
    // the compiled one (Policy::with_member, now), at 10k rules and 10k accounts.
    let rows = policy(10_000);
    let mut assignments = rows.assignments.clone();
    for i in 0..10_000 {
        assignments
            .push(Assignment::parse(0, &format!("user:u{i}"), "role:viewer").expect("valid"));
    }
    let model = || Model::compile(warden::policy::model::MODEL).expect("model");
    let start = Instant::now();
    let compiled = Policy::new(model(), rows.rules.clone(), &assignments);
    let full = start.elapsed();
    let joining: Vec<Assignment> = (0..100)
        .map(|i| Assignment::parse(0, &format!("user:new{i}"), "role:viewer").expect("assignment"))
        .collect();
    let start = Instant::now();
    for a in &joining {
        let next = compiled.with_member(a).expect("shortcut applies");
        std::hint::black_box(next);
    }
    println!(
        "registration with 10k rules and 10k accounts: full compile {full:?}, incremental {:?}",
        start.elapsed() / 100
    );

    let mut group = c.benchmark_group("decide");
    group.sample_size(20);
    group.measurement_time(std::time::Duration::from_secs(3));
    for n in [100usize, 1_000, 10_000, 100_000] {
        let snap = Arc::new(Snapshot::compile(policy(n)).expect("snapshot"));
        let (sub, obj) = (alice(), document());
        let d = snap.decide(&sub, &obj, "read");
        assert!(d.allowed, "the benchmark request is an allow");
        println!(
            "compiled engine, {n} rules: p50 {:?} per decision (matched {:?})",
            p50(&snap, 201, 2_000),
            d.matched_rules
        );
        let missing = snap.decide(&sub, &document_without_owner(), "read");
        println!(
            "compiled engine, {n} rules, `owner` missing: p50 {:?} per decision (allowed {}, matched {:?})",
            p50_of(&snap, &document_without_owner(), 201, 2_000),
            missing.allowed,
            missing.matched_rules
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
        if n == 1_000 || n == 10_000 {
            // casbin-rs + the strict linear cross-check: what decide() was before.
            let reference = rt.block_on(snap.casbin_decide(&sub, &obj, "read"));
            assert_eq!(reference.allowed, d.allowed);
            assert_eq!(reference.matched_rules, d.matched_rules);
            group.bench_with_input(BenchmarkId::new("casbin-1-thread", n), &n, |b, _| {
                b.iter(|| rt.block_on(snap.casbin_decide(&sub, &obj, "read")));
            });
        }
    }
    // Tenants: 10 tenants, each with its own copy of the 10k-rule policy's generated rules
    // (the seed's rules global), alice a viewer in t3 only. The index splits rules by
    // tenant, so this should cost what one tenant of 10k rules costs (`1-thread/10000`).
    let snap = Arc::new(Snapshot::compile(tenants_policy(10_000, 10)).expect("snapshot"));
    let mut sub = alice();
    sub.tenant = "t3".into();
    let obj = document();
    assert!(snap.decide(&sub, &obj, "read").allowed, "allowed in t3");
    let mut elsewhere = sub.clone();
    elsewhere.tenant = "t4".into();
    assert!(
        !snap.decide(&elsewhere, &obj, "read").allowed,
        "denied in t4"
    );
    println!(
        "compiled engine, 10 tenants x 10k rules: p50 {:?} per decision",
        p50_as(&snap, &sub, 200, 2_000)
    );
    group.bench_function("tenants-10x10000/1-thread", |b| {
        b.iter(|| snap.decide(&sub, &obj, "read"));
    });
    group.finish();
}

/// `tenants` copies of [`policy`]`(n)`'s generated rules, one per tenant `t0`, `t1`, ...;
/// the seed's rules and inheritance stay global; alice is a viewer in `t3` only.
fn tenants_policy(n: usize, tenants: usize) -> RuleSet {
    let base = policy(n);
    let seed_rules = parse_policy(SEED_POLICY).expect("seed").rules.len();
    let mut rules: Vec<Rule> = base.rules[..seed_rules].to_vec();
    let mut id = 1_000_000;
    for t in 0..tenants {
        for r in &base.rules[seed_rules..] {
            let mut r = r.clone().in_tenant(&format!("t{t}")).expect("tenant");
            r.id = id;
            id += 1;
            rules.push(r);
        }
    }
    let assignments = base
        .assignments
        .into_iter()
        .map(|a| {
            if a.member == "user:alice" {
                a.in_domain("t3").expect("tenant")
            } else {
                a
            }
        })
        .collect();
    RuleSet {
        version: 1,
        rules,
        assignments,
        matrices: Vec::new(),
    }
}

/// Median time per decision of `sub` reading the document.
fn p50_as(snap: &Snapshot, sub: &Subject, batches: usize, per_batch: u32) -> std::time::Duration {
    let obj = document();
    let mut times: Vec<_> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                std::hint::black_box(snap.decide(sub, &obj, "read"));
            }
            start.elapsed() / per_batch
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

criterion_group!(benches, bench);
criterion_main!(benches);
