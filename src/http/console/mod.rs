//! The admin console at `/console`: three static files compiled into the binary (plain HTML,
//! CSS and one script; no framework, no build step, nothing loaded from anywhere else).
//!
//! The console has no rights of its own. It signs in through the token endpoint like any
//! client and calls the same admin API with `Authorization: Bearer`, so the policy decides
//! every action it offers. Tokens live only in the page's memory: never in a cookie or in web
//! storage. Warden never authenticates a request by cookie, so a cross-site request (which
//! can carry cookies but not this header) has no credentials at all; that is the console's
//! CSRF defence, and `tests/api/console.rs` checks it.
//!
//! Every page answer carries a Content-Security-Policy that allows scripts, styles and
//! connections from this origin only (no inline script or style, no framing), so injected
//! markup cannot run; the script itself builds the page with DOM calls and `textContent`,
//! never with HTML strings.

use std::sync::OnceLock;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::state::AppState;

/// What the console's pages may load and do.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; \
     base-uri 'none'";

struct Asset {
    body: &'static str,
    content_type: &'static str,
    etag: OnceLock<HeaderValue>,
}

impl Asset {
    const fn new(body: &'static str, content_type: &'static str) -> Self {
        Self {
            body,
            content_type,
            etag: OnceLock::new(),
        }
    }

    fn etag(&self) -> &HeaderValue {
        self.etag.get_or_init(|| {
            let digest = Sha256::digest(self.body.as_bytes());
            let tag = format!("\"{}\"", hex::encode(&digest[..12]));
            HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"0\""))
        })
    }

    /// The file, or 304 when the browser's copy is current.
    fn serve(&self, request: &HeaderMap) -> Response {
        let etag = self.etag();
        let fresh = request
            .get(header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == etag.as_bytes());
        let mut res = if fresh {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            self.body.into_response()
        };
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(self.content_type),
        );
        h.insert(header::ETAG, etag.clone());
        // Revalidated on every load, so a new binary's console is never mixed with an old one.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        res
    }
}

static INDEX: Asset = Asset::new(include_str!("index.html"), "text/html; charset=utf-8");
static SCRIPT: Asset = Asset::new(include_str!("console.js"), "text/javascript; charset=utf-8");
static STYLE: Asset = Asset::new(include_str!("console.css"), "text/css; charset=utf-8");

async fn index(headers: HeaderMap) -> Response {
    INDEX.serve(&headers)
}

async fn script(headers: HeaderMap) -> Response {
    SCRIPT.serve(&headers)
}

async fn style(headers: HeaderMap) -> Response {
    STYLE.serve(&headers)
}

/// The console's routes. Public: the files hold no data; everything the console shows comes
/// from the API, which the policy guards. Not in the OpenAPI description (they are pages,
/// not API).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(index))
        .route("/console/", get(index))
        .route("/console/console.js", get(script))
        .route("/console/console.css", get(style))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_load_nothing_from_elsewhere_and_run_no_inline_code() {
        for (name, text) in [("index.html", INDEX.body), ("console.js", SCRIPT.body)] {
            for banned in [
                "http://",
                "https://",
                "//cdn",
                "innerHTML",
                "eval(",
                "document.write",
            ] {
                assert!(!text.contains(banned), "{name} contains {banned}");
            }
        }
        // No inline script or style: the CSP would block them anyway.
        assert!(!INDEX.body.contains("<script>"));
        assert!(!INDEX.body.contains("style="));
        assert!(!INDEX.body.contains("<style"));
        assert!(!SCRIPT.body.contains("localStorage"));
        assert!(!SCRIPT.body.contains("sessionStorage"));
        assert!(!SCRIPT.body.contains("document.cookie"));
    }

    #[test]
    fn etags_are_stable_quoted_and_differ_between_files() {
        assert_eq!(INDEX.etag(), INDEX.etag());
        assert_ne!(INDEX.etag(), SCRIPT.etag());
        let tag = INDEX.etag().to_str().unwrap_or_default();
        assert!(tag.starts_with('"') && tag.ends_with('"') && tag.len() == 26);
    }
}
