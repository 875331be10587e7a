//! Case 2, a slow reader on HTTP long-polling: one session that connects,
//! joins a room and never GETs again, while 8 senders on two addresses relay
//! it offers of ~127 KB (acked, one at a time each) until they are refused,
//! 200 each at most. The gateway's open descriptors are compared before and
//! after: no TCP connection may stay stuck once the session is closed.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use tokio::task::JoinSet;

use super::Load;
use super::probe::ack;
use super::raw::request;
use super::readers::connect_all;
use crate::scen::Clients;
use crate::ws::{Conn, extract_str};

const SENDERS: usize = 8;
const MAX_OFFERS: usize = 200;

const POLLER_SRC: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 6);
/// The token indices of this case's users (past case 1's).
pub const FIRST_TOKEN: usize = super::readers::USERS;
pub const TOKENS: usize = SENDERS + 1;

const PATH: &str = "/socket.io/?EIO=4&transport=polling";

/// Opens a polling session, sends CONNECT, collects its answer and joins
/// `code`: the Socket.IO id (the peer id senders target).
async fn poller(server: SocketAddr, token: &str, code: &str) -> Result<String> {
    let (status, body) = request(server, POLLER_SRC, &format!("GET {PATH} HTTP/1.1"), b"").await?;
    let Some(sid) = extract_str(&body, b"\"sid\":\"") else {
        bail!(
            "polling open answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    };
    let sid = String::from_utf8_lossy(sid).into_owned();
    let post = format!("POST {PATH}&sid={sid} HTTP/1.1\r\nContent-Type: text/plain;charset=UTF-8");
    let connect = format!(r#"40{{"token":"{token}"}}"#);
    let (status, _) = request(server, POLLER_SRC, &post, connect.as_bytes()).await?;
    if status != 200 {
        bail!("CONNECT POST answered {status}");
    }
    // The CONNECT's answer (`40{"sid":...}`), possibly with a ping.
    let get = format!("GET {PATH}&sid={sid} HTTP/1.1");
    let (_, body) = request(server, POLLER_SRC, &get, b"").await?;
    let pos = crate::ws::find(&body, b"40{").ok_or_else(|| anyhow!("no CONNECT answer"))?;
    let peer = extract_str(&body[pos..], b"\"sid\":\"").ok_or_else(|| anyhow!("no socket id"))?;
    let peer = String::from_utf8_lossy(peer).into_owned();
    let join = format!(r#"42["join:room",{{"roomCode":"{code}"}}]"#);
    let (status, _) = request(server, POLLER_SRC, &post, join.as_bytes()).await?;
    if status != 200 {
        bail!("join POST answered {status}");
    }
    Ok(peer)
}

/// Relays offers to `target` until refused: (acked ok, the refusal).
async fn send(
    mut c: Conn,
    target: String,
    offer: std::sync::Arc<String>,
) -> Result<(usize, Option<String>)> {
    let mut ok = 0;
    for id in 1..=MAX_OFFERS as u64 {
        c.push_fmt(format_args!(
            r#"42{id}["webrtc:offer",{{"targetPeerId":"{target}","offer":{offer}}}]"#
        ));
        c.flush().await?;
        let answer = ack(&mut c, id).await?;
        if answer != "ok" {
            return Ok((ok, Some(answer)));
        }
        ok += 1;
    }
    Ok((ok, None))
}

pub async fn run(clients: &Clients, fds_before: u64, fds: impl Fn() -> u64) -> Result<Load> {
    let server = clients.addr;
    let who = (0..SENDERS)
        .map(|i| {
            let src = Ipv4Addr::new(127, 0, 0, 1 + (i % 2) as u8);
            (src, clients.token(FIRST_TOKEN + 1 + i).to_owned())
        })
        .collect();
    let mut senders = connect_all(server, who).await?;
    let code = "m2poll";
    let mut e = 0;
    let first = &mut senders[0];
    first.push_fmt(format_args!(
        r#"42["create:room",{{"roomCode":"{code}","maxPeers":10}}]"#
    ));
    first.flush().await?;
    first.wait_event(b"42[\"room:created\"", &mut e).await?;
    let join = format!(r#"42["join:room",{{"roomCode":"{code}"}}]"#);
    for s in &mut senders {
        s.push_text(join.as_bytes());
        s.flush().await?;
        s.wait_event(b"42[\"room:joined\"", &mut e).await?;
    }
    let target = poller(server, clients.token(FIRST_TOKEN), code).await?;

    let t0 = Instant::now();
    let offer = super::readers::offer();
    let bytes = offer.len();
    let mut js = JoinSet::new();
    for s in senders {
        js.spawn(tokio::time::timeout(
            Duration::from_secs(60),
            send(s, target.clone(), offer.clone()),
        ));
    }
    let (mut ok, mut refused, mut first) = (0, 0, None);
    while let Some(r) = js.join_next().await {
        let (o, f) = r?.map_err(|_| anyhow!("a sender took over 60 s"))??;
        ok += o;
        refused += usize::from(f.is_some());
        first = first.or(f);
    }
    let cut_after = t0.elapsed();
    // The senders have closed; what the gateway still holds open is stuck.
    let deadline = Instant::now() + Duration::from_secs(10);
    while fds() > fds_before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stuck = fds().saturating_sub(fds_before);
    Ok(Load {
        offenders: 1,
        cut_off: usize::from(refused == SENDERS),
        detail: format!(
            "1 polling session that never GETs, {SENDERS} senders on 2 addresses; offers of {bytes} B: {ok} acked ok before it was cut ({:.1} s), {refused} of {SENDERS} senders refused after (first: {}); {stuck} descriptors left open after",
            cut_after.as_secs_f64(),
            first.as_deref().unwrap_or("-")
        ),
    })
}
