//! Raw TCP and HTTP/1.1 from a chosen source address: what the cases that
//! are not Socket.IO clients send (request heads, polling requests, frames),
//! and the gateway's own counters (`/metrics`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

use crate::ws::find;

/// A TCP connection to `server` from `src`.
pub async fn tcp_from(server: SocketAddr, src: Ipv4Addr) -> Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(IpAddr::V4(src), 0))
        .with_context(|| format!("bind {src}"))?;
    let tcp = timeout(Duration::from_secs(10), sock.connect(server))
        .await
        .context("tcp connect timed out")?
        .context("tcp connect")?;
    tcp.set_nodelay(true)?;
    Ok(tcp)
}

/// Reads until the server closes (end of stream or a reset), within `limit`;
/// what it had sent, or `None` when it was still open at the limit.
pub async fn until_closed(tcp: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    timeout(limit, async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    // The status line and headers are all a case looks at.
                    if got.len() < 64 * 1024 {
                        got.extend_from_slice(&buf[..n]);
                    }
                }
            }
        }
    })
    .await
    .ok()?;
    Some(got)
}

/// One request on its own connection (`Connection: close`): the status and
/// the body of the answer, within 10 s.
pub async fn request(
    server: SocketAddr,
    src: Ipv4Addr,
    head: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>)> {
    let mut tcp = tcp_from(server, src).await?;
    let mut req = format!(
        "{head}\r\nHost: {server}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    tcp.write_all(&req).await?;
    let Some(answer) = until_closed(&mut tcp, Duration::from_secs(10)).await else {
        bail!("no answer to {head} within 10 s");
    };
    Ok((status(&answer), body_of(&answer).to_vec()))
}

/// The status code of an HTTP/1.1 answer (0 if there is none).
pub fn status(answer: &[u8]) -> u16 {
    answer
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// An answer's body (its head skipped; chunked bodies are not decoded, the
/// cases only search them).
fn body_of(answer: &[u8]) -> &[u8] {
    match find(answer, b"\r\n\r\n") {
        Some(p) => &answer[p + 4..],
        None => &[],
    }
}

/// The gateway's unlabelled counters and gauges (`/metrics`), by name.
pub async fn metrics(server: SocketAddr) -> BTreeMap<String, u64> {
    let Ok((200, body)) = request(server, Ipv4Addr::LOCALHOST, "GET /metrics HTTP/1.1", b"").await
    else {
        return BTreeMap::new();
    };
    String::from_utf8_lossy(&body)
        .lines()
        .filter(|l| l.starts_with("gateway_") && !l.contains('{'))
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let name = it.next()?;
            let value: f64 = it.next()?.parse().ok()?;
            Some((name.to_owned(), value.max(0.0) as u64))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_body_are_read_from_an_answer() {
        let a = b"HTTP/1.1 431 Request Header Fields Too Large\r\nx: y\r\n\r\nhi";
        assert_eq!(status(a), 431);
        assert_eq!(body_of(a), b"hi");
        assert_eq!(status(b""), 0);
    }
}
