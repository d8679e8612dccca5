//! HEAD is a GET: axum (and most upstreams) answer HEAD with the GET handler, so a HEAD
//! request must need what the GET needs, at every decision point: the route guard,
//! `/v1/check` paths and forward-auth.

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use warden::auth::client::Cidr;

use crate::helpers::*;

/// `allow user:hdx /v1/admin/users/:name *` and `deny user:hdx /v1/admin/users/admin GET`: the
/// issue's reproduction. Returns the app (trusting a gateway on 10.0.0.0/8), hd's token and
/// the admin's.
async fn hd_policy(edit: impl FnOnce(&mut warden::config::Config)) -> (TestApp, String, String) {
    let app = TestApp::with_config(|c| {
        c.proxies.trusted = vec![Cidr::parse("10.0.0.0/8").expect("cidr")];
        edit(c);
    })
    .await;
    let (hd, _) = app.user_tokens("hdx").await;
    let admin = app.admin_token().await;
    app.drop_shipped_properties(&admin).await;
    for (action, effect) in [("*", "allow"), ("GET", "deny")] {
        let object = if effect == "allow" {
            "/v1/admin/users/:name"
        } else {
            "/v1/admin/users/admin"
        };
        let r = app
            .call(
                Method::POST,
                "/v1/admin/rules",
                Some(&admin),
                Some(json!({"subject": "user:hdx", "object": object, "action": action, "effect": effect})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    }
    (app, hd, admin)
}

/// (path, method, allowed): HEAD follows GET on the denied path and on the allowed one.
const CELLS: &[(&str, &str, bool)] = &[
    ("/v1/admin/users/admin", "GET", false),
    ("/v1/admin/users/admin", "HEAD", false),
    ("/v1/admin/users/ADMIN", "HEAD", false),
    ("/v1/admin/users/hdx", "GET", true),
    ("/v1/admin/users/hdx", "HEAD", true),
];

fn request(method: &str, path: &str, token: &str) -> Request<Body> {
    Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

#[tokio::test]
async fn a_head_request_to_a_route_is_decided_as_the_get_it_runs() {
    let (app, hd, _) = hd_policy(|_| {}).await;
    let mut failures = Vec::new();
    for (path, method, allowed) in CELLS {
        let r = app.send(request(method, path, &hd)).await;
        let got = r.status == StatusCode::OK;
        if got != *allowed || !(r.status == StatusCode::OK || r.status == StatusCode::FORBIDDEN) {
            failures.push(format!(
                "user:hdx {method} {path}: expected {}, got {}",
                if *allowed { "allow" } else { "deny" },
                r.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_head_request_is_recorded_as_the_get_it_was_decided_as() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("decisions.jsonl");
    let sink = path.clone();
    let (app, hd, _) =
        hd_policy(|c| c.decision_log.sink = Some(warden::decisions::Sink::File(sink))).await;
    let r = app
        .send(request("HEAD", "/v1/admin/users/admin", &hd))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{r:?}");
    app.state
        .decisions
        .settle(std::time::Duration::from_secs(5))
        .await;
    let text = std::fs::read_to_string(&path).expect("log");
    let line: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("json"))
        .find(|l| l["resource"] == "/v1/admin/users/admin")
        .expect("the decision is logged");
    assert_eq!(line["action"], "GET", "{line}");
    assert_eq!(line["allowed"], false, "{line}");
}

#[tokio::test]
async fn a_check_of_a_path_with_head_is_answered_as_the_get() {
    let (app, hd, _) = hd_policy(|_| {}).await;
    let mut failures = Vec::new();
    for (path, method, allowed) in CELLS {
        let body = json!({"checks": [{"object": {"path": path}, "action": method}]});
        let r = app
            .call(Method::POST, "/v1/check", Some(&hd), Some(body))
            .await;
        // the seed lets every user ask /v1/check about themself
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        if r.body["results"][0]["allowed"] != *allowed {
            failures.push(format!("check user:hdx {method} {path}: {:?}", r.body));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn forward_auth_decides_a_forwarded_head_as_the_get_the_upstream_runs() {
    let (app, hd, _) = hd_policy(|_| {}).await;
    let mut failures = Vec::new();
    // the original method, and the gateway's own method on the forward route
    for (path, method, allowed) in CELLS {
        for gateway_method in ["GET", "HEAD"] {
            let mut req = request(gateway_method, "/v1/authz/forward", &hd);
            let h = req.headers_mut();
            h.insert("x-forwarded-method", method.parse().expect("value"));
            h.insert("x-forwarded-uri", path.parse().expect("value"));
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(SocketAddr::from((
                    [10, 1, 2, 3],
                    40_000,
                ))));
            let r = app.send(req).await;
            let got = r.status == StatusCode::NO_CONTENT;
            if got != *allowed {
                failures.push(format!(
                    "forward user:hdx {method} {path} (gateway {gateway_method}): {}",
                    r.status
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
