//! Issue 23, the node-wide bound (`MAX_NODE_MEMORY`): connected sockets each
//! holding a partial WebSocket message (up to `MAX_PAYLOAD` each, under every
//! per-socket bound) draw on one node budget. Once it is spent, the socket
//! whose frame does not fit is closed (`gateway_node_memory_refusals_total`),
//! the others keep theirs, the process stays bounded, and a client on
//! another address is served (ping round trip, relay delivered). The same
//! for HTTP: request bodies being read draw on the same budget.

use std::time::Duration;

use crate::support::polling::Polling;
use crate::support::process::GatewayProcess;
use crate::support::{SioClient, token};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MIB: u64 = 1024 * 1024;

fn metric(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in {metrics}"))
}

/// A masked client text frame carrying `payload` whole.
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0x81u8];
    match payload.len() {
        n if n < 126 => f.push(0x80 | n as u8),
        n => {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(&[0, 0, 0, 0]); // a zero mask: the payload as is
    f.extend_from_slice(payload);
    f
}

/// A raw WebSocket socket from 127.0.0.1, connected as `user` (CONNECT sent
/// and answered).
async fn connected_ws(addr: std::net::SocketAddr, user: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let req = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {addr}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await.expect("upgrade");
    let connect = format!(r#"40{{"token":"{}"}}"#, token(user, user));
    tcp.write_all(&text_frame(connect.as_bytes()))
        .await
        .expect("CONNECT");
    // Read until the CONNECT's answer (`40{"sid"`) has come.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(7).any(|w| w == b"40{\"sid") {
        let n = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf))
            .await
            .expect("CONNECT answered in time")
            .expect("read");
        assert!(n > 0, "closed before CONNECT was answered");
        seen.extend_from_slice(&buf[..n]);
    }
    tcp
}

#[tokio::test]
async fn partial_messages_of_connected_sockets_share_the_node_budget() {
    const SOCKETS: usize = 40;
    const FRAME: u64 = 990_000;
    const SENT: usize = 900_000;
    const BUDGET: u64 = 16 * MIB;
    let gw = GatewayProcess::start(&[("MAX_NODE_MEMORY", "16777216")]).await;
    let (mut a, mut b) = served_pair(&gw).await;
    let mut socks = Vec::new();
    for i in 0..SOCKETS {
        // Two sockets per user: under MAX_SOCKETS_PER_USER.
        let user: &'static str = Box::leak(format!("holder{}", i / 2).into_boxed_str());
        socks.push(connected_ws(gw.addr, user).await);
    }
    let before = gw.rss();

    // Each socket sends SENT bytes of a FRAME-byte text frame, holds the rest.
    let mut frame = vec![0x81u8, 0x80 | 127];
    frame.extend_from_slice(&FRAME.to_be_bytes());
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend(std::iter::repeat_n(b'x', SENT));
    let frame = std::sync::Arc::new(frame);
    let mut holders = Vec::new();
    for mut tcp in socks {
        let frame = frame.clone();
        holders.push(tokio::spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), tcp.write_all(&frame)).await;
            closed_within(tcp, Duration::from_secs(4)).await
        }));
    }
    assert_served(&mut b).await;
    let mut closed = 0;
    let mut open = Vec::new();
    for h in holders {
        let (c, tcp) = h.await.unwrap();
        closed += usize::from(c);
        if !c {
            open.push(tcp);
        }
    }
    let metrics = gw.metrics().await;
    let held = metric(&metrics, "gateway_node_memory_bytes");
    let refusals = metric(&metrics, "gateway_node_memory_refusals_total");
    let grown = gw.peak_rss().saturating_sub(before);
    let shown = format!(
        "{closed} of {SOCKETS} closed, {held} bytes held, {refusals} refusals, peak RSS +{} MiB",
        grown / MIB
    );
    eprintln!("{shown}");
    // What fits is kept: 16 frames of 990 KB in 16 MiB, the rest refused.
    let fit = (BUDGET / FRAME) as usize;
    assert_eq!(closed, SOCKETS - fit, "{shown}");
    assert_eq!(refusals as usize, SOCKETS - fit, "{shown}");
    assert!(held <= BUDGET, "{shown}");
    assert!(grown < 40 * MIB, "{shown}");
    relay_delivered(&mut a, &mut b).await;
    // Their partial messages are given back when they go.
    drop(open);
    all_given_back(&gw).await;
}

/// Two sockets from another address (127.0.0.2) in one room.
async fn served_pair(gw: &GatewayProcess) -> (SioClient, SioClient) {
    let local = |ip: &str| ip.parse().unwrap();
    let connect = |user: &'static str| {
        SioClient::connect_from(
            gw.addr,
            local("127.0.0.2"),
            json!({ "token": token(user, user) }),
        )
    };
    let (mut a, mut b) = (
        connect("a").await.expect("a"),
        connect("b").await.expect("b"),
    );
    a.emit_with_ack("create:room", json!({ "roomCode": "nodemem" }))
        .await;
    a.emit_with_ack("join:room", json!({ "roomCode": "nodemem" }))
        .await;
    b.emit_with_ack("join:room", json!({ "roomCode": "nodemem" }))
        .await;
    a.next("peer:joined").await;
    (a, b)
}

/// A ping round trip while the budget is spent.
async fn assert_served(b: &mut SioClient) {
    let pong = tokio::time::timeout(Duration::from_secs(5), b.emit_with_ack("ping", json!({})))
        .await
        .expect("ping answered in time");
    assert!(pong["timestamp"].is_string(), "{pong}");
}

/// Served meanwhile: a relay from another address is delivered.
async fn relay_delivered(a: &mut SioClient, b: &mut SioClient) {
    let ack = b
        .emit_with_ack(
            "webrtc:offer",
            json!({ "targetPeerId": a.sid, "offer": { "type": "offer", "sdp": "v=0" } }),
        )
        .await;
    assert_eq!(ack, json!({ "ok": true }));
    assert_eq!(a.next("webrtc:offer").await["offer"]["sdp"], "v=0");
}

/// The node's count comes back down once the holders are gone.
async fn all_given_back(gw: &GatewayProcess) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while metric(&gw.metrics().await, "gateway_node_memory_bytes") > MIB {
        assert!(std::time::Instant::now() < deadline, "bytes still held");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Closed by the gateway within `limit` (or still open: handed back).
async fn closed_within(mut tcp: TcpStream, limit: Duration) -> (bool, TcpStream) {
    let mut buf = vec![0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok();
    (closed, tcp)
}

#[tokio::test]
async fn partial_request_bodies_share_the_node_budget() {
    const SESSIONS: usize = 40;
    const BODY: usize = 990_000;
    const SENT: usize = 900_000;
    const BUDGET: u64 = 16 * MIB;
    let gw = GatewayProcess::start(&[("MAX_NODE_MEMORY", "16777216")]).await;
    let (mut a, mut b) = served_pair(&gw).await;
    // Connected polling sessions (a body of up to MAX_PAYLOAD is theirs to
    // send), two per user: under MAX_SOCKETS_PER_USER.
    let mut sessions = Vec::new();
    for i in 0..SESSIONS {
        let p = Polling::open(gw.addr).await.expect("handshake");
        let user = format!("poster{}", i / 2);
        p.connect(json!({ "token": token(&user, &user) }))
            .await
            .expect("CONNECT");
        sessions.push(p);
    }
    let before = gw.rss();

    // Each session POSTs SENT bytes of a BODY-byte message, holds the rest.
    let mut holders = Vec::new();
    for p in &sessions {
        let mut req = format!(
            "POST /socket.io/?EIO=4&transport=polling&sid={} HTTP/1.1\r\nHost: {}\r\n\
             Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {BODY}\r\n\r\n4",
            p.sid, gw.addr
        )
        .into_bytes();
        req.extend(std::iter::repeat_n(b'x', SENT - 1));
        let addr = gw.addr;
        holders.push(tokio::spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.expect("connect");
            let _ = tokio::time::timeout(Duration::from_secs(5), tcp.write_all(&req)).await;
            closed_within(tcp, Duration::from_secs(4)).await
        }));
    }
    assert_served(&mut b).await;
    let mut closed = 0;
    let mut open = Vec::new();
    for h in holders {
        let (c, tcp) = h.await.unwrap();
        closed += usize::from(c);
        if !c {
            open.push(tcp);
        }
    }
    let metrics = gw.metrics().await;
    let held = metric(&metrics, "gateway_node_memory_bytes");
    let refusals = metric(&metrics, "gateway_node_memory_refusals_total");
    let grown = gw.peak_rss().saturating_sub(before);
    let shown = format!(
        "{closed} of {SESSIONS} closed, {held} bytes held, {refusals} refusals, peak RSS +{} MiB",
        grown / MIB
    );
    eprintln!("{shown}");
    // At most what fits is kept, every other body refused for want of room.
    let fit = (BUDGET / SENT as u64) as usize;
    assert!(closed >= SESSIONS - fit, "{shown}");
    assert!(open.len() >= fit / 2, "what fits is kept: {shown}");
    assert_eq!(refusals as usize, closed, "{shown}");
    assert!(held <= BUDGET, "{shown}");
    assert!(held >= (open.len() * SENT) as u64, "{shown}");
    // What was read, and the body collected from it: about twice the count.
    assert!(grown < 3 * BUDGET, "{shown}");
    relay_delivered(&mut a, &mut b).await;
    drop(open);
    all_given_back(&gw).await;
}
