//! `/openapi.json` describes what the server really answers, and `/docs` stays on this server.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Every (path, method, operation) of the served document.
fn operations(spec: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((path.clone(), m.to_owned(), op.clone()));
            }
        }
    }
    assert!(out.len() >= 30, "the document lists the routes: {out:?}");
    out
}

async fn spec(app: &TestApp) -> Value {
    let r = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    r.body
}

/// Whether an operation requires credentials: it lists security requirements, none of them
/// the empty one (`{}`, which makes authentication optional: the token endpoint takes client
/// credentials for client_credentials only).
fn is_protected(op: &Value) -> bool {
    op["security"].as_array().is_some_and(|s| {
        !s.is_empty()
            && !s
                .iter()
                .any(|r| r.as_object().is_some_and(|o| o.is_empty()))
    })
}

#[tokio::test]
async fn every_response_of_every_operation_has_a_description() {
    let app = TestApp::new().await;
    let spec = spec(&app).await;
    for (path, method, op) in operations(&spec) {
        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path} has responses");
        for (status, response) in responses {
            let text = response["description"].as_str().unwrap_or_default();
            assert!(
                !text.trim().is_empty(),
                "{method} {path} {status} has no description"
            );
        }
    }
}

#[tokio::test]
async fn operation_ids_are_unique() {
    let app = TestApp::new().await;
    let spec = spec(&app).await;
    let mut seen = std::collections::BTreeMap::new();
    for (path, method, op) in operations(&spec) {
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        if let Some(other) = seen.insert(id.clone(), format!("{method} {path}")) {
            panic!("{method} {path} and {other} share the operation id {id:?}");
        }
    }
}

#[tokio::test]
async fn every_protected_operation_documents_401_403_and_503() {
    let app = TestApp::new().await;
    let spec = spec(&app).await;
    let protected: Vec<_> = operations(&spec)
        .into_iter()
        .filter(|(_, _, op)| is_protected(op))
        .collect();
    assert!(protected.len() >= 25, "{protected:?}");
    for (path, method, op) in protected {
        for status in ["401", "403", "503"] {
            assert!(
                op["responses"].get(status).is_some(),
                "{method} {path} does not document {status}"
            );
        }
    }
}

#[tokio::test]
async fn an_operation_is_marked_protected_exactly_when_it_answers_401_without_a_token() {
    let app = TestApp::new().await;
    let spec = spec(&app).await;
    for (path, method, op) in operations(&spec) {
        let concrete = path
            .replace("{id}", "1")
            .replace("{name}", "admin")
            .replace("{version}", "1");
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let r = app
            .call(method.clone(), &concrete, None, Some(json!({})))
            .await;
        assert_eq!(
            r.status == StatusCode::UNAUTHORIZED,
            is_protected(&op),
            "{method} {path}: {r:?}"
        );
    }
}

#[tokio::test]
async fn operations_with_bodies_document_what_the_body_extractors_answer() {
    let app = TestApp::new().await;
    let spec = spec(&app).await;
    for (path, method, op) in operations(&spec) {
        let Some(content) = op["requestBody"]["content"].as_object() else {
            continue;
        };
        let mut expected = vec!["400", "413", "415"];
        if content.contains_key("application/json") {
            expected.push("422");
        }
        for status in expected {
            assert!(
                op["responses"].get(status).is_some(),
                "{method} {path} does not document {status}"
            );
        }
    }
    let login = &spec["paths"]["/v1/auth/token"]["post"]["responses"];
    let register = &spec["paths"]["/v1/auth/register"]["post"]["responses"];
    assert!(login.get("429").is_some() && register.get("429").is_some());
}

#[tokio::test]
async fn paging_parameters_carry_their_bounds() {
    let app = TestApp::new().await;
    let spec = spec(&app).await;
    let mut seen = 0;
    for (path, method, op) in operations(&spec) {
        for p in op["parameters"].as_array().into_iter().flatten() {
            let schema = &p["schema"];
            match p["name"].as_str() {
                Some("limit") => {
                    seen += 1;
                    assert_eq!(schema["minimum"], json!(1), "{method} {path}: {p}");
                    assert_eq!(schema["maximum"], json!(500), "{method} {path}: {p}");
                }
                Some("offset") => {
                    assert_eq!(schema["minimum"], json!(0), "{method} {path}: {p}");
                }
                _ => {}
            }
        }
    }
    assert!(seen >= 5, "every paged list has a limit ({seen})");
}

#[tokio::test]
async fn audit_entries_are_described_as_the_arrays_a_version_diff_returns() {
    let app = TestApp::new().await;
    let admin = app.admin_token().await;
    let created = app
        .call(
            Method::POST,
            "/v1/admin/rules",
            Some(&admin),
            Some(
                json!({"subject": "role:user", "object": "/x", "action": "GET", "effect": "allow"}),
            ),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let v = created.body["policy_version"].as_i64().expect("version");
    let diff = app
        .get(&format!("/v1/admin/policy/versions/{v}/diff"), &admin)
        .await;
    assert!(diff.body["after"].is_array(), "{diff:?}");

    let spec = spec(&app).await;
    let entry = &spec["components"]["schemas"]["AuditEntry"]["properties"];
    for field in ["before", "after"] {
        let kinds: Vec<&Value> = entry[field]["oneOf"]
            .as_array()
            .unwrap_or_else(|| panic!("{field} is one of several shapes: {entry}"))
            .iter()
            .map(|s| &s["type"])
            .collect();
        assert!(kinds.contains(&&json!("array")), "{field}: {kinds:?}");
        assert!(kinds.contains(&&json!("object")), "{field}: {kinds:?}");
    }
}

#[tokio::test]
async fn the_docs_page_turns_the_online_validator_off_and_loads_nothing_from_elsewhere() {
    let app = TestApp::new().await;
    let page = app.call(Method::GET, "/docs/", None, None).await;
    assert_eq!(page.status, StatusCode::OK, "{page:?}");
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("csp");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(!csp.contains("http"), "no outside host is allowed: {csp}");
    let config = app
        .call(Method::GET, "/docs/swagger-initializer.js", None, None)
        .await;
    assert_eq!(config.status, StatusCode::OK, "{config:?}");
    let config = config.body.as_str().expect("javascript");
    let compact: String = config.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(
        compact.contains(r#""validatorUrl":"none""#),
        "the online validator is off: {config}"
    );
    for text in [page.body.as_str().expect("html"), config] {
        assert!(
            !text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"),
            "only relative URLs: {text}"
        );
    }
}

#[tokio::test]
async fn policy_responses_document_their_etag_and_version_headers() {
    let app = TestApp::new().await;
    let spec = spec(&app).await;
    for (path, method) in [
        ("/v1/admin/policy", "get"),
        ("/v1/admin/rules", "get"),
        ("/v1/admin/rules", "post"),
        ("/v1/admin/policy/changes", "post"),
        ("/v1/admin/policy/rollback", "post"),
    ] {
        let responses = &spec["paths"][path][method]["responses"];
        let ok = responses
            .get("200")
            .or_else(|| responses.get("201"))
            .expect("a success");
        assert!(ok["headers"].get("etag").is_some(), "{method} {path}: {ok}");
    }
    for (path, method, op) in operations(&spec)
        .into_iter()
        .filter(|(_, _, op)| is_protected(op))
    {
        for (status, response) in op["responses"].as_object().expect("responses") {
            if status.starts_with('2') {
                assert!(
                    response["headers"].get("warden-policy-version").is_some(),
                    "{method} {path} {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn listed_rules_are_described_with_an_id_and_an_allow_or_deny_effect() {
    let app = TestApp::new().await;
    let spec = spec(&app).await;
    let schemas = &spec["components"]["schemas"];
    let item = &schemas["RulePage"]["properties"]["items"]["items"]["$ref"];
    let name = item
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
        .unwrap_or_else(|| panic!("rule list items name a schema: {item}"));
    let rule = &schemas[name];
    let required = rule["required"].as_array().expect("required fields");
    for field in [
        "id",
        "subject",
        "object",
        "action",
        "scope",
        "condition",
        "effect",
    ] {
        assert!(
            required.contains(&json!(field)),
            "{field} is required: {rule}"
        );
    }
    let effect = &rule["properties"]["effect"];
    let effect = match effect["$ref"].as_str() {
        Some(r) => &schemas[r.trim_start_matches("#/components/schemas/")],
        None => effect,
    };
    assert_eq!(effect["enum"], json!(["allow", "deny"]), "{effect}");
}

/// The lock-out guard keeps a list of the admin routes that must stay reachable; each one is
/// checked here against the routes actually declared, so a renamed or removed route cannot
/// leave the guard protecting nothing.
#[test]
fn every_route_the_lockout_guard_keeps_reachable_is_a_declared_route() {
    let doc = warden::http::api_doc();
    let matches = |template: &str, path: &str| {
        let (t, p): (Vec<&str>, Vec<&str>) =
            (template.split('/').collect(), path.split('/').collect());
        t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t == p || t.starts_with('{'))
    };
    for (method, path) in warden::engine::lockout::ADMIN_SURFACE {
        let declared = doc.paths.paths.iter().any(|(template, item)| {
            matches(template, path)
                && match method {
                    "GET" => item.get.is_some(),
                    "POST" => item.post.is_some(),
                    "PUT" => item.put.is_some(),
                    "PATCH" => item.patch.is_some(),
                    "DELETE" => item.delete.is_some(),
                    _ => false,
                }
        });
        assert!(declared, "{method} {path} is not a declared route");
    }
}
