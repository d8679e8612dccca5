//! Forward-auth (`/v1/authz/forward`): through the real router, and end to end behind a real
//! nginx in front of a real upstream.

use std::net::SocketAddr;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use warden::auth::client::Cidr;
use warden::matrix::{Matrix, report_failures};

use crate::helpers::*;

const FORWARD: &str = "/v1/authz/forward";
/// The gateway in these tests.
const GATEWAY: &str = "10.1.2.3";

/// Trusts the gateway's network.
pub(crate) fn trust_gateway(c: &mut warden::config::Config) {
    c.proxies.trusted = vec![Cidr::parse("10.0.0.0/8").expect("cidr")];
}

async fn gateway_app() -> TestApp {
    TestApp::with_config(trust_gateway).await
}

/// A forward-auth request as gateway `peer` sends it (no peer: a `oneshot` without a socket).
fn ask(
    peer: Option<&str>,
    token: Option<&str>,
    headers: &[(&str, &str)],
    method: Method,
) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(FORWARD);
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut req = req.body(Body::empty()).expect("request");
    if let Some(peer) = peer {
        let ip: std::net::IpAddr = peer.parse().expect("peer");
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(SocketAddr::new(ip, 40_000)));
    }
    req
}

/// What Caddy and Traefik send for `method uri`.
pub(crate) async fn forward(app: &TestApp, token: &str, method: &str, uri: &str) -> TestResponse {
    app.send(ask(
        Some(GATEWAY),
        Some(token),
        &[("x-forwarded-method", method), ("x-forwarded-uri", uri)],
        Method::GET,
    ))
    .await
}

fn header<'a>(r: &'a TestResponse, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn an_allowed_request_is_204_naming_the_user_and_roles_for_the_gateway() {
    let app = gateway_app().await;
    let (token, _) = app.user_tokens("Zoe").await;
    for uri in ["/app/home", "/app/pages/7?edit=1&x=/v1/admin", "/app/a/b/c"] {
        let r = forward(&app, &token, "GET", uri).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{uri}: {r:?}");
        assert_eq!(header(&r, "x-warden-user"), "zoe");
        assert_eq!(header(&r, "x-warden-roles"), "user");
        assert!(r.headers.contains_key("warden-policy-version"), "{r:?}");
    }
    let admin = app.admin_token().await;
    let r = forward(&app, &admin, "DELETE", "/anything/at/all").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    assert_eq!(header(&r, "x-warden-roles"), "admin,user");
}

#[tokio::test]
async fn the_nginx_header_pair_is_read_like_the_caddy_one_and_any_gateway_method_is_answered() {
    let app = gateway_app().await;
    let (token, _) = app.user_tokens("zoe").await;
    let nginx = [
        ("x-original-method", "GET"),
        ("x-original-uri", "/app/home"),
    ];
    for method in [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::OPTIONS,
        Method::PUT,
    ] {
        let r = app
            .send(ask(Some(GATEWAY), Some(&token), &nginx, method.clone()))
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{method}: {r:?}");
    }
    let put = [
        ("x-original-method", "PUT"),
        ("x-original-uri", "/app/home"),
    ];
    let r = app
        .send(ask(Some(GATEWAY), Some(&token), &put, Method::GET))
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn a_request_the_policy_denies_is_403_without_policy_details() {
    let app = gateway_app().await;
    let (token, _) = app.user_tokens("zoe").await;
    for (method, uri) in [
        ("PUT", "/app/pages/7"),
        ("POST", "/app/home"),
        ("GET", "/app"),
        ("GET", "/other/thing"),
        ("GET", "/v1/admin/rules"),
        ("get", "/app/home"),
    ] {
        let r = forward(&app, &token, method, uri).await;
        assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
        assert!(!r.headers.contains_key("x-warden-user"), "{r:?}");
        assert!(!r.body.to_string().contains("rule"), "{r:?}");
    }
}

#[tokio::test]
async fn no_or_a_bad_token_is_401_with_www_authenticate_bearer() {
    let app = gateway_app().await;
    let (token, _) = app.user_tokens("zoe").await;
    let headers = [
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/app/home"),
    ];
    let none = app
        .send(ask(Some(GATEWAY), None, &headers, Method::GET))
        .await;
    assert_error(&none, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(header(&none, "www-authenticate"), "Bearer");
    let forged = format!("{token}x");
    let bad = app
        .send(ask(Some(GATEWAY), Some(&forged), &headers, Method::GET))
        .await;
    assert_error(&bad, StatusCode::UNAUTHORIZED, "invalid_token");
    assert!(header(&bad, "www-authenticate").starts_with("Bearer"));
    // a revoked session: the same answer as on any protected route
    let r = app
        .call(Method::POST, "/v1/auth/logout-all", Some(&token), None)
        .await;
    assert!(r.status.is_success(), "{r:?}");
    let revoked = forward(&app, &token, "GET", "/app/home").await;
    assert_error(&revoked, StatusCode::UNAUTHORIZED, "invalid_token");
}

#[tokio::test]
async fn a_peer_outside_trusted_proxies_gets_403_and_its_headers_decide_nothing() {
    let untrusting = TestApp::new().await; // no --trusted-proxies at all
    let app = gateway_app().await;
    for app in [&untrusting, &app] {
        let admin = app.admin_token().await;
        let headers = [
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/app/home"),
            // claiming to come through the gateway changes nothing: the TCP peer decides
            ("x-forwarded-for", GATEWAY),
        ];
        for peer in [Some("203.0.113.9"), Some("127.0.0.1"), None] {
            let r = app
                .send(ask(peer, Some(&admin), &headers, Method::GET))
                .await;
            assert_error(&r, StatusCode::FORBIDDEN, "untrusted_proxy");
            assert!(!r.headers.contains_key("x-warden-user"), "{r:?}");
        }
    }
}

#[tokio::test]
async fn missing_partial_repeated_contradictory_or_oversized_headers_are_403_naming_the_misconfiguration()
 {
    let app = gateway_app().await;
    let (token, _) = app.user_tokens("zoe").await;
    let long = format!("/app/{}", "a".repeat(warden::http::forward::MAX_URI_LEN));
    let table: Vec<Vec<(&str, &str)>> = vec![
        vec![],
        vec![("x-forwarded-uri", "/app/home")],
        vec![("x-original-method", "GET")],
        vec![
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/app/home"),
            ("x-original-method", "DELETE"),
            ("x-original-uri", "/app/home"),
        ],
        vec![
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/app/home"),
            ("x-original-method", "GET"),
            ("x-original-uri", "/app/pages/1"),
        ],
        vec![
            ("x-forwarded-method", "GET"),
            ("x-forwarded-uri", "/app/home"),
            ("x-forwarded-uri", "/v1/admin/rules"),
        ],
        vec![
            ("x-forwarded-method", "G(E)T"),
            ("x-forwarded-uri", "/app/home"),
        ],
        vec![("x-forwarded-method", "GET"), ("x-forwarded-uri", &long)],
    ];
    for headers in &table {
        let r = app
            .send(ask(Some(GATEWAY), Some(&token), headers, Method::GET))
            .await;
        // 403, not 400: a gateway turns any other status into a 500 for the client
        assert_error(&r, StatusCode::FORBIDDEN, "bad_forwarded_request");
        assert_eq!(header(&r, "x-warden-error"), "bad_forwarded_request");
    }
}

#[tokio::test]
async fn a_path_that_could_be_read_two_ways_is_denied_and_respellings_get_the_canonical_decision() {
    let app = gateway_app().await;
    let (token, _) = app.user_tokens("zoe").await;
    // 403, not 400: the path is the client's, and a gateway turns a 400 into a 500
    for uri in [
        "/app/x/../home",
        "/app/./home",
        "//app/home",
        "/app//home",
        "/app/home/",
        "/app/a%2Fb",
        "/app/%2e%2e/v1/admin/rules",
        "/app/%",
        "/app/caf%C3%A9",
        "app/home",
        "*",
        "/app/home#frag",
    ] {
        let r = forward(&app, &token, "GET", uri).await;
        assert_error(&r, StatusCode::FORBIDDEN, "ambiguous_path");
        assert_eq!(header(&r, "x-warden-error"), "ambiguous_path");
    }
    // raw bytes that are not ASCII (UTF-8 as a client may send it) are the same kind of path
    for raw in [&b"/app/caf\xc3\xa9"[..], b"/app/\xff", b"/app/\x80admin"] {
        let mut req = ask(
            Some(GATEWAY),
            Some(&token),
            &[("x-forwarded-method", "GET")],
            Method::GET,
        );
        req.headers_mut().insert(
            "x-forwarded-uri",
            axum::http::HeaderValue::from_bytes(raw).expect("obs-text is a valid value"),
        );
        assert_error(
            &app.send(req).await,
            StatusCode::FORBIDDEN,
            "ambiguous_path",
        );
    }
    // the same canonicalisation as /v1/check: /app/%70ages/7 is /app/pages/7, and Warden's own
    // routes get their parameters' spelling (so a rule on /api/documents/4 covers /+4 and /04)
    let admin = app.admin_token().await;
    app.add_rule(&admin,
        json!({"subject": "user:zoe", "object": "/api/documents/4", "action": "PATCH", "effect": "allow"}),
    )
    .await;
    for uri in [
        "/api/documents/4",
        "/api/documents/04",
        "/api/%64ocuments/+4",
    ] {
        let r = forward(&app, &token, "PATCH", uri).await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{uri}: {r:?}");
    }
    let r = forward(&app, &token, "PATCH", "/api/documents/5").await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
}

#[tokio::test]
async fn rules_that_need_object_attributes_deny_at_the_gateway_and_subject_attributes_decide() {
    let app = gateway_app().await;
    let admin = app.admin_token().await;
    let (zoe, _) = app.user_tokens("zoe").await;
    // owners edit their notes: a gateway cannot know a note's owner, so this never allows here
    app.add_rule(
        &admin,
        json!({"subject": "role:user", "object": "/app/notes/:id", "action": "PUT",
               "condition": "r.obj.owner == r.sub.name", "effect": "allow"}),
    )
    .await;
    let r = forward(&app, &zoe, "PUT", "/app/notes/1").await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    // ... and it takes nothing away from a rule that does not read them
    app.add_rule(
        &admin,
        json!({"subject": "user:zoe", "object": "/app/notes/1", "action": "PUT", "effect": "allow"}),
    )
    .await;
    let r = forward(&app, &zoe, "PUT", "/app/notes/1").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    // a deny that reads object attributes cannot be evaluated either: it denies (fail closed)
    // rather than being skipped, even where an allow matches
    app.add_rule(
        &admin,
        json!({"subject": "*", "object": "/app/secret/*", "action": "GET",
               "condition": "r.obj.classification >= 3", "effect": "deny"}),
    )
    .await;
    assert_eq!(
        forward(&app, &zoe, "GET", "/app/public").await.status,
        StatusCode::NO_CONTENT
    );
    let r = forward(&app, &zoe, "GET", "/app/secret/plans").await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    // subject attributes are known: the seed lets editors in eng, not sales, PUT pages
    let m = Matrix::from_yaml(
        "name: t\nsubjects:\n  ed-eng: {roles: [editor], attributes: {department: eng}}\n  \
         ed-sales: {roles: [editor], attributes: {department: sales}}\n  \
         ed-none: {roles: [editor]}\n\
         objects: {x: {}}\nactions: [a]\nallow: [[ed-eng, x, a]]\n",
    )
    .expect("matrix");
    let tokens = app.matrix_subject_tokens(&m).await;
    for (who, want) in [
        ("ed-eng", StatusCode::NO_CONTENT),
        ("ed-sales", StatusCode::FORBIDDEN),
        // no department at all: the condition cannot be evaluated, so it denies
        ("ed-none", StatusCode::FORBIDDEN),
    ] {
        let r = forward(&app, &tokens[who], "PUT", "/app/pages/7").await;
        assert_eq!(r.status, want, "{who}: {r:?}");
    }
}

#[tokio::test]
async fn the_forward_route_itself_is_decided_by_the_policy_before_the_forwarded_request() {
    let app = gateway_app().await;
    let admin = app.admin_token().await;
    let (zoe, _) = app.user_tokens("zoe").await;
    app.add_rule(
        &admin,
        json!({"subject": "user:zoe", "object": FORWARD, "action": "*", "effect": "deny"}),
    )
    .await;
    let r = forward(&app, &zoe, "GET", "/app/home").await;
    assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
    // admins are unaffected
    let r = forward(&app, &admin, "GET", "/app/home").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
}

fn forward_matrix() -> Matrix {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/policies/matrices/forward.yaml"
    ))
    .expect("read");
    Matrix::from_yaml(&text).expect("forward.yaml is valid")
}

/// The shipped forward matrix, each cell asked through the endpoint with a real account: the
/// `forward` object is the gateway's own method on the route, the others the forwarded request.
#[tokio::test]
async fn the_forward_matrix_holds_through_the_endpoint() {
    let m = forward_matrix();
    let app = gateway_app().await;
    let tokens = app.matrix_subject_tokens(&m).await;
    let mut cells = Vec::new();
    for (subject, token) in &tokens {
        for (object, o) in &m.objects {
            let path = o.kind.clone().unwrap_or_else(|| object.clone());
            for action in &m.actions {
                let method = Method::from_bytes(action.as_bytes()).expect("method");
                let req = if path == FORWARD {
                    let headers = [("x-forwarded-method", "GET"), ("x-forwarded-uri", "/app/x")];
                    // the gateway's method is the one decided on the route; the forwarded
                    // request itself must then be allowed too (GET /app/x is, for users)
                    ask(Some(GATEWAY), Some(token), &headers, method)
                } else {
                    let headers = [
                        ("x-forwarded-method", action.as_str()),
                        ("x-forwarded-uri", path.as_str()),
                    ];
                    ask(Some(GATEWAY), Some(token), &headers, Method::GET)
                };
                let r = app.send(req).await;
                let actual = match r.status {
                    StatusCode::NO_CONTENT => true,
                    StatusCode::FORBIDDEN => false,
                    _ => panic!("{subject} {action} {object}: unexpected {r:?}"),
                };
                cells.push(http_cell(&m, (subject, object, action), r.status, actual));
            }
        }
    }
    assert_eq!(cells.len(), m.cell_count());
    if let Some(report) = report_failures(&m, &cells) {
        panic!("{report}");
    }
}

mod nginx;

/// A gateway passes the caller's headers on: a `Warden-Min-Version` (the version an earlier
/// write answered) is reached before the forwarded request is decided, as on every other
/// route, so a revoke made through one instance is never undone by another's forward-auth.
#[tokio::test]
async fn forward_auth_is_decided_at_the_minimum_version_the_caller_names() {
    let a = gateway_app().await;
    let (zoe, _) = a.user_tokens("zoe").await;
    // B neither polls nor listens here: only the minimum version brings it forward.
    let b = a.another_instance_with(trust_gateway).await;
    let admin = a.admin_token().await;
    assert_eq!(
        forward(&b, &zoe, "GET", "/app/pages/1").await.status,
        StatusCode::NO_CONTENT
    );
    let r = a
        .add_rule(
            &admin,
            json!({"subject": "user:zoe", "object": "/app/*", "action": "GET", "effect": "deny"}),
        )
        .await;
    let revoked = header(&r, "warden-policy-version").to_owned();
    // without a minimum, B still answers from the policy it loaded
    assert_eq!(
        forward(&b, &zoe, "GET", "/app/pages/1").await.status,
        StatusCode::NO_CONTENT
    );
    let at = |min: &str| {
        ask(
            Some(GATEWAY),
            Some(&zoe),
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/app/pages/1"),
                ("warden-min-version", min),
            ],
            Method::GET,
        )
    };
    let denied = b.send(at(&revoked)).await;
    assert_error(&denied, StatusCode::FORBIDDEN, "forbidden");
    assert_eq!(
        b.state
            .engine
            .snapshot()
            .expect("policy")
            .version()
            .to_string(),
        revoked
    );
    // Never a 503 or a 400 to a gateway (it would answer the client 500): a request that
    // cannot be decided is a 403 naming why.
    let unwritten = b.send(at("999999")).await;
    assert_error(&unwritten, StatusCode::FORBIDDEN, "policy_stale");
    assert_eq!(header(&unwritten, "x-warden-error"), "policy_stale");
    for bad in ["x", "-1", "1.0", "", "abc", "999999999999999999999"] {
        let r = b.send(at(bad)).await;
        assert_error(&r, StatusCode::FORBIDDEN, "bad_request");
        assert_eq!(header(&r, "x-warden-error"), "bad_request");
    }
}

#[tokio::test]
async fn forward_decisions_reach_the_decision_log_and_the_metrics() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("decisions.jsonl");
    let sink = path.clone();
    let app = TestApp::with_config(|c| {
        trust_gateway(c);
        c.decision_log.sink = Some(warden::decisions::Sink::File(sink));
    })
    .await;
    let (token, _) = app.user_tokens("zoe").await;
    let allowed = forward(&app, &token, "GET", "/app/home").await;
    assert_eq!(allowed.status, StatusCode::NO_CONTENT, "{allowed:?}");
    let denied = forward(&app, &token, "DELETE", "/app/home").await;
    assert_error(&denied, StatusCode::FORBIDDEN, "forbidden");
    app.state
        .decisions
        .settle(std::time::Duration::from_secs(5))
        .await;
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&path)
        .expect("log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let forwarded: Vec<(String, bool)> = lines
        .iter()
        .filter(|l| l["point"] == "forward" && l["resource"] == "/app/home")
        .map(|l| {
            (
                l["action"].as_str().unwrap_or("").to_owned(),
                l["allowed"] == true,
            )
        })
        .collect();
    assert_eq!(
        forwarded,
        vec![("GET".to_owned(), true), ("DELETE".to_owned(), false)],
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| l["subject"] == "zoe"),
        "every line names the caller: {lines:?}"
    );
    let mut scrape = Request::get("/metrics")
        .body(Body::empty())
        .expect("request");
    scrape
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(SocketAddr::from((
            [127, 0, 0, 1],
            40_000,
        ))));
    let metrics = app.send(scrape).await;
    let text = metrics.body.as_str().expect("text");
    for result in ["allow", "deny"] {
        let series = format!(
            "warden_decisions_total{{point=\"forward\",route=\"/v1/authz/forward\",result=\"{result}\"}} 1"
        );
        assert!(text.contains(&series), "{series} missing:\n{text}");
    }
}

#[tokio::test]
async fn in_case_insensitive_mode_every_case_is_decided_as_lower_case_and_upper_case_rules_are_refused()
 {
    let app = TestApp::with_config(|c| {
        trust_gateway(c);
        c.path_matching.case = warden::engine::resource::PathCase::CaseInsensitive;
    })
    .await;
    let (token, _) = app.user_tokens("zoe").await;
    let admin = app.admin_token().await;
    app.add_rule(
        &admin,
        json!({"subject": "role:user", "object": "/app/admin", "action": "*", "effect": "deny"}),
    )
    .await;
    for uri in [
        "/app/admin",
        "/app/ADMIN",
        "/App/Admin",
        "/app/%41dmin",
        "/APP/ADMIN?x=1",
    ] {
        let r = forward(&app, &token, "GET", uri).await;
        assert_error(&r, StatusCode::FORBIDDEN, "forbidden");
        let body =
            json!({"checks": [{"object": {"path": uri.split('?').next()}, "action": "GET"}]});
        let c = app
            .call(Method::POST, "/v1/check", Some(&token), Some(body))
            .await;
        assert_eq!(c.body["results"][0]["allowed"], false, "{uri}: {c:?}");
    }
    assert_eq!(
        forward(&app, &token, "GET", "/APP/Home").await.status,
        StatusCode::NO_CONTENT
    );
    // A rule that could never match a folded path (a deny that would not deny) is refused.
    let r = app
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(json!({"subject": "role:user", "object": "/app/Secret", "action": "GET", "effect": "deny"})),
        )
        .await;
    assert_error(&r, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert!(
        r.body["message"]
            .as_str()
            .unwrap_or("")
            .contains("/app/Secret"),
        "{r:?}"
    );
}

#[tokio::test]
async fn segment_parameters_are_refused_in_forwarded_and_checked_paths_unless_allowed() {
    let spellings = [
        "/app/home;x",
        "/app/home;jsessionid=1",
        "/app/x/..;/home",
        "/app/..;/app/home",
    ];
    let app = gateway_app().await;
    let (token, _) = app.user_tokens("zoe").await;
    for uri in spellings {
        let r = forward(&app, &token, "GET", uri).await;
        assert_error(&r, StatusCode::FORBIDDEN, "ambiguous_path");
        let body = json!({"checks": [{"object": {"path": uri}, "action": "GET"}]});
        let c = app
            .call(Method::POST, "/v1/check", Some(&token), Some(body))
            .await;
        assert_error(&c, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    // An operator whose upstream reads `;` literally may allow them; dot segments stay refused.
    let allowing = TestApp::with_config(|c| {
        trust_gateway(c);
        c.path_matching.allow_params = true;
    })
    .await;
    let (token, _) = allowing.user_tokens("zoe").await;
    let r = forward(&allowing, &token, "GET", "/app/home;x").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{r:?}");
    for uri in ["/app/x/..;/home", "/app/..;/app/home"] {
        let r = forward(&allowing, &token, "GET", uri).await;
        assert_error(&r, StatusCode::FORBIDDEN, "ambiguous_path");
    }
}

#[tokio::test]
async fn a_forward_request_cut_off_by_the_deadline_reaches_the_gateway_as_a_403() {
    // The deadline's answer comes from a layer outside every handler: it too must not be a 503.
    // The account and its token come from an instance with the usual deadline (a login's
    // argon2id on a loaded machine can take longer than 100 ms); the instance under test
    // starts after, on the same database, and loads both.
    let setup = TestApp::with_config(trust_gateway).await;
    let (token, _) = setup.user_tokens("zoe").await;
    let app = setup
        .another_instance_with(|c| {
            trust_gateway(c);
            c.request_timeout = std::time::Duration::from_millis(100);
            c.min_version_wait = std::time::Duration::from_secs(5);
        })
        .await;
    // the next version: this instance must read the database, which now never answers
    let next = (app.state.engine.snapshot().expect("policy").version() + 1).to_string();
    app.state.db.stall_for_tests(true);
    let r = app
        .send(ask(
            Some(GATEWAY),
            Some(&token),
            &[
                ("x-forwarded-method", "GET"),
                ("x-forwarded-uri", "/app/home"),
                ("warden-min-version", &next),
            ],
            Method::GET,
        ))
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "timeout");
    assert_eq!(header(&r, "x-warden-error"), "timeout");
    // the same deadline on any other route is the usual 503
    let body = json!({"checks": [{"object": {"path": "/app/home"}, "action": "GET"}]});
    let mut req = Request::post("/v1/check")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .header("warden-min-version", next.as_str())
        .body(Body::from(body.to_string()))
        .expect("request");
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(SocketAddr::from((
            [127, 0, 0, 1],
            40_000,
        ))));
    assert_error(
        &app.send(req).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "timeout",
    );
}
