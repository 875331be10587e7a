//! HTTP connections time out and are capped per address (issue 11, finding
//! 4): a silent connection, half-sent headers, an idle keep-alive connection
//! and a stalled body are let go within seconds; one address cannot hold more
//! than `MAX_CONNECTIONS_PER_ADDRESS`; at the open-files limit the gateway
//! backs off and recovers. Healthy sockets on both transports outlive every
//! timeout.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::support::polling::Polling;
use crate::support::process::GatewayProcess;
use crate::support::{SioClient, token};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SHORT: &[(&str, &str)] = &[
    ("HEADER_TIMEOUT", "1s"),
    ("BODY_TIMEOUT", "1s"),
    ("HANDSHAKE_TIMEOUT", "1s"),
];

/// Reads until the server closes; how long that took (`None`: not within
/// `limit`). Whatever the server answered first is returned too.
async fn closed_after(tcp: &mut TcpStream, limit: Duration) -> Option<(Duration, String)> {
    let t0 = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((t0 + limit).into(), tcp.read(&mut buf)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some((t0.elapsed(), String::from_utf8_lossy(&seen).into_owned()));
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// The server closes `tcp`, not before the 1 s header timeout.
async fn closed_by_the_header_timeout(tcp: &mut TcpStream) {
    let (after, _) = closed_after(tcp, Duration::from_secs(5))
        .await
        .expect("closed by the server");
    assert!(
        after >= Duration::from_millis(900),
        "closed after {after:?}"
    );
}

async fn connect_from(addr: SocketAddr, local: &str) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::new(local.parse().unwrap(), 0))
        .unwrap();
    socket.connect(addr).await.expect("connect")
}

async fn healthz(tcp: &mut TcpStream) -> String {
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .expect("request");
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
        .await
        .expect("an answer")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_header_timeout() {
    let gw = GatewayProcess::start(SHORT).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    closed_by_the_header_timeout(&mut tcp).await;
}

#[tokio::test]
async fn half_sent_headers_are_cut_off() {
    let gw = GatewayProcess::start(SHORT).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")
        .await
        .unwrap();
    let t0 = Instant::now();
    // A byte every 200 ms: never a complete head.
    let mut closed = false;
    while t0.elapsed() < Duration::from_secs(5) {
        if tcp.write_all(b"X").await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 256];
        match tokio::time::timeout(Duration::from_millis(200), tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            _ => {}
        }
    }
    assert!(closed, "still open after {:?}", t0.elapsed());
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let gw = GatewayProcess::start(SHORT).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    let answer = healthz(&mut tcp).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    closed_by_the_header_timeout(&mut tcp).await;
}

#[tokio::test]
async fn a_body_that_stops_half_way_is_cut_off() {
    let gw = GatewayProcess::start(SHORT).await;
    let mut tcp = TcpStream::connect(gw.addr).await.unwrap();
    tcp.write_all(
        b"POST /register HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"username\":",
    )
    .await
    .unwrap();
    let (after, answer) = closed_after(&mut tcp, Duration::from_secs(5))
        .await
        .expect("the connection is let go");
    assert!(after < Duration::from_secs(3), "{after:?}");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
}

#[tokio::test]
async fn one_address_holds_at_most_its_connections_and_others_are_served() {
    let gw = GatewayProcess::start(&[("MAX_CONNECTIONS_PER_ADDRESS", "4")]).await;
    // An address of its own (the start-up probes came from 127.0.0.1).
    const CLIENT: &str = "127.0.0.5";
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut tcp = connect_from(gw.addr, CLIENT).await;
        // Answered: accepted, and kept open (keep-alive).
        assert!(healthz(&mut tcp).await.starts_with("HTTP/1.1 200"));
        held.push(tcp);
    }
    let mut fifth = connect_from(gw.addr, CLIENT).await;
    let (after, answer) = closed_after(&mut fifth, Duration::from_secs(2))
        .await
        .expect("the fifth is closed at once");
    assert!(after < Duration::from_secs(1), "{after:?}");
    assert_eq!(answer, "");
    // Another address is not affected.
    let mut other = connect_from(gw.addr, "127.0.0.2").await;
    assert!(healthz(&mut other).await.starts_with("HTTP/1.1 200"));
    // A freed place is taken again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = connect_from(gw.addr, CLIENT).await;
        if tcp_answers(&mut again).await {
            break;
        }
        assert!(Instant::now() < deadline, "the place never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = gw.metrics().await;
    assert!(
        metrics.contains(r#"gateway_refused_total{reason="connections_per_address"}"#),
        "{metrics}"
    );
}

/// Whether `/healthz` answers on `tcp` (false when the connection is refused).
async fn tcp_answers(tcp: &mut TcpStream) -> bool {
    if tcp
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await,
        Ok(Ok(n)) if n > 0
    )
}

#[tokio::test]
async fn healthy_sockets_outlive_every_timeout_on_both_transports() {
    let gw = GatewayProcess::start(SHORT).await;
    let mut ws = SioClient::connect(gw.addr, json!({ "token": token("w", "w") }), &[])
        .await
        .expect("connects");
    let polling = Polling::open(gw.addr).await.expect("handshake");
    polling
        .connect(json!({ "token": token("p", "p") }))
        .await
        .expect("connects");
    let polling = std::sync::Arc::new(polling);
    // A long-polling GET waits with its head sent (up to the ping interval):
    // no timeout applies to it.
    let waiting = tokio::spawn({
        let polling = polling.clone();
        async move {
            loop {
                let t0 = Instant::now();
                let packets = polling.poll().await.expect("the waiting GET answers");
                // A first heartbeat may come early; it is answered, and the
                // next GET waits.
                if !packets.is_empty() {
                    return (t0.elapsed(), packets);
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(2500)).await;
    if waiting.is_finished() {
        panic!("the GET did not wait: {:?}", waiting.await.unwrap());
    }
    // The WebSocket idled as long: still alive.
    let pong = ws.emit_with_ack("ping", json!(null)).await;
    assert!(pong["timestamp"].is_string(), "{pong}");
    // An event POSTed on the session answers the waiting GET.
    assert_eq!(polling.post(&[r#"42["ping"]"#]).await, 200);
    let (waited, packets) = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("answered")
        .unwrap();
    assert!(waited >= Duration::from_millis(2400), "{waited:?}");
    assert!(
        packets.iter().any(|p| p.starts_with(r#"42["pong""#)),
        "{packets:?}"
    );
    let (ack, _) = polling.emit_with_ack(1, "ping", json!(null)).await;
    assert!(ack["timestamp"].is_string(), "{ack}");
}

#[tokio::test]
async fn at_the_open_files_limit_the_gateway_backs_off_and_recovers() {
    let gw = GatewayProcess::start_with(SHORT, Some(96)).await;
    let cpu0 = gw.cpu_time();
    let t0 = Instant::now();
    // Far more silent connections than descriptors, all kept open: the
    // kernel queues them, accept fails with EMFILE until the header timeout
    // lets accepted ones go.
    let mut silent = Vec::new();
    for _ in 0..300 {
        if let Ok(tcp) = TcpStream::connect(gw.addr).await {
            silent.push(tcp);
        }
    }
    // The gateway answers again while they are still open.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ok = async {
            let mut tcp = TcpStream::connect(gw.addr).await.ok()?;
            Some(healthz(&mut tcp).await)
        };
        if let Ok(Some(answer)) = tokio::time::timeout(Duration::from_secs(3), ok).await
            && answer.starts_with("HTTP/1.1 200")
        {
            break;
        }
        assert!(Instant::now() < deadline, "/healthz never answered again");
    }
    // Backing off, not spinning on a listener that stays readable.
    let (spent, wall) = (gw.cpu_time().saturating_sub(cpu0), t0.elapsed());
    assert!(spent < wall / 2, "{spent:?} of CPU in {wall:?}");
    drop(silent);
}

/// Issue 23, case 4: connections that each send a huge request head. Each is
/// answered 431 once its head passes `MAX_REQUEST_HEAD` (16 KiB, Node's own
/// default), so together they hold little; a client on another address is
/// served meanwhile.
#[tokio::test]
async fn huge_request_heads_are_refused_at_the_limit_and_hold_little() {
    const MIB: u64 = 1024 * 1024;
    const CONNECTIONS: usize = 400;
    let gw = GatewayProcess::start(&[]).await;
    let before = gw.rss();
    let head = std::sync::Arc::new(format!(
        "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Pad: {}",
        "a".repeat(600 * 1024)
    ));
    let mut attempts = Vec::new();
    for i in 0..CONNECTIONS {
        let (addr, head) = (gw.addr, head.clone());
        attempts.push(tokio::spawn(async move {
            let mut tcp = connect_from(addr, &format!("127.0.0.{}", 10 + i % 4)).await;
            // The server may answer and close before taking it all.
            let _ =
                tokio::time::timeout(Duration::from_secs(3), tcp.write_all(head.as_bytes())).await;
            closed_after(&mut tcp, Duration::from_secs(10)).await
        }));
    }
    let mut other = connect_from(gw.addr, "127.0.0.3").await;
    assert!(healthz(&mut other).await.starts_with("HTTP/1.1 200"));
    let mut answers = Vec::new();
    for attempt in attempts {
        answers.push(attempt.await.unwrap());
    }
    let grown = gw.peak_rss().saturating_sub(before);
    let open = answers.iter().filter(|a| a.is_none()).count();
    let refused = answers
        .iter()
        .flatten()
        .filter(|(_, a)| a.starts_with("HTTP/1.1 431"))
        .count();
    let shown = format!(
        "{refused} refused, {open} still open, peak RSS +{} MiB, first: {:?}",
        grown / MIB,
        answers.iter().flatten().next()
    );
    eprintln!("{shown}");
    assert_eq!(refused, CONNECTIONS, "{shown}");
    assert!(grown < 48 * MIB, "{shown}");
    assert!(healthz(&mut other).await.starts_with("HTTP/1.1 200"));
}
