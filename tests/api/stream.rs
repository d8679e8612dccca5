//! `GET /v1/policy/stream` (the policy for replicas) and an OpenAPI description that client
//! generators accept.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use warden::policy::replica::PolicyDocument;

use crate::helpers::*;

/// One Server-Sent Event.
#[derive(Debug)]
struct Sse {
    event: String,
    id: i64,
    doc: PolicyDocument,
}

/// An open stream: the response body and what was read of it but not yet parsed.
struct Follower {
    body: Body,
    buf: String,
}

impl Follower {
    /// The next event, or None when the server closed the stream.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut event, mut id, mut data) = (String::new(), 0, String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        id = v.parse().expect("id is a version");
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if event.is_empty() {
                    continue; // a keep-alive comment
                }
                let doc = serde_json::from_str(&data).expect("data is a PolicyDocument");
                return Some(Sse { event, id, doc });
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .expect("an event within 10 s")?
                .expect("body frame");
            if let Ok(data) = frame.into_data() {
                self.buf
                    .push_str(std::str::from_utf8(&data).expect("utf-8"));
            }
        }
    }
}

async fn open(
    app: &TestApp,
    query: &str,
    token: Option<&str>,
    last_id: Option<&str>,
) -> (StatusCode, Follower) {
    let mut req = Request::builder()
        .method(Method::GET)
        .uri(format!("/v1/policy/stream{query}"));
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    if let Some(id) = last_id {
        req = req.header("last-event-id", id);
    }
    let res = app
        .router
        .clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let status = res.status();
    if status == StatusCode::OK {
        assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
    }
    (
        status,
        Follower {
            body: res.into_body(),
            buf: String::new(),
        },
    )
}

fn rule(n: usize) -> Value {
    json!({"subject": "role:user", "object": format!("/app/r{n}"), "action": "GET",
        "scope": "*", "condition": "", "effect": "allow"})
}

#[tokio::test]
async fn the_stream_sends_the_current_policy_then_each_new_version() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let v = app.policy_version(&admin).await;
    let (status, mut f) = open(&app, "", Some(&admin), None).await;
    assert_eq!(status, StatusCode::OK);

    let first = f.next().await.expect("snapshot");
    assert_eq!(
        (first.event.as_str(), first.id, first.doc.version),
        ("snapshot", v, v)
    );
    let snap = app.state.engine.snapshot().expect("snapshot");
    assert_eq!(first.doc.rules.len(), snap.rules().len(), "every rule");
    assert_eq!(first.doc.assignments.len(), snap.assignments().len());
    assert!(!first.doc.assignments.is_empty(), "role assignments too");
    first.doc.compile().expect("a replica compiles it");

    app.add_rule(&admin, rule(1)).await;
    let next = f.next().await.expect("the new version");
    assert_eq!((next.event.as_str(), next.id), ("version", v + 1));
    assert!(
        next.doc.rules.iter().any(|r| r.object == "/app/r1"),
        "{next:?}"
    );
    // Everything the server decides with: the replica's policy decides like the server's.
    let snap = app.state.engine.snapshot().expect("snapshot");
    assert_eq!(next.doc.compile().expect("compiles").rules(), snap.rules());
}

#[tokio::test]
async fn a_follower_naming_the_current_version_gets_no_snapshot_and_a_stale_one_a_fresh_one() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let v = app.policy_version(&admin).await;

    let (_, mut current) = open(&app, &format!("?from={v}"), Some(&admin), None).await;
    let (_, mut by_header) = open(&app, "", Some(&admin), Some(&v.to_string())).await;
    let (_, mut stale) = open(&app, &format!("?from={}", v - 1), Some(&admin), None).await;
    app.add_rule(&admin, rule(1)).await;

    for f in [&mut current, &mut by_header] {
        let e = f.next().await.expect("event");
        assert_eq!(
            (e.event.as_str(), e.id),
            ("version", v + 1),
            "no snapshot resent"
        );
    }
    let e = stale.next().await.expect("snapshot");
    assert_eq!((e.event.as_str(), e.id), ("snapshot", v));
    let e = stale.next().await.expect("then the new version");
    assert_eq!((e.event.as_str(), e.id), ("version", v + 1));
}

#[tokio::test]
async fn the_stream_needs_a_token_and_a_rule_allowing_it() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let (bob, _) = app.user_tokens("bob").await;
    assert_eq!(open(&app, "", None, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        open(&app, "", Some("not-a-token"), None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        open(&app, "", Some(&bob), None).await.0,
        StatusCode::FORBIDDEN
    );
    app.add_rule(
        &admin,
        json!({"subject": "user:bob", "object": "/v1/policy/stream",
        "action": "GET", "scope": "*", "condition": "", "effect": "allow"}),
    )
    .await;
    let (status, mut f) = open(&app, "", Some(&bob), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(f.next().await.expect("snapshot").event, "snapshot");
}

#[tokio::test]
async fn a_bad_from_or_last_event_id_is_refused() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    for (query, last, status) in [
        ("?from=abc", None, StatusCode::BAD_REQUEST),
        ("?from=-1", None, StatusCode::UNPROCESSABLE_ENTITY),
        ("?since=1", None, StatusCode::BAD_REQUEST),
        ("", Some("x"), StatusCode::BAD_REQUEST),
        ("", Some("-3"), StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(
            open(&app, query, Some(&admin), last).await.0,
            status,
            "{query} {last:?}"
        );
    }
}

#[tokio::test]
async fn a_follower_too_far_behind_is_disconnected_and_never_delays_the_others() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let v = app.policy_version(&admin).await;
    let (_, mut stalled) = open(&app, "", Some(&admin), None).await;
    let (_, mut reader) = open(&app, "", Some(&admin), None).await;
    assert_eq!(reader.next().await.expect("snapshot").id, v);
    let edits = warden::engine::FOLLOW_BUFFER + 4;
    for n in 0..edits {
        app.add_rule(&admin, rule(n)).await;
        // The reader gets each version as it comes, while the other reads nothing.
        let e = reader.next().await.expect("version");
        assert_eq!((e.event.as_str(), e.id), ("version", v + 1 + n as i64));
    }
    // The stalled one had its snapshot waiting, then it is dropped, not fed the backlog.
    assert_eq!(stalled.next().await.expect("snapshot").event, "snapshot");
    assert!(stalled.next().await.is_none(), "disconnected");
    // It resumes from its version with a fresh snapshot.
    let (_, mut resumed) = open(&app, &format!("?from={v}"), Some(&admin), None).await;
    let e = resumed.next().await.expect("snapshot");
    assert_eq!((e.event.as_str(), e.id), ("snapshot", v + edits as i64));
}

#[test]
fn the_openapi_document_has_no_tuple_schemas_that_client_generators_refuse() {
    let doc = serde_json::to_value(warden::http::api_doc()).expect("json");
    let text = doc.to_string();
    for refused in ["prefixItems", r#""items":false"#] {
        if let Some(at) = text.find(refused) {
            let from = text[..at]
                .char_indices()
                .rev()
                .nth(300)
                .map_or(0, |(i, _)| i);
            panic!("a tuple schema is left: ...{}", &text[from..at + 40]);
        }
    }
    let compare = &doc["components"]["schemas"]["VersionCompare"]["properties"];
    assert_eq!(
        compare["inheritance_only_then"]["items"]["items"]["type"], "string",
        "{compare}"
    );
    let stream = &doc["paths"]["/v1/policy/stream"]["get"];
    assert!(
        stream["responses"]["200"]["content"]["text/event-stream"].is_object(),
        "{stream}"
    );
}
