//! The real thing: `warden::serve` on 127.0.0.1 with a random port.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::served;

/// A connection to `addr` from the loopback address `from` (all of 127.0.0.0/8 is loopback,
/// so tests can be several clients).
async fn connect_from(from: Ipv4Addr, addr: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((from, 0)))?;
    socket.connect(addr).await
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    http_get_from(Ipv4Addr::LOCALHOST, addr, path).await
}

async fn http_get_from(from: Ipv4Addr, addr: SocketAddr, path: &str) -> String {
    let mut s = connect_from(from, addr).await.expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_instance_answers_on_loopback_and_picks_up_policy_changes_made_elsewhere() {
    let server = served(|_| {}).await;
    let (addr, state, url) = (server.addr, &server.state, &server.url);
    let health = http_get(addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    // another process (a CLI import, another instance) changes the policy in the database
    let other = warden::store::Db::connect(url).await.expect("db");
    let rule = warden::policy::rule::RuleText {
        id: 0,
        subject: "role:auditor".into(),
        object: "report".into(),
        action: "read".into(),
        scope: "*".into(),
        condition: String::new(),
        effect: "allow".into(),
        tenant: "*".into(),
    };
    let meta = warden::store::policy::ChangeMeta {
        actor: "other",
        action: "rules.add",
        summary: "elsewhere",
    };
    let outcome = warden::store::policy::apply(
        &other,
        None,
        &[warden::policy::change::Op::add_rule(&rule).expect("valid rule")],
        &meta,
        0,
    )
    .await
    .expect("apply");
    let warden::store::policy::Outcome::Applied { version, .. } = outcome else {
        panic!("{outcome:?}");
    };
    let deadline = std::time::Instant::now() + warden::POLICY_POLL * 3;
    while state.engine.snapshot().expect("snapshot").version() != version {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not pick up version {version}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ready = http_get(addr, "/readyz").await;
    assert!(
        ready.contains(&format!("\"policy_version\":{version}")),
        "{ready}"
    );
    drop(server);
}

/// Reads one response from a keep-alive connection: its head (lowercased) and its
/// Content-Length body.
async fn read_response(s: &mut (impl AsyncReadExt + Unpin)) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte).await {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&buf).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().expect("length"));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.ok()?;
    Some(head + &*String::from_utf8_lossy(&body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_header_connections_are_closed_in_time_and_healthz_keeps_answering() {
    let server = served(|c| {
        c.transport.header_read_timeout = Duration::from_secs(1);
        c.transport.max_connections = 64;
    })
    .await;
    let addr = server.addr;
    let started = Instant::now();
    // 40 clients each send a request head one byte at a time, 5 bytes a second
    let trickles: Vec<_> = (0..40)
        .map(|_| {
            tokio::spawn(async move {
                let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
                for b in head {
                    if s.write_all(&[*b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                // closed by the server: EOF or a reset, never a response to the head
                let mut rest = Vec::new();
                let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut rest)).await;
                started.elapsed()
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..5 {
        let t = Instant::now();
        let health = http_get(addr, "/healthz").await;
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "healthz took {:?}",
            t.elapsed()
        );
    }
    for t in trickles {
        let closed_after = t.await.expect("join");
        assert!(
            closed_after < Duration::from_secs(3),
            "a trickling connection stayed open {closed_after:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let server = served(|c| {
        c.transport.header_read_timeout = Duration::from_secs(1);
        c.transport.max_connections = 4;
    })
    .await;
    let addr = server.addr;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = Instant::now();
    let health = http_get(addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    // served only once the idle connections timed out and freed their places
    assert!(
        t.elapsed() > Duration::from_millis(500) && t.elapsed() < Duration::from_secs(3),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_sent_before_the_body_was_read_never_leaves_a_silently_dead_keep_alive_connection()
 {
    let server = served(|_| {}).await;
    let addr = server.addr;
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = "x".repeat(10_000);
    // the head first: the 401 comes back before any of the body is sent
    let head = format!(
        "POST /v1/auth/logout-all HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.expect("write");
    let first = read_response(&mut s).await.expect("first response");
    assert!(first.starts_with("http/1.1 401"), "{first}");
    if first.contains("\r\nconnection: close\r\n") {
        return; // the client knows not to reuse the connection
    }
    // otherwise the connection must still carry the body and a second request
    let _ = s.write_all(body.as_bytes()).await;
    let _ = s
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    let second = read_response(&mut s).await;
    assert!(
        second
            .as_deref()
            .is_some_and(|r| r.starts_with("http/1.1 200")),
        "the connection was closed without Connection: close ({second:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keep_alive_connection_whose_body_was_read_stays_open() {
    let server = served(|_| {}).await;
    let addr = server.addr;
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = r#"{"username":"nobody!","password":"x"}"#;
    let req = format!(
        "POST /v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("write");
    let first = read_response(&mut s).await.expect("first");
    assert!(first.starts_with("http/1.1 422"), "{first}");
    assert!(!first.contains("connection: close"), "{first}");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    let second = read_response(&mut s).await.expect("second");
    assert!(second.starts_with("http/1.1 200"), "{second}");
}

/// A POST head announcing a `len`-byte JSON body (which is then sent separately).
fn post_head(len: usize) -> String {
    format!(
        "POST /v1/auth/register HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_trickling_bodies_on_more_connections_than_the_cap_cannot_keep_another_client_out()
 {
    let server = served(|c| {
        c.transport.max_connections = 40;
        c.transport.max_connections_per_client = 8;
    })
    .await;
    let addr = server.addr;
    // 50 connections from 127.0.0.1, more than the global cap: each sends a head, then its
    // body one byte every 200 ms (20 s for the body, inside the 30 s request deadline)
    let (sent, mut heads) = tokio::sync::mpsc::channel::<()>(64);
    let trickles: Vec<_> = (0..50)
        .map(|_| {
            let sent = sent.clone();
            tokio::spawn(async move {
                let mut s = connect_from(Ipv4Addr::LOCALHOST, addr)
                    .await
                    .expect("connect");
                let head = s.write_all(post_head(100).as_bytes()).await;
                let _ = sent.send(()).await;
                if head.is_err() {
                    return;
                }
                for _ in 0..100 {
                    if s.write_all(b" ").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        })
        .collect();
    // every one of them is connected (accepted or in the backlog) before the other client
    for _ in 0..50 {
        tokio::time::timeout(Duration::from_secs(10), heads.recv())
            .await
            .expect("the slow client connects")
            .expect("open channel");
    }

    // another client (127.0.0.2) is answered at once, every time
    for _ in 0..3 {
        let t = Instant::now();
        let health = tokio::time::timeout(
            Duration::from_secs(2),
            http_get_from(Ipv4Addr::new(127, 0, 0, 2), addr, "/healthz"),
        )
        .await
        .expect("healthz answers another client within 2 s");
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    }
    // the slow client holds no more than its cap (once the healthz connections are gone)
    let deadline = Instant::now() + Duration::from_secs(1);
    while server.state.metrics.connections.get() > 8 {
        assert!(
            Instant::now() < deadline,
            "{} connections open",
            server.state.metrics.connections.get()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for t in trickles {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_trickled_slower_than_the_minimum_is_cut_off_with_408_long_before_the_request_deadline()
 {
    let server = served(|c| c.transport.body_read_timeout = Duration::from_secs(1)).await;
    let s = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let (mut rd, mut wr) = s.into_split();
    let started = Instant::now();
    // 100 bytes at 10 bytes a second: 10 s for a body allowed 1 s
    let trickle = tokio::spawn(async move {
        if wr.write_all(post_head(100).as_bytes()).await.is_err() {
            return;
        }
        for _ in 0..100 {
            if wr.write_all(b" ").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let answer = tokio::time::timeout(Duration::from_secs(5), read_response(&mut rd))
        .await
        .expect("answered within 5 s")
        .expect("a response");
    let took = started.elapsed();
    assert!(answer.starts_with("http/1.1 408"), "{answer}");
    assert!(answer.contains("\r\nconnection: close\r\n"), "{answer}");
    assert!(answer.contains(r#""error":"body_timeout""#), "{answer}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "cut off after {took:?}"
    );
    // and the server closes the connection
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), rd.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection stayed open");
    trickle.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_is_not_held_to_the_per_client_connection_cap() {
    let server = served(|c| {
        c.transport.max_connections_per_client = 2;
        c.proxies.trusted = vec![warden::auth::client::Cidr::parse("127.0.0.1").expect("cidr")];
    })
    .await;
    let addr = server.addr;
    // four keep-alive connections from the proxy, each used in turn: all are served
    let mut conns = Vec::new();
    for _ in 0..4 {
        conns.push(
            connect_from(Ipv4Addr::LOCALHOST, addr)
                .await
                .expect("connect"),
        );
    }
    for s in &mut conns {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            .await
            .expect("write");
        let answer = tokio::time::timeout(Duration::from_secs(2), read_response(s))
            .await
            .expect("answered");
        assert!(
            answer
                .as_deref()
                .is_some_and(|a| a.starts_with("http/1.1 200")),
            "{answer:?}"
        );
    }
    // any other client is held to it: its third connection is closed unanswered
    let other = Ipv4Addr::new(127, 0, 0, 3);
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(connect_from(other, addr).await.expect("connect"));
    }
    // the two are accepted (one answers) before the third arrives
    held[0]
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    held[1]
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .expect("write");
    for s in &mut held {
        let a = tokio::time::timeout(Duration::from_secs(2), read_response(s))
            .await
            .expect("answered");
        assert!(a.is_some(), "a connection within the cap is served");
    }
    let mut third = connect_from(other, addr).await.expect("connect");
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    let answer = tokio::time::timeout(Duration::from_secs(2), read_response(&mut third))
        .await
        .expect("closed at once");
    assert!(answer.is_none(), "over the cap yet answered: {answer:?}");
}
