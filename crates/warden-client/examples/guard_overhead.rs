//! Replica-mode guard overhead per request at 10k rules: the same axum route with and without
//! `Guard::replica`, driven with `oneshot` (no sockets), warm subject cache.
//!
//! `cargo run --release -p warden-client --example guard_overhead`

use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use tower::ServiceExt;
use warden_client::guard::Guard;
use warden_client::replica::Replica;
use warden_client::warden_policy::model::MODEL;
use warden_client::warden_policy::replica::{AssignmentText, PolicyDocument};
use warden_client::warden_policy::rule::RuleText;
use warden_client::warden_policy::{AttrValue, Subject};

const RULES: usize = 10_000;
const REQUESTS: u32 = 200_000;

fn document() -> PolicyDocument {
    let rules = (0..RULES)
        .map(|i| RuleText {
            id: i as i64 + 1,
            subject: format!("role:r{}", i % 100),
            object: format!("/svc{}/items/:id", i % 1000),
            action: if i % 2 == 0 { "GET" } else { "PUT" }.into(),
            scope: "*".into(),
            condition: if i % 3 == 0 {
                "r.sub.department == \"eng\"".into()
            } else {
                String::new()
            },
            effect: "allow".into(),
            tenant: "*".into(),
        })
        .collect();
    let assignments = vec![AssignmentText {
        id: 1,
        member: "user:alice".into(),
        role: "role:r8".into(),
        domain: "*".into(),
    }];
    PolicyDocument {
        version: 1,
        model: MODEL.into(),
        rules,
        assignments,
    }
}

async fn run(app: &Router, n: u32) -> f64 {
    let started = Instant::now();
    for _ in 0..n {
        let req = Request::get("/svc8/items/42")
            .header("authorization", "Bearer bench-token")
            .body(Body::empty())
            .expect("request");
        let res = app.clone().oneshot(req).await.expect("infallible");
        assert!(res.status().is_success(), "{}", res.status());
    }
    started.elapsed().as_nanos() as f64 / f64::from(n)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let replica = Replica::fixed(document()).expect("compiles");
    let guard = Guard::replica(warden_client::Client::new("http://127.0.0.1:9"), replica)
        .cache_ttl(std::time::Duration::from_secs(3600));
    guard.preload_subject(
        "bench-token",
        Subject {
            principal: "user:alice".into(),
            name: "alice".into(),
            scopes: vec![],
            attributes: [("department".to_owned(), AttrValue::Str("eng".into()))].into(),
            tenant: "default".into(),
            roles: vec![],
        },
    );
    let route = || Router::new().route("/svc8/items/{id}", get(|| async { "item" }));
    let bare = route();
    let guarded = route().layer(guard);
    // warm-up, then alternate to share the machine's noise
    run(&bare, 20_000).await;
    run(&guarded, 20_000).await;
    let (mut b, mut g) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        b.push(run(&bare, REQUESTS).await);
        g.push(run(&guarded, REQUESTS).await);
    }
    b.sort_by(f64::total_cmp);
    g.sort_by(f64::total_cmp);
    println!(
        "{RULES} rules: route alone {:.0} ns/request, with the replica guard {:.0} ns/request: overhead {:.2} µs (median of 3 x {REQUESTS})",
        b[1],
        g[1],
        (g[1] - b[1]) / 1000.0
    );
}
