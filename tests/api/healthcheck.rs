//! `warden healthcheck` (the container image's HEALTHCHECK): exit 0 only when a real server
//! answers 2xx, 1 for everything else (Docker reserves 2), within its deadline.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::helpers::Process;

fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
        .arg("healthcheck")
        .args(args)
        // only what the test passes: no WARDEN_LISTEN from the developer's shell
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run warden healthcheck")
}

/// A one-connection server on a loopback port: reads the request head, answers `answer`
/// (or nothing, holding the connection open, when `None`), and hands back what it read.
fn fake_server(answer: Option<&'static str>) -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut head = Vec::new();
        let mut buf = [0u8; 512];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        match answer {
            Some(a) => {
                let _ = s.write_all(a.as_bytes());
            }
            // hold the connection until the client gives up and closes it
            None => while matches!(s.read(&mut buf), Ok(n) if n > 0) {},
        }
        String::from_utf8_lossy(&head).into_owned()
    });
    (addr, handle)
}

#[test]
fn healthcheck_exits_0_when_the_server_warden_listen_names_answers_healthz() {
    let mut server = Process::start(&[]);
    let addr = server.address();
    let port = addr.rsplit(':').next().expect("port");
    // as in the image: WARDEN_LISTEN=0.0.0.0:8080 is asked on 127.0.0.1
    let out = healthcheck(&[], &[("WARDEN_LISTEN", &format!("0.0.0.0:{port}"))]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("GET http://127.0.0.1:{port}/healthz answered 200")),
        "{stdout}"
    );
    let out = healthcheck(&["--url", &format!("http://{addr}/readyz")], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

#[test]
fn healthcheck_sends_one_plain_get_with_a_host_and_exits_1_on_an_answer_that_is_not_2xx() {
    let (addr, server) = fake_server(Some(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
    ));
    let out = healthcheck(&["--url", &format!("http://{addr}/healthz")], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("answered 503"),
        "{out:?}"
    );
    let request = server.join().expect("server");
    assert!(
        request.starts_with("GET /healthz HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains(&format!("\r\nHost: {addr}\r\n")),
        "{request}"
    );

    let (addr, _server) = fake_server(Some("SSH-2.0-OpenSSH_9.2\r\n"));
    let out = healthcheck(&["--url", &format!("http://{addr}/")], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not HTTP"),
        "{out:?}"
    );
}

#[test]
fn healthcheck_exits_1_when_nothing_listens_when_no_answer_comes_in_time_and_on_a_bad_url() {
    // a port nobody listens on (bound, then closed)
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let out = healthcheck(&["--listen", &format!("127.0.0.1:{port}")], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");

    // a server that accepts and never answers: cut off at the deadline, not hung
    let (addr, _server) = fake_server(None);
    let started = Instant::now();
    let out = healthcheck(
        &[
            "--url",
            &format!("http://{addr}/healthz"),
            "--timeout-secs",
            "1",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no answer in time"),
        "{out:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // what cannot be asked is unhealthy too (1), never Docker's reserved 2
    for args in [
        &["--url", "https://127.0.0.1/healthz"][..],
        &["--listen", "127.0.0.1:0"][..],
    ] {
        let out = healthcheck(args, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
    }
}
