//! Case 4, large request heads: 1,000 connections over 3 source addresses,
//! all at once, each sending 600 KB of a request head that never ends.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;

use super::Load;
use super::raw::{status, tcp_from, until_closed};

const CONNECTIONS: usize = 1_000;
const SRCS: usize = 3;
const PAD: usize = 600 * 1024;

pub async fn run(server: SocketAddr) -> Result<Load> {
    let head = Arc::new(format!(
        "GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Pad: {}",
        "a".repeat(PAD)
    ));
    let t0 = Instant::now();
    let mut js = JoinSet::new();
    for i in 0..CONNECTIONS {
        let head = head.clone();
        js.spawn(async move {
            let src = Ipv4Addr::new(127, 0, 0, 1 + (i % SRCS) as u8);
            let mut tcp = tcp_from(server, src).await?;
            // The server may answer and close before taking it all.
            let _ =
                tokio::time::timeout(Duration::from_secs(5), tcp.write_all(head.as_bytes())).await;
            let answer = until_closed(&mut tcp, Duration::from_secs(15)).await;
            Ok::<_, anyhow::Error>((answer.map(|a| status(&a)), t0.elapsed()))
        });
    }
    let (mut refused, mut open, mut other, mut last, mut failed) = (0, 0, 0, Duration::ZERO, 0);
    while let Some(r) = js.join_next().await {
        match r? {
            Ok((Some(431), at)) => {
                refused += 1;
                last = last.max(at);
            }
            Ok((Some(_), _)) => other += 1,
            Ok((None, _)) => open += 1,
            Err(_) => failed += 1,
        }
    }
    Ok(Load {
        offenders: CONNECTIONS,
        cut_off: refused,
        detail: format!(
            "{CONNECTIONS} connections over {SRCS} addresses, {PAD} B of head each: {refused} answered 431 and closed (the last {:.1} s after the start), {other} otherwise answered, {open} still open after 15 s, {failed} failed to connect",
            last.as_secs_f64()
        ),
    })
}
