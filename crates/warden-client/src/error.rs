//! Typed errors: Warden's `{"error", "message"}` body, or the transport.

use std::time::Duration;

/// What went wrong with a call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Warden answered with an error status and its JSON error body.
    #[error("{status} {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable code (`invalid_token`, `forbidden`, `policy_stale`, ...).
        code: String,
        /// The human text.
        message: String,
        /// `Retry-After`, when Warden sent one.
        retry_after: Option<Duration>,
    },
    /// The request did not get an answer (connection, timeout, TLS).
    #[error("transport: {0}")]
    Transport(#[from] reqwest::Error),
    /// An answer that is not what Warden sends (a proxy's page, a version mismatch).
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    /// A call that needs a token was made without one.
    #[error("no access token: log in first")]
    NoToken,
}

impl Error {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The stable error code of an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Error::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// A 503 Warden asks to retry: `busy`, `policy_stale`, `unavailable` or `timeout`.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Api { status: 503, code, .. }
            if matches!(code.as_str(), "busy" | "policy_stale" | "unavailable" | "timeout"))
    }

    /// A copy to hand to each waiter of a failed batch (a transport error becomes its text).
    pub(crate) fn duplicate(&self) -> Self {
        match self {
            Error::Api {
                status,
                code,
                message,
                retry_after,
            } => Error::Api {
                status: *status,
                code: code.clone(),
                message: message.clone(),
                retry_after: *retry_after,
            },
            Error::NoToken => Error::NoToken,
            other => Error::Unexpected(other.to_string()),
        }
    }

    /// Builds the error of a non-success answer from its status, headers and body.
    pub(crate) fn from_answer(status: u16, retry_after: Option<Duration>, body: &[u8]) -> Self {
        #[derive(serde::Deserialize)]
        struct Body {
            error: String,
            message: String,
        }
        match serde_json::from_slice::<Body>(body) {
            Ok(b) => Error::Api {
                status,
                code: b.error,
                message: b.message,
                retry_after,
            },
            Err(_) => Error::Unexpected(format!("status {status} without Warden's error body")),
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_body_becomes_a_typed_api_error() {
        let e = Error::from_answer(
            503,
            Some(Duration::from_secs(1)),
            br#"{"error":"policy_stale","message":"retry"}"#,
        );
        assert_eq!((e.status(), e.code()), (Some(503), Some("policy_stale")));
        assert!(e.is_retryable());
        let e = Error::from_answer(403, None, br#"{"error":"forbidden","message":"no"}"#);
        assert!(!e.is_retryable());
        assert_eq!(e.to_string(), "403 forbidden: no");
    }

    #[test]
    fn an_answer_without_the_error_body_is_unexpected() {
        let e = Error::from_answer(502, None, b"<html>bad gateway</html>");
        assert!(matches!(e, Error::Unexpected(_)));
        assert!(!e.is_retryable());
    }
}
