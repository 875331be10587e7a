//! Case 1, many slow readers at once: 112 users × 20 sockets over 5 source
//! addresses; per user 18 readers that never read and 2 senders. Each sender
//! is in a room with 9 readers and relays them 15 offers of ~127 KB each
//! (acked, one at a time): 2,016 readers × 1.9 MB, four times the node's
//! default budget in all, each reader under its own.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use anyhow::{Result, anyhow};
use tokio::task::JoinSet;
use tokio::time::timeout;

use super::Load;
use super::probe::ack;
use crate::scen::Clients;
use crate::ws::Conn;

pub const USERS: usize = 112;
const READERS_PER_SENDER: usize = 9;
const SENDERS: usize = 224;
const OFFERS_PER_READER: usize = 15;
/// The largest offer the contract takes: an SDP of 64 KiB and keys of the
/// client's own, ~127 KB of JSON in all (`MAX_DESCRIPTION_JSON` is 128 KiB).
pub fn offer() -> std::sync::Arc<String> {
    let (sdp, pad) = ("x".repeat(65_000), "y".repeat(62_000));
    std::sync::Arc::new(format!(r#"{{"type":"offer","sdp":"{sdp}","pad":"{pad}"}}"#))
}

/// What a sender's relays got.
#[derive(Default)]
struct Sent {
    ok: usize,
    refused: usize,
    /// Targets refused at least once.
    cut: usize,
    first_refusal: Option<String>,
}
const SRCS: usize = 5;

fn src(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 1 + (i % SRCS) as u8)
}

/// One socket from `src` with `token`, within 15 s.
pub async fn connect(server: SocketAddr, src: Ipv4Addr, token: String) -> Result<Conn> {
    timeout(Duration::from_secs(15), Conn::connect(server, src, &token))
        .await
        .map_err(|_| anyhow!("handshake timed out (15 s)"))?
}

/// Opens every `(src, token)` socket, 128 handshakes at a time, in order.
pub async fn connect_all(server: SocketAddr, who: Vec<(Ipv4Addr, String)>) -> Result<Vec<Conn>> {
    let n = who.len();
    let mut out: Vec<Option<Conn>> = (0..n).map(|_| None).collect();
    let mut js = JoinSet::new();
    for (i, (src, token)) in who.into_iter().enumerate() {
        if js.len() >= 128
            && let Some(r) = js.join_next().await
        {
            let (j, c): (usize, Result<Conn>) = r?;
            out[j] = Some(c?);
        }
        js.spawn(async move { (i, connect(server, src, token).await) });
    }
    while let Some(r) = js.join_next().await {
        let (j, c) = r?;
        out[j] = Some(c?);
    }
    out.into_iter()
        .map(|c| c.ok_or_else(|| anyhow!("a socket missing")))
        .collect()
}

/// A sender's room: it creates it and joins, then each reader joins (its
/// last read).
async fn room(code: String, mut sender: Conn, readers: Vec<Conn>) -> Result<(Conn, Vec<Conn>)> {
    let mut e = 0;
    sender.push_fmt(format_args!(
        r#"42["create:room",{{"roomCode":"{code}","maxPeers":10}}]"#
    ));
    sender.flush().await?;
    sender.wait_event(b"42[\"room:created\"", &mut e).await?;
    let join = format!(r#"42["join:room",{{"roomCode":"{code}"}}]"#);
    sender.push_text(join.as_bytes());
    sender.flush().await?;
    sender.wait_event(b"42[\"room:joined\"", &mut e).await?;
    let mut joined = Vec::with_capacity(readers.len());
    for mut r in readers {
        r.push_text(join.as_bytes());
        r.flush().await?;
        r.wait_event(b"42[\"room:joined\"", &mut e).await?;
        joined.push(r);
    }
    Ok((sender, joined))
}

/// Relays 15 offers to each target, one at a time, skipping targets refused.
async fn send(
    mut sender: Conn,
    targets: Vec<String>,
    offer: std::sync::Arc<String>,
) -> Result<Sent> {
    let mut sent = Sent::default();
    let mut cut = vec![false; targets.len()];
    let mut id = 0u64;
    for _ in 0..OFFERS_PER_READER {
        for (t, target) in targets.iter().enumerate() {
            if cut[t] {
                continue;
            }
            id += 1;
            sender.push_fmt(format_args!(
                r#"42{id}["webrtc:offer",{{"targetPeerId":"{target}","offer":{offer}}}]"#
            ));
            sender.flush().await?;
            let answer = ack(&mut sender, id).await?;
            if answer == "ok" {
                sent.ok += 1;
            } else {
                sent.refused += 1;
                sent.first_refusal.get_or_insert(answer);
                cut[t] = true;
            }
        }
    }
    sent.cut = cut.iter().filter(|&&c| c).count();
    Ok(sent)
}

pub async fn run(clients: &Clients) -> Result<Load> {
    let server = clients.addr;
    // Per user: 18 readers, then 2 senders (MAX_SOCKETS_PER_USER is 20).
    let readers = SENDERS * READERS_PER_SENDER;
    let who: Vec<_> = (0..readers + SENDERS)
        .map(|i| (src(i), clients.token(i % USERS).to_owned()))
        .collect();
    let mut conns = connect_all(server, who).await?;
    let senders = conns.split_off(readers);
    let mut readers_it = conns.into_iter();
    let mut js = JoinSet::new();
    for (k, s) in senders.into_iter().enumerate() {
        let group: Vec<Conn> = readers_it.by_ref().take(READERS_PER_SENDER).collect();
        js.spawn(timeout(
            Duration::from_secs(60),
            room(format!("m1r{k}"), s, group),
        ));
    }
    let mut rooms = Vec::new();
    while let Some(r) = js.join_next().await {
        rooms.push(r?.map_err(|_| anyhow!("room set-up timed out"))??);
    }

    // The readers read nothing from here on; the senders relay.
    let offer = offer();
    let bytes = offer.len();
    let mut held = Vec::new();
    let mut js = JoinSet::new();
    for (s, group) in rooms {
        let targets = group.iter().map(|r| r.sid.clone()).collect();
        held.extend(group);
        js.spawn(timeout(
            Duration::from_secs(120),
            send(s, targets, offer.clone()),
        ));
    }
    let (mut all, mut failed) = (Sent::default(), Vec::new());
    while let Some(r) = js.join_next().await {
        match r? {
            Ok(Ok(s)) => {
                all.ok += s.ok;
                all.refused += s.refused;
                all.cut += s.cut;
                all.first_refusal = all.first_refusal.or(s.first_refusal);
            }
            Ok(Err(e)) => failed.push(format!("{e:#}")),
            Err(_) => failed.push("a sender took over 120 s".into()),
        }
    }
    drop(held);
    if let Some(e) = failed.first() {
        return Err(anyhow!("{} of {SENDERS} senders failed: {e}", failed.len()));
    }
    Ok(Load {
        offenders: readers,
        cut_off: all.cut,
        detail: format!(
            "{readers} readers, {SENDERS} senders over {SRCS} addresses; offers of {bytes} B: {} acked ok, {} refused (first: {})",
            all.ok,
            all.refused,
            all.first_refusal.as_deref().unwrap_or("-")
        ),
    })
}
