//! `GET /v1/policy/stream`: the policy for replicas, as Server-Sent Events. First the current
//! policy (`event: snapshot`), unless the follower names it as the version it has, then each
//! new version as it is swapped in (`event: version`); every event's `id` is its version and its
//! data a [`PolicyDocument`] (the whole policy of that version, so a follower that missed
//! versions is current again with the next event). Resumable: `?from=VERSION` or the
//! `Last-Event-ID` header.
//!
//! Bounded: a follower more than [`crate::engine::FOLLOW_BUFFER`] versions behind is
//! disconnected (it resumes from its version and gets a fresh snapshot); it never delays the
//! swap or the other followers. Guarded like every protected route: the caller needs `GET` on
//! `/v1/policy/stream` (admins have it; grant it to a replica's service account with a rule).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::engine::Snapshot;
use crate::http::error::{ApiError, Query};
use crate::state::AppState;

/// How often an idle stream sends a comment, so proxies and followers see it alive.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Route (guarded by the policy in `http.rs`).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(policy_stream))
}

/// `?from=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// The version the follower has: no snapshot is sent when it is the current one.
    /// `Last-Event-ID` says the same (the larger wins).
    #[param(minimum = 0)]
    pub from: Option<i64>,
}

fn event(kind: &'static str, snap: &Snapshot) -> Event {
    Event::default()
        .event(kind)
        .id(snap.version().to_string())
        .data(&*snap.document_json())
}

fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(v) = headers.get("last-event-id") else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .filter(|t| !t.is_empty() && t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request("bad_request", "Last-Event-ID must be a policy version")
        })
}

/// Follow the policy: the current version, then every new one (Server-Sent Events).
#[utoipa::path(get, path = "/v1/policy/stream", tag = "authz", security(("bearer" = [])),
    params(StreamParams),
    responses((status = 200, description = "`text/event-stream`: `event: snapshot` (unless `from` is current), then `event: version` per new version; `id:` is the version, `data:` a PolicyDocument",
        content_type = "text/event-stream", body = crate::policy::replica::PolicyDocument),
        (status = 400, body = crate::http::error::ErrorBody),
        (status = 503, description = "no policy is loaded", body = crate::http::error::ErrorBody)))]
pub async fn policy_stream(
    State(state): State<AppState>,
    Query(params): Query<StreamParams>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    if params.from.is_some_and(|v| v < 0) {
        return Err(ApiError::validation("from", "must be a policy version"));
    }
    let from = params.from.max(last_event_id(&headers)?);
    // Subscribed before the snapshot is read: a version swapped in between is not missed.
    let follow = state.engine.follow();
    let current = state.engine.snapshot()?;
    let first = (from != Some(current.version())).then(|| event("snapshot", &current));
    let sent = current.version();
    let rest = stream::unfold((follow, sent), |(mut follow, sent)| async move {
        loop {
            match follow.recv().await {
                Ok(snap) if snap.version() > sent => {
                    let v = snap.version();
                    return Some((Ok(event("version", &snap)), (follow, v)));
                }
                Ok(_) => {}
                // Too slow: dropped, to resume with a fresh snapshot. Or the engine is gone.
                Err(RecvError::Lagged(_) | RecvError::Closed) => return None,
            }
        }
    });
    let events = stream::iter(first.map(Ok)).chain(rest);
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
