//! `warden healthcheck`: one plain HTTP/1.1 `GET` (default: `/healthz` on the address `warden
//! serve` listens on), exit 0 on a 2xx answer and 1 on anything else.
//!
//! It exists so a container image needs no HTTP client of its own (the `FROM scratch` image
//! holds nothing but the binary and the libraries it links): the image's `HEALTHCHECK` runs the
//! binary itself. Only the standard library's blocking sockets: no TLS, no redirects, no
//! proxies, a deadline on every step. Exit codes follow Docker's `HEALTHCHECK` contract, which
//! reserves 2: every failure (an invalid URL included) is 1.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// `warden healthcheck`'s arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthcheckArgs {
    /// The address `warden serve` listens on (the same variable as `serve --listen`): the check
    /// asks `/healthz` there, reading 0.0.0.0 and [::] as the loopback address of their family.
    #[arg(long, env = "WARDEN_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Ask this plain `http://host[:port][/path]` URL instead (no TLS).
    // Its own id: `url` is what the database-URL guard in `config::secrets` inspects.
    #[arg(long = "url", id = "healthcheck_url", value_name = "URL")]
    pub url: Option<String>,
    /// Seconds for the whole check (connect, send, first line of the answer).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub timeout_secs: u64,
}

/// Where to send the request: what to connect to, and what to write in the request line and
/// `Host` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`, resolved at connect time.
    pub authority: String,
    /// The request target, starting with `/`.
    pub path: String,
}

/// Why a check failed (printed; the exit code is 1 whatever it says).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckError {
    /// The URL or listen address cannot be asked.
    #[error("{0}")]
    Invalid(String),
    /// No connection, no answer in time, or an answer that is not HTTP.
    #[error("{0}")]
    Unreachable(String),
    /// An HTTP answer other than 2xx.
    #[error("answered {0}")]
    Status(u16),
}

/// The `/healthz` URL of a server listening on `listen` (`serve --listen`'s syntax: `ip:port`).
pub fn target_of_listen(listen: &str) -> Result<Target, CheckError> {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        CheckError::Invalid(format!(
            "--listen {listen}: expected ip:port, as `warden serve --listen` takes it"
        ))
    })?;
    if addr.port() == 0 {
        return Err(CheckError::Invalid(
            "--listen has port 0 (a free port chosen at start): give --url".into(),
        ));
    }
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(Target {
        authority: SocketAddr::new(ip, addr.port()).to_string(),
        path: "/healthz".into(),
    })
}

/// Parses `http://host[:port][/path]` (port 80 when absent).
pub fn parse_url(url: &str) -> Result<Target, CheckError> {
    let invalid = |why: &str| CheckError::Invalid(format!("--url {url}: {why}"));
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid("only plain http:// URLs are supported"))?;
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid("expected http://host[:port]/path"));
    }
    if !path.starts_with('/') || path.contains('#') {
        return Err(invalid("the path must start with / and hold no fragment"));
    }
    if url
        .bytes()
        .any(|b| b.is_ascii_control() || b == b' ' || !b.is_ascii())
    {
        return Err(invalid(
            "spaces, control and non-ASCII bytes must be percent-encoded",
        ));
    }
    // A bracketed IPv6 literal keeps its own colons; a port is what follows the last one.
    let has_port = match authority.rfind(']') {
        Some(close) => authority[close..].contains(':'),
        None => authority.contains(':'),
    };
    let authority = if has_port {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    Ok(Target {
        authority,
        path: path.into(),
    })
}

/// The status code of an HTTP/1.x status line (`HTTP/1.1 200 OK`).
pub fn status_of(line: &str) -> Option<u16> {
    let mut parts = line.split(' ');
    let version = parts.next()?;
    if !matches!(version, "HTTP/1.0" | "HTTP/1.1") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code.parse().ok()
}

fn remaining(deadline: Instant) -> Result<Duration, CheckError> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| CheckError::Unreachable("no answer in time".into()))
}

fn connect(target: &Target, deadline: Instant) -> Result<TcpStream, CheckError> {
    let addrs = target
        .authority
        .to_socket_addrs()
        .map_err(|e| CheckError::Unreachable(format!("{}: {e}", target.authority)))?;
    let mut last = format!("{}: no address", target.authority);
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
            Ok(s) => return Ok(s),
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(CheckError::Unreachable(last))
}

/// Sends one `GET` and returns the answer's status code when it is 2xx.
pub fn check(target: &Target, timeout: Duration) -> Result<u16, CheckError> {
    let deadline = Instant::now() + timeout;
    let mut stream = connect(target, deadline)?;
    let io = |e: std::io::Error| CheckError::Unreachable(format!("{}: {e}", target.authority));
    stream
        .set_write_timeout(Some(remaining(deadline)?))
        .map_err(io)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: warden-healthcheck\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n",
        target.path, target.authority
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    // Only the status line matters; a server that never ends it is cut off at 1 KiB.
    let mut head = Vec::with_capacity(128);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 1024 {
        stream
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(io)?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(CheckError::Unreachable("no answer in time".into()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let line = text.split("\r\n").next().unwrap_or_default();
    let status = status_of(line)
        .ok_or_else(|| CheckError::Unreachable("the answer is not HTTP/1.x".into()))?;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(CheckError::Status(status))
    }
}

/// `warden healthcheck`: 0 when the URL answers 2xx, 1 otherwise (with the reason on stderr).
pub fn run(args: &HealthcheckArgs) -> u8 {
    let target = match &args.url {
        Some(url) => parse_url(url),
        None => target_of_listen(&args.listen),
    };
    let target = match target {
        Ok(t) => t,
        Err(e) => {
            eprintln!("unhealthy: {e}");
            return 1;
        }
    };
    let shown = format!("GET http://{}{}", target.authority, target.path);
    match check(&target, Duration::from_secs(args.timeout_secs)) {
        Ok(status) => {
            println!("healthy: {shown} answered {status}");
            0
        }
        Err(e) => {
            eprintln!("unhealthy: {shown}: {e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(authority: &str, path: &str) -> Target {
        Target {
            authority: authority.into(),
            path: path.into(),
        }
    }

    #[test]
    fn an_unspecified_listen_address_is_asked_on_the_loopback_of_its_family() {
        let cases = [
            ("0.0.0.0:8080", "127.0.0.1:8080"),
            ("[::]:9000", "[::1]:9000"),
            ("127.0.0.1:8080", "127.0.0.1:8080"),
            ("10.1.2.3:80", "10.1.2.3:80"),
        ];
        for (listen, authority) in cases {
            assert_eq!(
                target_of_listen(listen),
                Ok(target(authority, "/healthz")),
                "{listen}"
            );
        }
    }

    #[test]
    fn a_listen_address_that_cannot_be_asked_is_refused() {
        for listen in ["127.0.0.1:0", "localhost:8080", "8080", ""] {
            assert!(
                matches!(target_of_listen(listen), Err(CheckError::Invalid(_))),
                "{listen}"
            );
        }
    }

    #[test]
    fn urls_are_split_into_authority_and_path_with_port_80_by_default() {
        let cases = [
            (
                "http://127.0.0.1:8080/healthz",
                "127.0.0.1:8080",
                "/healthz",
            ),
            ("http://localhost/readyz", "localhost:80", "/readyz"),
            ("http://[::1]:81/x?y=1", "[::1]:81", "/x?y=1"),
            ("http://[::1]/", "[::1]:80", "/"),
            ("http://warden:8080", "warden:8080", "/"),
        ];
        for (url, authority, path) in cases {
            assert_eq!(parse_url(url), Ok(target(authority, path)), "{url}");
        }
    }

    #[test]
    fn urls_that_are_not_plain_http_or_hold_raw_bytes_are_refused() {
        for url in [
            "https://127.0.0.1/healthz",
            "127.0.0.1:8080/healthz",
            "http://",
            "http:///healthz",
            "http://user@host/",
            "http://h/a b",
            "http://h/a\r\nX: y",
            "http://h/é",
            "http://h/x#frag",
            "http://h?x",
        ] {
            assert!(
                matches!(parse_url(url), Err(CheckError::Invalid(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn status_lines_are_read_only_when_they_are_http_1() {
        let cases = [
            ("HTTP/1.1 200 OK", Some(200)),
            ("HTTP/1.0 204 No Content", Some(204)),
            ("HTTP/1.1 503 Service Unavailable", Some(503)),
            ("HTTP/1.1 200", Some(200)),
            ("HTTP/2 200", None),
            ("SSH-2.0-OpenSSH", None),
            ("HTTP/1.1 2000 OK", None),
            ("HTTP/1.1 +20 OK", None),
            ("", None),
        ];
        for (line, status) in cases {
            assert_eq!(status_of(line), status, "{line:?}");
        }
    }
}
