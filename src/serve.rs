//! The transport: HTTP/1.1 connections with a header-read timeout, a body-read timeout, a
//! connection cap (global and per client) and graceful shutdown (axum::serve can set none of
//! these).
//!
//! - **Header-read timeout** ([`Transport::header_read_timeout`]): hyper closes a connection
//!   that has not delivered a complete request head within it. Hyper starts this clock
//!   whenever a connection waits for a request — on connect and again after each response — so
//!   it is also the idle keep-alive timeout: there is one limit, not two.
//! - **Connection cap** ([`Transport::max_connections`]): at the cap the server stops
//!   accepting; new connections wait in the kernel's backlog until one closes, which the
//!   timeout above guarantees within its length for idle or trickling ones.
//! - **Per-client cap** ([`Transport::max_connections_per_client`]): one TCP peer address
//!   (IPv6 by /64) may hold at most this many of those connections; one more is closed as soon
//!   as it is accepted, so it never waits holding a slot others need. The client is the TCP
//!   peer: trusted proxies (`--trusted-proxies`) carry many clients on their connections and
//!   are exempt (bounded by the global cap only).
//! - **Body-read timeout** ([`Transport::body_read_timeout`]): once a handler starts reading a
//!   request body, the whole body must arrive within it, or the read fails with
//!   [`BodyTimedOut`] (answered 408 `body_timeout`, `Connection: close`). With bodies capped at
//!   64 KiB this is a minimum average rate (6.4 KiB/s for the largest body at the default
//!   10 s), so a client trickling bodies frees its slots long before the request deadline.
//! - **Unread bodies**: a response sent before the request body was read (a 401, 403, 413 or
//!   415 from a guard or extractor) says `Connection: close`. Hyper cannot reuse such a
//!   connection safely and would otherwise close it silently after the response, and the
//!   client's next request on it would fail with "connection closed".

use std::collections::HashMap;
use std::future::Future as _;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;

use crate::auth::client::Cidr;

/// Transport limits (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct Transport {
    /// Longest a connection may take to deliver a request head, counted from when it starts
    /// waiting for one (also the idle keep-alive limit).
    pub header_read_timeout: Duration,
    /// Longest the whole request body may take to arrive, counted from when a handler
    /// starts reading it.
    pub body_read_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections one client (TCP peer address, IPv6 by /64) may hold open at once;
    /// trusted proxies are exempt.
    pub max_connections_per_client: usize,
}

/// How long graceful shutdown waits for requests in flight before giving up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in flight finish
/// (at most [`SHUTDOWN_GRACE`]). Each request carries `ConnectInfo<SocketAddr>` of its peer,
/// as `into_make_service_with_connect_info` would give it. Peers in `exempt` (the trusted
/// proxies) are not held to the per-client cap.
pub async fn run(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: Transport,
    exempt: Vec<Cidr>,
    connections: prometheus_client::metrics::gauge::Gauge,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let app = app.layer(axum::middleware::from_fn_with_state(
        limits.body_read_timeout,
        guard_body,
    ));
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let per_client = PerClient::default();
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break, // never closed; stop serving if it were
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let slot = if exempt.iter().any(|c| c.contains(peer.ip())) {
            None
        } else {
            match per_client.open(peer.ip(), limits.max_connections_per_client) {
                Some(slot) => Some(slot),
                None => {
                    // Closed at once (the global permit returns with it): a client at its
                    // cap cannot queue more connections in front of everyone else's.
                    tracing::debug!(%peer, "connection refused: the client is at its connection cap");
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let svc = tower::ServiceExt::map_request(
            app.clone(),
            move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            },
        );
        let conn = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(svc));
        let conn = graceful.watch(conn);
        let open = Open::new(&connections);
        tokio::spawn(async move {
            // Timeouts and clients that hang up end up here; nothing to report.
            let _ = conn.await;
            drop(open);
            drop(slot);
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: requests still in flight were abandoned");
    }
    Ok(())
}

/// One open connection in the `connections` gauge, for as long as it lives (dropped with the
/// connection's task, however that ends).
struct Open(prometheus_client::metrics::gauge::Gauge);

impl Open {
    fn new(gauge: &prometheus_client::metrics::gauge::Gauge) -> Self {
        gauge.inc();
        Self(gauge.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Open connections per client, for [`Transport::max_connections_per_client`].
#[derive(Debug, Clone, Default)]
struct PerClient(Arc<Mutex<HashMap<String, usize>>>);

impl PerClient {
    /// A place for one more connection of `ip`, or None when its client holds `cap` already.
    fn open(&self, ip: IpAddr, cap: usize) -> Option<ClientSlot> {
        // One subscriber holds a whole IPv6 /64: keyed like the login rate limits.
        let key = crate::auth::ratelimit::address_key(Some(ip));
        let mut open = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= cap.max(1) {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            table: self.clone(),
            key,
        })
    }
}

/// One connection counted against its client's cap, until dropped with the connection.
#[derive(Debug)]
struct ClientSlot {
    table: PerClient,
    key: String,
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.table.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Bounds the time a request body may take to arrive ([`Transport::body_read_timeout`]), and
/// adds `Connection: close` to a response sent before its request body was read to the end
/// (which includes every body that timed out).
async fn guard_body(State(timeout): State<Duration>, req: Request, next: Next) -> Response {
    use http_body::Body as _;
    if req.body().is_end_stream() {
        // No body (a GET): nothing to time out or to leave unread, and nothing to allocate.
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let read = Arc::new(AtomicBool::new(false));
    let body = axum::body::Body::new(Tracked {
        inner: body,
        read: read.clone(),
        timeout,
        deadline: None,
    });
    let mut res = next.run(Request::from_parts(parts, body)).await;
    if !read.load(Ordering::Acquire) {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res
}

/// The error a request body fails with when it does not arrive within
/// `--body-read-timeout-secs` (raised here, answered 408 by `http::error`).
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(pub std::time::Duration);

/// A request body that records when it has been read to its end, and fails with
/// [`BodyTimedOut`] when it has not arrived within `timeout` of its first read.
struct Tracked {
    inner: axum::body::Body,
    read: Arc<AtomicBool>,
    timeout: Duration,
    /// Started by the first read: a handler that is slow to start reading (a guard, a
    /// hash) does not eat into the client's time.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        let timeout = this.timeout;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || this.inner.is_end_stream() {
            this.read.store(true, Ordering::Release);
        }
        // Polled only while waiting for the client, so its waker is registered exactly then.
        if polled.is_pending() && deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(timeout)))));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
