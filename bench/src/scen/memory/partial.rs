//! Case 3, unauthenticated partial messages: 400 Engine.IO WebSocket
//! sessions that never send CONNECT, each sending 900 KB of a 990 KB text
//! frame and holding the rest back, all at once from one address.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;

use super::Load;
use super::raw::{tcp_from, until_closed};
use crate::ws::find;

const CONNECTIONS: usize = 400;
const FRAME: u64 = 990_000;
const SENT: usize = 900_000;

/// A WebSocket upgraded Engine.IO session that sent nothing since, and the
/// bytes read past the 101's head.
async fn engine_ws(server: SocketAddr, src: Ipv4Addr) -> Result<tokio::net::TcpStream> {
    use tokio::io::AsyncReadExt;
    let mut tcp = tcp_from(server, src).await?;
    let req = format!(
        "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {server}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    tcp.write_all(req.as_bytes()).await?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while find(&head, b"\r\n\r\n").is_none() {
        let n = tcp.read(&mut buf).await?;
        if n == 0 {
            bail!("closed during the upgrade");
        }
        head.extend_from_slice(&buf[..n]);
    }
    if !head.starts_with(b"HTTP/1.1 101") {
        bail!(
            "upgrade refused: {}",
            String::from_utf8_lossy(&head[..12.min(head.len())])
        );
    }
    Ok(tcp)
}

pub async fn run(server: SocketAddr) -> Result<Load> {
    // A masked text frame (FIN, opcode 1) announcing FRAME bytes, SENT sent.
    let mut frame = vec![0x81u8, 0x80 | 127];
    frame.extend_from_slice(&FRAME.to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend(std::iter::repeat_n(b'4' ^ 1, SENT));
    let frame = Arc::new(frame);
    let t0 = Instant::now();
    let mut js = JoinSet::new();
    for _ in 0..CONNECTIONS {
        let frame = frame.clone();
        js.spawn(async move {
            let mut tcp = engine_ws(server, Ipv4Addr::LOCALHOST).await?;
            // The server may close before taking it all.
            let _ = tokio::time::timeout(Duration::from_secs(5), tcp.write_all(&frame)).await;
            let closed = until_closed(&mut tcp, Duration::from_secs(15))
                .await
                .is_some();
            Ok::<_, anyhow::Error>((closed, t0.elapsed()))
        });
    }
    let (mut closed, mut last, mut failed) = (0, Duration::ZERO, Vec::new());
    while let Some(r) = js.join_next().await {
        match r? {
            Ok((c, at)) => {
                closed += usize::from(c);
                if c {
                    last = last.max(at);
                }
            }
            Err(e) => failed.push(format!("{e:#}")),
        }
    }
    Ok(Load {
        offenders: CONNECTIONS,
        cut_off: closed,
        detail: format!(
            "{CONNECTIONS} sessions without CONNECT from 1 address, {SENT} B of a {FRAME} B frame each: {closed} closed by the gateway, the last {:.1} s after the start; {} failed to upgrade{}",
            last.as_secs_f64(),
            failed.len(),
            failed
                .first()
                .map(|e| format!(" (first: {e})"))
                .unwrap_or_default()
        ),
    })
}
