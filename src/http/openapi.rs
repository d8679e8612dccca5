//! The OpenAPI description (`/openapi.json`) and the Swagger UI that shows it (`/docs`).
//!
//! Handlers annotate what is particular to them (success bodies, 404/409/412, ...). What every
//! route of a kind can answer is added here once, by [`CommonResponses`], from the facts
//! that cause it: the bearer guard (401/403), the request deadline and the fail-closed policy
//! (503), the body extractors (400/413/415/422) and the path/query extractors (400, and 422
//! for query values out of range).

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// What the description says besides its paths (those come from the routes themselves, see
/// `http::declared`): info, tags, the bearer scheme, the error body.
#[derive(OpenApi)]
#[openapi(
    info(title = "Warden", description = "Authentication and Casbin-based authorization service"),
    components(schemas(crate::http::error::ErrorBody)),
    modifiers(&BearerScheme),
    tags((name = "auth"), (name = "authz"), (name = "documents", description = "The example resource: served only by an instance started with `--demo` or `--example-documents`; elsewhere `/api/documents` answers 404 and is not in this document."), (name = "admin"), (name = "tenants", description = "Tenants (the policy's domains): the installation admin's directory and each tenant's own admin API."), (name = "health"))
)]
pub struct ApiDoc;

struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // A service account's client id and secret on the token endpoint (client_credentials).
        components.add_security_scheme(
            "client_secret_basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// One handler documented under several methods (forward-auth answers any method) gets one
/// operation id per method: `forward_get`, `forward_post`, ... Operation ids must be unique.
struct DistinctOperationIds;

impl utoipa::Modify for DistinctOperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let ops = [
                ("get", &mut item.get),
                ("put", &mut item.put),
                ("post", &mut item.post),
                ("delete", &mut item.delete),
                ("patch", &mut item.patch),
            ];
            let mut ops: Vec<(&str, &mut Operation)> = ops
                .into_iter()
                .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
                .collect();
            let ids: Vec<Option<String>> =
                ops.iter().map(|(_, op)| op.operation_id.clone()).collect();
            for (i, (method, op)) in ops.iter_mut().enumerate() {
                let shared = ids
                    .iter()
                    .enumerate()
                    .any(|(j, id)| j != i && id.is_some() && *id == ids[i]);
                if let (true, Some(id)) = (shared, &op.operation_id) {
                    op.operation_id = Some(format!("{id}_{method}"));
                }
            }
        }
    }
}

/// What each error status means wherever it is not described more precisely by the handler.
/// The codes are the stable `error` values of the body.
fn error_description(status: &str) -> Option<&'static str> {
    Some(match status {
        "400" => {
            "`bad_request`: the body, a path parameter or a query parameter could not be parsed"
        }
        "401" => {
            "`unauthenticated` (no bearer token) or `invalid_token` (malformed, expired or \
             revoked, or its account disabled); with `WWW-Authenticate: Bearer`"
        }
        "403" => "`forbidden`: the policy denies this request",
        "404" => "`not_found`",
        "409" => "a conflict with the current state (the `error` code says which)",
        "412" => "`version_mismatch`: `If-Match` does not match the current policy version",
        "413" => "`payload_too_large`: the body exceeds 64 KiB",
        "415" => "`unsupported_media_type`: the body's content type is not accepted",
        "422" => "`validation_failed`: a field is invalid (the message names it)",
        "429" => "`rate_limited`: too many attempts; retry after `Retry-After` seconds",
        "503" => {
            "`unavailable` (no policy loaded or the database is unreachable; nothing is \
             allowed) or `timeout` (the request ran past the deadline)"
        }
        _ => return None,
    })
}

/// The description of a success without one in its annotation.
fn success_description(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "created",
        "204" => "done; no body",
        _ => "success",
    }
}

/// Adds the responses that follow from how a route is served, and gives every response a
/// description (the OpenAPI schema requires one).
struct CommonResponses;

impl utoipa::Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            // These two answer without awaiting anything, so the deadline cannot fire.
            let can_time_out = !matches!(
                path.as_str(),
                "/healthz" | "/.well-known/jwks.json" | "/metrics"
            );
            let ops = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in ops.into_iter().flatten() {
                add_common_responses(op, can_time_out);
            }
        }
    }
}

fn add_common_responses(op: &mut Operation, can_time_out: bool) {
    use utoipa::openapi::path::ParameterIn;
    let protected = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let body_types: Vec<String> = match &op.request_body {
        Some(RefOr::T(body)) => body.content.keys().cloned().collect(),
        Some(RefOr::Ref(_)) => vec!["application/json".to_owned()],
        None => Vec::new(),
    };
    let params = op.parameters.iter().flatten().filter_map(|p| match p {
        RefOr::T(p) => Some(p.parameter_in.clone()),
        RefOr::Ref(_) => None,
    });
    let (mut path_params, mut query_params) = (false, false);
    for place in params {
        path_params |= matches!(place, ParameterIn::Path);
        query_params |= matches!(place, ParameterIn::Query);
    }

    // The request deadline, and the database and policy, which fail closed.
    let mut statuses = Vec::new();
    if can_time_out {
        statuses.push("503");
    }
    if protected {
        // The policy guard in front of every protected route.
        statuses.extend(["401", "403"]);
    }
    if !body_types.is_empty() {
        statuses.extend(["400", "413", "415"]);
    }
    if body_types.iter().any(|t| t == "application/json") {
        statuses.push("422");
    }
    if path_params || query_params {
        statuses.push("400");
    }
    if query_params {
        // Query values that parse but are out of range (`limit=0`, `offset=-1`).
        statuses.push("422");
    }
    let responses = &mut op.responses.responses;
    for status in statuses {
        responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::T(error_response(status)));
    }
    for (status, response) in responses.iter_mut() {
        let RefOr::T(r) = response else { continue };
        if r.description.is_empty() {
            r.description = error_description(status)
                .unwrap_or_else(|| success_description(status))
                .to_owned();
        }
        if protected && status.starts_with('2') {
            // Set by the guard (or, for a write, by the handler: the version it created).
            r.headers
                .entry(crate::http::guard::POLICY_VERSION_HEADER.to_owned())
                .or_insert_with(|| header_doc("the policy version the request was decided under"));
        }
    }
}

fn error_response(status: &str) -> Response {
    let mut r = ResponseBuilder::new()
        .description(error_description(status).unwrap_or("error"))
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .build();
    if status == "401" {
        r.headers.insert(
            "WWW-Authenticate".to_owned(),
            header_doc("`Bearer`, or `Bearer error=\"invalid_token\"`"),
        );
    }
    r
}

fn header_doc(description: &str) -> RefOr<utoipa::openapi::header::Header> {
    let mut h = utoipa::openapi::header::Header::default();
    h.description = Some(description.to_owned());
    RefOr::T(h)
}

/// What Swagger UI may load: only this server. No online validator, no CDN; inline styles
/// only because the bundled page uses them.
const DOCS_CSP: &str = "default-src 'self'; img-src 'self' data:; font-src 'self' data:; style-src 'self' 'unsafe-inline'; \
     script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The passes that need every path: the responses every route of a kind can give, and
/// distinct operation ids.
pub fn finish(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::Modify;
    CommonResponses.modify(doc);
    DistinctOperationIds.modify(doc);
}

/// `/docs` (Swagger UI, assets bundled in the binary) and `/openapi.json` serving `doc`.
pub fn docs<S: Clone + Send + Sync + 'static>(doc: utoipa::openapi::OpenApi) -> Router<S> {
    // The online validator (validator.swagger.io) would fetch our spec URL from outside and
    // load its badge into the page: "none" turns it off.
    let config = Config::default().validator_url("none");
    Router::from(
        SwaggerUi::new("/docs")
            .url("/openapi.json", doc)
            .config(config),
    )
    .layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    ))
}
