//! The freeze phase: a third node is frozen (SIGSTOP) while senders on the
//! two other nodes relay acked `webrtc:offer`s to its members, then resumed
//! (SIGCONT). Every relay is followed to its end: acked `{ok:true}` and
//! delivered, acked and never delivered (issue 20's `acked_then_lost`),
//! refused (by code), or never answered. After the resume the phase waits the
//! frozen node's `NODE_TIMEOUT` and a sweep, so the outcome is known: the
//! node rejoined (its members still there, nobody told `peer:left`) or was
//! reaped (its members' peers told `peer:left`, its sockets closed).
//!
//! Two frozen nodes, one round each: one with the default liveness (a 3 s
//! freeze is shorter than its 6 s `NODE_TIMEOUT`: it should rejoin), one with
//! a timeout shorter than the freeze (it should be reaped).

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::sleep_until;

use super::tally::{FreezeCounts, Tally};
use crate::scen::relay::into_rooms;
use crate::scen::{Clients, Ctx, Failures};
use crate::server::{Kind, Setup, Spec, free_port};
use crate::ws::{Conn, extract_str, find, parse_ack, parse_u64};

/// A node to freeze, with its liveness settings.
pub struct FrozenNode {
    pub name: &'static str,
    /// `NODE_HEARTBEAT`, `NODE_TIMEOUT`; `None`: the gateway's defaults.
    pub liveness: Option<(Duration, Duration)>,
}

/// The gateway's defaults (`NODE_HEARTBEAT`, `NODE_TIMEOUT`).
const DEFAULT_LIVENESS: (Duration, Duration) = (Duration::from_secs(2), Duration::from_secs(6));

pub const NODES: [FrozenNode; 2] = [
    FrozenNode {
        name: "frozen-rejoins",
        liveness: None,
    },
    FrozenNode {
        name: "frozen-reaped",
        liveness: Some((Duration::from_millis(400), Duration::from_secs(1))),
    },
];

impl FrozenNode {
    fn liveness(&self) -> (Duration, Duration) {
        self.liveness.unwrap_or(DEFAULT_LIVENESS)
    }

    /// The node, a helper (kind `None`): its idle CPU is not summed into the
    /// measured nodes' while the relay phases run.
    pub fn spec(&self, setup: &Setup, redis_url: &str) -> Result<Spec> {
        let mut spec = setup
            .server_on(Kind::Gateway, self.name, free_port()?)
            .env("REDIS_URL", redis_url);
        if let Some((beat, timeout)) = self.liveness {
            spec = spec
                .env("NODE_HEARTBEAT", format!("{}ms", beat.as_millis()))
                .env("NODE_TIMEOUT", format!("{}ms", timeout.as_millis()));
        }
        spec.kind = None;
        Ok(spec)
    }
}

/// The gateway's sweep period (`cluster::node::sweep_every`): half the
/// heartbeat, within 50 ms..1 s.
fn sweep_every(heartbeat: Duration) -> Duration {
    (heartbeat / 2).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// What the freeze phase is run with.
pub struct Plan {
    pub pairs: usize,
    /// Relays per second, all senders together.
    pub rate: f64,
    pub freeze: Duration,
}

/// One frozen node's round.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FreezeRound {
    pub node: String,
    pub node_heartbeat_ms: u64,
    pub node_timeout_ms: u64,
    pub pairs: usize,
    pub rate: f64,
    /// From the SIGSTOP to the SIGCONT, as sent.
    pub frozen_ms: i64,
    /// Every relay by the window it was sent in (times from the SIGSTOP).
    pub counts: FreezeCounts,
    pub acked_then_lost: u64,
    /// Relays a member got from someone else than its sender.
    pub misrouted: u64,
    /// `rejoined`, `reaped` or `mixed` (some members each way).
    pub outcome: String,
    /// Members still connected at the end whose peers heard no `peer:left`.
    pub members_kept: usize,
    /// Members whose peers were told `peer:left`.
    pub members_reported_left: usize,
    /// Members whose socket the frozen node closed.
    pub members_disconnected: usize,
    /// When the peers heard `peer:left`, first and last (ms from the SIGSTOP).
    pub peer_left_ms: Option<(i64, i64)>,
    /// When the members' sockets were closed, first and last.
    pub disconnected_ms: Option<(i64, i64)>,
    pub failed_pairs: usize,
    pub first_error: Option<String>,
    /// No pair failed, nothing stray, misrouted or out of order.
    pub ok: bool,
}

/// One room's end: the sender's tally and what the member went through.
struct PairEnd {
    tally: Tally,
    misrouted: u64,
    peer_left_ms: Option<i64>,
    closed_ms: Option<i64>,
}

/// The times of a round, shared by its pairs.
#[derive(Clone, Copy)]
struct Times {
    /// The clock of every `*_ms`: the planned SIGSTOP.
    zero: Instant,
    start: Instant,
    stop_sending: Instant,
    end: Instant,
}

impl Times {
    fn ms(&self, t: Instant) -> i64 {
        if t >= self.zero {
            (t - self.zero).as_millis() as i64
        } else {
            -((self.zero - t).as_millis() as i64)
        }
    }
}

/// Resumes the frozen node however the round ends.
struct Stopped(u32);

impl Stopped {
    fn stop(pid: u32) -> Result<Stopped> {
        signal(pid, libc::SIGSTOP)?;
        Ok(Stopped(pid))
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = signal(self.0, libc::SIGCONT);
    }
}

fn signal(pid: u32, sig: i32) -> Result<()> {
    // SAFETY: kill(2) on a pid we started; no memory is shared.
    if unsafe { libc::kill(pid as i32, sig) } != 0 {
        return Err(anyhow!(
            "kill({pid}, {sig}): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// One round: rooms of 2 with the member on `node` and the sender on one of
/// `senders` (in turn), relays for 1 s, the freeze, 1 s more of relays after
/// the resume, then the wait for the outcome.
pub async fn round(
    ctx: &Ctx,
    senders: &[Clients],
    node: &FrozenNode,
    round: usize,
    plan: &Plan,
) -> Result<FreezeRound> {
    let proc = ctx
        .target
        .procs
        .iter()
        .find(|p| p.name == node.name)
        .ok_or_else(|| anyhow!("no {} node", node.name))?;
    let (pid, frozen) = (proc.pid, ctx.clients.at(proc.addr));
    let mut rooms = Vec::with_capacity(plan.pairs);
    for i in 0..plan.pairs {
        let s = senders[i % senders.len()].connect(2 * i).await?;
        let m = frozen.connect(2 * i + 1).await?;
        rooms.push((i, s, m));
    }
    let pairs = into_rooms(rooms, &format!("freeze{round}x")).await?;
    let (beat, timeout) = node.liveness();
    let lead = Duration::from_secs(1);
    let start = Instant::now() + Duration::from_millis(200);
    let zero = start + lead;
    let resume_at = zero + plan.freeze;
    let settle = timeout + sweep_every(beat) + Duration::from_secs(1);
    let t = Times {
        zero,
        start,
        stop_sending: resume_at + lead,
        end: resume_at + settle.max(lead),
    };
    let n = pairs.len();
    let iv = Duration::from_secs_f64(n as f64 / plan.rate);
    let mut js = JoinSet::new();
    for (i, (s, m)) in pairs.into_iter().enumerate() {
        let first = start + iv.mul_f64(i as f64 / n as f64);
        js.spawn(pair_task(s, m, t, first, iv));
    }
    sleep_until(zero.into()).await;
    let stopped = Stopped::stop(pid)?;
    let stop_ms = t.ms(Instant::now());
    sleep_until(resume_at.into()).await;
    drop(stopped);
    let resume_ms = t.ms(Instant::now());
    let mut r = FreezeRound {
        node: node.name.to_owned(),
        node_heartbeat_ms: beat.as_millis() as u64,
        node_timeout_ms: timeout.as_millis() as u64,
        pairs: n,
        rate: plan.rate,
        frozen_ms: resume_ms - stop_ms,
        counts: FreezeCounts::default(),
        acked_then_lost: 0,
        misrouted: 0,
        outcome: String::new(),
        members_kept: 0,
        members_reported_left: 0,
        members_disconnected: 0,
        peer_left_ms: None,
        disconnected_ms: None,
        failed_pairs: 0,
        first_error: None,
        ok: false,
    };
    let mut failed = Failures::default();
    let span = |acc: &mut Option<(i64, i64)>, ms: i64| {
        *acc = Some(acc.map_or((ms, ms), |(a, b)| (a.min(ms), b.max(ms))));
    };
    while let Some(end) = js.join_next().await {
        let end = match end {
            Ok(Ok(end)) => end,
            Ok(Err(e)) => {
                failed.add(format_args!("{e:#}"));
                continue;
            }
            Err(e) => {
                failed.add(e);
                continue;
            }
        };
        r.counts.absorb(&end.tally.counts(stop_ms, resume_ms));
        r.misrouted += end.misrouted;
        if let Some(ms) = end.peer_left_ms {
            r.members_reported_left += 1;
            span(&mut r.peer_left_ms, ms - stop_ms);
        }
        if let Some(ms) = end.closed_ms {
            r.members_disconnected += 1;
            span(&mut r.disconnected_ms, ms - stop_ms);
        }
        if end.peer_left_ms.is_none() && end.closed_ms.is_none() {
            r.members_kept += 1;
        }
    }
    r.acked_then_lost = r.counts.acked_then_lost();
    r.outcome = match (r.members_kept, r.members_reported_left) {
        (k, 0) if k == n => "rejoined",
        (0, l) if l == n => "reaped",
        _ => "mixed",
    }
    .to_owned();
    r.failed_pairs = failed.count;
    r.first_error = failed.first;
    r.ok = r.failed_pairs == 0
        && r.misrouted == 0
        && r.counts.stray == 0
        && r.counts.out_of_order == 0;
    Ok(r)
}

/// The sender `s` relays acked offers to the member `m` every `iv` from
/// `first` until `t.stop_sending`; both are read until `t.end`. The member's
/// socket closing is an outcome, not a failure.
async fn pair_task(
    mut s: Conn,
    mut m: Conn,
    t: Times,
    first: Instant,
    iv: Duration,
) -> Result<PairEnd> {
    // `42<id>` + this + `<id>"}}]`: the ack id is the relay's sequence number.
    let body = format!(
        r#"["webrtc:offer",{{"targetPeerId":"{}","offer":{{"type":"offer","sdp":"v=0 bench "#,
        m.sid
    );
    let (sid_s, sid_m) = (s.sid.clone().into_bytes(), m.sid.clone().into_bytes());
    let mut end = PairEnd {
        tally: Tally::default(),
        misrouted: 0,
        peer_left_ms: None,
        closed_ms: None,
    };
    let mut next = first;
    sleep_until(t.start.into()).await;
    loop {
        let now = Instant::now();
        if now < t.stop_sending {
            while next <= now {
                let id = end.tally.next_id();
                s.push_fmt(format_args!("42{id}{body}{id}\"}}}}]"));
                end.tally.sent(id, t.ms(now));
                next += iv;
            }
        }
        s.flush().await?;
        if end.closed_ms.is_none() && m.flush().await.is_err() {
            end.closed_ms = Some(t.ms(now));
        }
        if now >= t.end {
            break;
        }
        let wake = if now < t.stop_sending {
            next.min(t.stop_sending)
        } else {
            t.end
        };
        let open = end.closed_ms.is_none();
        tokio::select! {
            r = s.read_more() => {
                r?;
                while let Some(rg) = s.next_text()? {
                    on_sender_text(s.text(rg), &sid_m, &t, &mut end);
                }
            }
            r = m.read_more(), if open => {
                let mut closed = r.is_err();
                while !closed {
                    match m.next_text() {
                        Ok(Some(rg)) => closed = on_member_text(m.text(rg), &sid_s, &mut end),
                        Ok(None) => break,
                        Err(_) => closed = true,
                    }
                }
                if closed {
                    end.closed_ms = Some(t.ms(Instant::now()));
                }
            }
            _ = sleep_until(wake.into()) => {}
        }
    }
    Ok(end)
}

/// An ack, or `peer:left` for the member; the `error` events that come with
/// refusals are counted from their acks.
fn on_sender_text(text: &[u8], member: &[u8], t: &Times, end: &mut PairEnd) {
    if let Some((id, answer)) = parse_ack(text) {
        end.tally.answered(id, answer);
    } else if text.starts_with(br#"42["peer:left""#)
        && extract_str(text, br#""peerId":""#) == Some(member)
        && end.peer_left_ms.is_none()
    {
        end.peer_left_ms = Some(t.ms(Instant::now()));
    }
}

/// A relay from the sender (its sequence number after `bench `); `true`
/// when the server disconnected the member (`41`).
fn on_member_text(text: &[u8], sender: &[u8], end: &mut PairEnd) -> bool {
    if text.starts_with(b"41") {
        return true;
    }
    if !text.starts_with(br#"42["webrtc:offer","#) {
        return false;
    }
    let seq = find(text, b"v=0 bench ").and_then(|p| {
        let rest = &text[p + 10..];
        let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        parse_u64(&rest[..n])
    });
    match seq {
        Some(seq) if extract_str(text, br#""fromPeerId":""#) == Some(sender) => {
            end.tally.delivered(seq)
        }
        _ => end.misrouted += 1,
    }
    false
}
