//! Throttling that makes guessing expensive without locking the real user out, and client
//! addresses taken from a forwarding header only when a trusted proxy sent it.

use axum::http::{StatusCode, header};

use crate::helpers::*;

fn retry_after(r: &TestResponse) -> u64 {
    r.headers[header::RETRY_AFTER]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds")
}

#[tokio::test]
async fn an_attacker_failing_for_carol_from_one_address_never_blocks_carol_from_another() {
    let app = TestApp::with_config(|c| c.login_limits.free_failures = 3).await;
    app.register("carol", PASSWORD).await;
    let mut throttled = 0;
    for _ in 0..12 {
        let r = app
            .login_from("198.51.100.66", &[], "carol", "guess-password")
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            throttled += 1;
        }
    }
    assert_eq!(throttled, 9, "three free failures, then the attacker waits");
    // the attacker's client stays throttled, even with the right password
    let attacker = app
        .login_from("198.51.100.66", &[], "carol", PASSWORD)
        .await;
    assert_error(&attacker, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(retry_after(&attacker) > 0);
    // carol, from her own address, logs in at once
    let carol = app.login_from("192.0.2.10", &[], "carol", PASSWORD).await;
    assert_eq!(carol.status, StatusCode::OK, "{carol:?}");
}

#[tokio::test]
async fn failures_under_other_names_behind_a_proxy_do_not_block_alice_from_another_client() {
    let app = TestApp::with_config(|c| {
        c.login_limits.failures_per_client = 20;
        c.proxies.trusted = vec![warden::auth::client::Cidr::parse("10.0.0.0/8").expect("cidr")];
    })
    .await;
    app.register("alice", PASSWORD).await;
    let attacker = [("x-forwarded-for", "198.51.100.66")];
    for i in 0..25 {
        let _ = app
            .login_from("10.0.0.1", &attacker, &format!("user{i}"), "guess-password")
            .await;
    }
    let spent = app
        .login_from("10.0.0.1", &attacker, "alice", PASSWORD)
        .await;
    assert_error(&spent, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert!(retry_after(&spent) > 0);
    let alice = app
        .login_from(
            "10.0.0.1",
            &[("x-forwarded-for", "192.0.2.10")],
            "alice",
            PASSWORD,
        )
        .await;
    assert_eq!(alice.status, StatusCode::OK, "{alice:?}");
}

#[tokio::test]
async fn a_spoofed_x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::with_config(|c| {
        c.login_limits.failures_per_client = 3;
        c.proxies.trusted = vec![warden::auth::client::Cidr::parse("10.0.0.0/8").expect("cidr")];
    })
    .await;
    // a client rotating X-Forwarded-For values still spends one budget: its own address's
    let mut statuses = Vec::new();
    for i in 0..6 {
        let spoof = format!("203.0.113.{i}");
        let r = app
            .login_from(
                "198.51.100.66",
                &[("x-forwarded-for", &spoof)],
                &format!("user{i}"),
                "guess-password",
            )
            .await;
        statuses.push(r.status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::BAD_REQUEST,
            StatusCode::BAD_REQUEST,
            StatusCode::BAD_REQUEST,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS,
        ]
    );
}

#[tokio::test]
async fn x_forwarded_for_from_a_trusted_proxy_names_the_client() {
    let app = TestApp::with_config(|c| {
        c.login_limits.failures_per_client = 3;
        c.proxies.trusted = vec![warden::auth::client::Cidr::parse("10.0.0.0/8").expect("cidr")];
    })
    .await;
    for i in 0..6 {
        let client = format!("203.0.113.{i}");
        let r = app
            .login_from(
                "10.1.2.3",
                &[("x-forwarded-for", &format!("6.6.6.6, {client}"))],
                &format!("user{i}"),
                "guess-password",
            )
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, "invalid_grant");
    }
}
