//! One soak socket's life, over and over until the deadline: connect, join a
//! few rooms in turn (relaying to the room's peers while in each), then leave
//! and close, or close without leaving; reconnect.
//!
//! Every packet that arrives is judged against the [`Ledger`].

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::Value;
use tokio::time::{sleep, sleep_until};

use super::ledger::{Ledger, Pick};
use crate::scen::Ctx;
use crate::ws::{Conn, parse_u64};

/// How long any answer may take.
const ANSWER: Duration = Duration::from_secs(10);

/// What every socket of the run does.
#[derive(Clone)]
pub struct Plan {
    /// Between two relays of one socket (while it has peers).
    pub relay_every: Duration,
    pub dwell_ms: (u64, u64),
    /// Rooms per connection, 1..=this.
    pub rooms_per_connection: u32,
    /// Share of connections that end without `leave:room`.
    pub drop_share: f64,
    pub deadline: Instant,
    /// Latencies count from here (after the warm-up).
    pub measure_from: Instant,
}

/// Latencies of one socket, nanoseconds.
#[derive(Default)]
pub struct Latencies {
    pub relay: Vec<u64>,
    pub join: Vec<u64>,
    pub connect: Vec<u64>,
}

/// Runs socket `i` until the deadline; what goes wrong is counted in the ledger.
pub async fn life(i: usize, ctx: Ctx, ledger: Arc<Mutex<Ledger>>, plan: Plan) -> Latencies {
    let mut rng = SmallRng::seed_from_u64(i as u64);
    let mut lat = Latencies::default();
    // Spread the first connects over a second.
    sleep(Duration::from_millis(rng.random_range(0..1000))).await;
    while Instant::now() < plan.deadline {
        let t0 = Instant::now();
        let conn = match ctx.connect(i).await {
            Ok(c) => c,
            Err(e) => {
                lock(&ledger).error(format!("socket {i}: connect: {e:#}"));
                sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        if t0 >= plan.measure_from {
            lat.connect.push(t0.elapsed().as_nanos() as u64);
        }
        let mut s = Sock::new(conn, &ctx, &ledger, &plan, &mut rng, &mut lat);
        if let Err(e) = s.connection().await {
            let sid = s.sid.clone();
            drop(s);
            let mut l = lock(&ledger);
            l.error(format!("socket {i} ({sid}): {e:#}"));
            l.closed(&sid, Instant::now());
        }
    }
    lat
}

fn lock(l: &Mutex<Ledger>) -> MutexGuard<'_, Ledger> {
    // A panic elsewhere cannot leave the ledger half-updated in a way that
    // matters more than the panic itself.
    l.lock().unwrap_or_else(|e| e.into_inner())
}

/// What a wait is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    None,
    Created,
    Joined,
    Full,
    Left,
}

struct Sock<'a> {
    conn: Conn,
    sid: String,
    ledger: &'a Mutex<Ledger>,
    plan: &'a Plan,
    base: Instant,
    rng: &'a mut SmallRng,
    lat: &'a mut Latencies,
    /// The room `room:joined` put us in, until `room:left`.
    room: Option<String>,
    /// The room asked for.
    joining: Option<String>,
    leave_sent: Instant,
    /// The peers we were told are in our room.
    view: HashSet<String>,
    /// Our relays awaiting the server's ack: ack id → relay id.
    acks: HashMap<u64, u64>,
    next_ack: u64,
    /// The last relay id from each sender (relays from one sender arrive in order).
    last_from: HashMap<String, u64>,
    answer: Answer,
}

impl<'a> Sock<'a> {
    fn new(
        conn: Conn,
        ctx: &Ctx,
        ledger: &'a Mutex<Ledger>,
        plan: &'a Plan,
        rng: &'a mut SmallRng,
        lat: &'a mut Latencies,
    ) -> Self {
        let sid = conn.sid.clone();
        lock(ledger).connected(&sid);
        Sock {
            conn,
            sid,
            ledger,
            plan,
            base: ctx.base,
            rng,
            lat,
            room: None,
            joining: None,
            leave_sent: Instant::now(),
            view: HashSet::new(),
            acks: HashMap::new(),
            next_ack: 0,
            last_from: HashMap::new(),
            answer: Answer::None,
        }
    }

    fn ledger(&self) -> MutexGuard<'a, Ledger> {
        lock(self.ledger)
    }

    /// One connection: a few rooms, then a graceful or an abrupt end.
    async fn connection(&mut self) -> Result<()> {
        self.drain()?;
        let rooms = self.rng.random_range(1..=self.plan.rooms_per_connection);
        let abrupt = self.rng.random_bool(self.plan.drop_share);
        for k in 0..rooms {
            if Instant::now() >= self.plan.deadline {
                break;
            }
            if !self.enter().await? {
                continue;
            }
            let dwell = self
                .rng
                .random_range(self.plan.dwell_ms.0..=self.plan.dwell_ms.1);
            let until = (Instant::now() + Duration::from_millis(dwell)).min(self.plan.deadline);
            self.dwell(until).await?;
            self.wait("answers to our relays", |s| s.acks.is_empty())
                .await?;
            let last = k + 1 == rooms || Instant::now() >= self.plan.deadline;
            if last && abrupt && Instant::now() < self.plan.deadline {
                return self.drop_out().await;
            }
            self.leave().await?;
        }
        self.ledger().closed(&self.sid, Instant::now());
        Ok(())
    }

    /// Picks a room (creating it when the slot needs a new one) and joins
    /// it; `false` when it was full.
    async fn enter(&mut self) -> Result<bool> {
        let code = loop {
            let pick = {
                let mut l = lock(self.ledger);
                l.pick(self.rng, Instant::now())
            };
            match pick {
                Pick::Join(code) => break code,
                Pick::Create(slot, code) => {
                    self.answer = Answer::None;
                    self.conn.push_fmt(format_args!(
                        r#"42["create:room",{{"roomCode":"{code}","maxPeers":10}}]"#
                    ));
                    if let Err(e) = self
                        .wait("room:created", |s| s.answer == Answer::Created)
                        .await
                    {
                        self.ledger().create_failed(slot);
                        return Err(e);
                    }
                    self.ledger().created(slot, &code, Instant::now());
                    break code;
                }
                Pick::Wait => {
                    self.pump(Instant::now() + Duration::from_millis(20))
                        .await?
                }
            }
        };
        let t0 = Instant::now();
        self.ledger().join_sent(&self.sid, &code, t0);
        self.joining = Some(code.clone());
        self.answer = Answer::None;
        self.conn
            .push_fmt(format_args!(r#"42["join:room",{{"roomCode":"{code}"}}]"#));
        self.wait("room:joined", |s| {
            matches!(s.answer, Answer::Joined | Answer::Full)
        })
        .await?;
        self.joining = None;
        if self.answer == Answer::Full {
            return Ok(false);
        }
        if t0 >= self.plan.measure_from {
            self.lat.join.push(t0.elapsed().as_nanos() as u64);
        }
        Ok(true)
    }

    async fn dwell(&mut self, until: Instant) -> Result<()> {
        let every = self.plan.relay_every;
        let mut next = Instant::now() + every.mul_f64(self.rng.random::<f64>());
        loop {
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            if now >= next {
                self.relay();
                next = (next + every).max(now);
            }
            self.pump(next.min(until)).await?;
        }
    }

    /// Sends one relay to a random peer of the room, if there is one to send to.
    fn relay(&mut self) {
        let Some(room) = self.room.clone() else {
            return;
        };
        let mut l = lock(self.ledger);
        let targets: Vec<&String> = self.view.iter().filter(|p| l.may_send_to(p)).collect();
        if targets.is_empty() {
            return;
        }
        let to = targets[self.rng.random_range(0..targets.len())].clone();
        let id = l.sent(&self.sid, &to, &room, Instant::now());
        drop(l);
        let ack = self.next_ack;
        self.next_ack += 1;
        self.acks.insert(ack, id);
        let ts = self.base.elapsed().as_nanos() as u64;
        self.conn.push_fmt(format_args!(
            r#"42{ack}["webrtc:ice",{{"targetPeerId":"{to}","candidate":"candidate:soak {id} {ts} {room}"}}]"#
        ));
    }

    async fn leave(&mut self) -> Result<()> {
        let Some(code) = self.room.clone() else {
            return Ok(());
        };
        self.leave_sent = Instant::now();
        self.ledger().leave_sent(&self.sid, &code, self.leave_sent);
        self.answer = Answer::None;
        self.conn.push_text(b"42[\"leave:room\"]");
        self.wait("room:left", |s| s.answer == Answer::Left).await
    }

    /// Closes without leaving, once nothing sent to us can still arrive.
    async fn drop_out(&mut self) -> Result<()> {
        self.ledger().closing(&self.sid);
        // Bounded: what never arrives is counted lost at the end.
        let _ = self
            .wait("relays to us", |s| s.ledger().inbound_open(&s.sid) == 0)
            .await;
        self.conn.flush().await?;
        self.ledger().closed(&self.sid, Instant::now());
        Ok(())
    }

    /// Reads and handles packets until `done`, at most [`ANSWER`].
    async fn wait(&mut self, what: &str, done: impl Fn(&Self) -> bool) -> Result<()> {
        let limit = Instant::now() + ANSWER;
        while !done(self) {
            if Instant::now() >= limit {
                bail!("no {what} within {ANSWER:?}");
            }
            self.pump(limit).await?;
        }
        Ok(())
    }

    /// Writes what is queued, then handles what arrives until `wake`.
    async fn pump(&mut self, wake: Instant) -> Result<()> {
        self.conn.flush().await?;
        tokio::select! {
            r = self.conn.read_more() => {
                r?;
                self.drain()?;
            }
            _ = sleep_until(wake.into()) => {}
        }
        Ok(())
    }

    fn drain(&mut self) -> Result<()> {
        while let Some(r) = self.conn.next_text()? {
            let packet = In::parse(self.conn.text(r));
            self.on(packet?)?;
        }
        Ok(())
    }

    fn on(&mut self, packet: In) -> Result<()> {
        let now = Instant::now();
        match packet {
            In::Relay(r) => self.on_relay(r),
            In::PeerJoined(peer) => {
                if !self.about_my_room(&peer) {
                    self.ledger().tally.cross_room += 1;
                } else if !self.view.insert(peer) {
                    self.ledger().tally.room_view_errors += 1;
                }
            }
            In::PeerLeft(peer) => {
                if !self.about_my_room(&peer) {
                    self.ledger().tally.cross_room += 1;
                } else if !self.view.remove(&peer) {
                    self.ledger().tally.room_view_errors += 1;
                }
            }
            In::RoomJoined {
                code,
                peer_id,
                peers,
            } => {
                let Some(asked) = self.joining.clone() else {
                    bail!("room:joined for {code} without a join");
                };
                if !code.eq_ignore_ascii_case(&asked) || peer_id != self.sid {
                    bail!(
                        "room:joined for {code} as {peer_id}, asked {asked} as {}",
                        self.sid
                    );
                }
                let mut l = lock(self.ledger);
                l.joined(&self.sid, &asked, now);
                let strangers = peers
                    .iter()
                    .filter(|p| **p == self.sid || !l.was_in(p, &asked))
                    .count();
                l.tally.cross_room += strangers as u64;
                drop(l);
                self.view = peers.into_iter().collect();
                self.room = Some(asked);
                self.answer = Answer::Joined;
            }
            In::RoomLeft { room_id } => {
                let Some(code) = self.room.take() else {
                    bail!("room:left ({room_id}) outside a room");
                };
                if room_id != format!("room_{}", code.to_lowercase()) {
                    bail!("room:left names {room_id}, we were in {code}");
                }
                let view = std::mem::take(&mut self.view);
                let mut l = lock(self.ledger);
                l.check_view(&self.sid, &code, &view, self.leave_sent, now);
                l.left(&self.sid, &code, now);
                self.answer = Answer::Left;
            }
            In::RoomCreated => self.answer = Answer::Created,
            In::Error { code, event } => match (code.as_str(), event.as_deref()) {
                // Relays are judged by their acks.
                (_, Some("webrtc:ice")) => {}
                ("ROOM_FULL", Some("join:room")) if self.joining.is_some() => {
                    if let Some(asked) = &self.joining {
                        self.ledger().join_refused(&self.sid, asked, now);
                    }
                    self.answer = Answer::Full;
                }
                _ => bail!("error event {code} on {event:?}"),
            },
            In::Ack { id, ok, code } => {
                let Some(msg) = self.acks.remove(&id) else {
                    bail!("ack {id} for nothing we sent");
                };
                let mut l = lock(self.ledger);
                match (ok, code.as_deref()) {
                    (true, _) => l.acked(msg, true, false),
                    (false, Some("PEER_NOT_FOUND")) => {
                        let explained = l.refusal_explained(msg);
                        l.acked(msg, false, explained);
                    }
                    _ => {
                        l.acked(msg, false, true);
                        l.error(format!("relay refused with {code:?}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a peer event is about a socket that was in our room.
    fn about_my_room(&self, peer: &str) -> bool {
        match &self.room {
            Some(code) => peer != self.sid && self.ledger().was_in(peer, code),
            None => false,
        }
    }

    fn on_relay(&mut self, r: RelayIn) {
        let now_ns = self.base.elapsed().as_nanos() as u64;
        let mut l = lock(self.ledger);
        let Some((id, ts)) = r.id_and_time() else {
            l.tally.misrouted += 1;
            return;
        };
        let last = self.last_from.insert(r.from_peer_id.clone(), id);
        if last.is_some_and(|last| last >= id) {
            l.tally.out_of_order += 1;
        }
        let delivered = l.received(
            id,
            &self.sid,
            self.room.as_deref(),
            &r.from_peer_id,
            &r.target_peer_id,
        );
        if delivered && Instant::now() >= self.plan.measure_from {
            self.lat.relay.push(now_ns.saturating_sub(ts));
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RelayIn {
    from_peer_id: String,
    target_peer_id: String,
    candidate: String,
}

impl RelayIn {
    /// `candidate:soak <id> <send time, ns> <room>`
    fn id_and_time(&self) -> Option<(u64, u64)> {
        let mut w = self.candidate.strip_prefix("candidate:soak ")?.split(' ');
        let id = parse_u64(w.next()?.as_bytes())?;
        let ts = parse_u64(w.next()?.as_bytes())?;
        Some((id, ts))
    }
}

/// The packets a soak socket expects.
#[derive(Debug)]
enum In {
    Relay(RelayIn),
    PeerJoined(String),
    PeerLeft(String),
    RoomJoined {
        code: String,
        peer_id: String,
        peers: Vec<String>,
    },
    RoomLeft {
        room_id: String,
    },
    RoomCreated,
    Error {
        code: String,
        event: Option<String>,
    },
    Ack {
        id: u64,
        ok: bool,
        code: Option<String>,
    },
}

impl std::fmt::Debug for RelayIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} → {}: {}",
            self.from_peer_id, self.target_peer_id, self.candidate
        )
    }
}

impl In {
    fn parse(t: &[u8]) -> Result<In> {
        let show = || String::from_utf8_lossy(t).into_owned();
        if let Some(rest) = t.strip_prefix(b"43") {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let id =
                parse_u64(&rest[..digits]).ok_or_else(|| anyhow!("ack without id: {}", show()))?;
            let body: Vec<Value> = serde_json::from_slice(&rest[digits..])
                .with_context(|| format!("ack: {}", show()))?;
            let first = body.first().unwrap_or(&Value::Null);
            return Ok(In::Ack {
                id,
                ok: first["ok"] == Value::Bool(true),
                code: first["error"]["code"].as_str().map(str::to_owned),
            });
        }
        let Some(rest) = t.strip_prefix(b"42") else {
            bail!("unexpected packet: {}", show());
        };
        let mut body: Vec<Value> =
            serde_json::from_slice(rest).with_context(|| format!("event: {}", show()))?;
        let payload = if body.len() > 1 {
            body.swap_remove(1)
        } else {
            Value::Null
        };
        let name = body.first().and_then(Value::as_str).unwrap_or_default();
        let field = |k: &str| -> Result<String> {
            payload[k]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("{name} without {k}: {}", show()))
        };
        Ok(match name {
            "webrtc:ice" => In::Relay(
                serde_json::from_value(payload.clone())
                    .with_context(|| format!("relay: {}", show()))?,
            ),
            "peer:joined" => In::PeerJoined(field("peerId")?),
            "peer:left" => In::PeerLeft(field("peerId")?),
            "room:joined" => In::RoomJoined {
                code: field("roomCode")?,
                peer_id: field("peerId")?,
                peers: payload["peers"]
                    .as_array()
                    .ok_or_else(|| anyhow!("room:joined without peers: {}", show()))?
                    .iter()
                    .map(|p| p["id"].as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(|| anyhow!("a peer without id: {}", show()))?,
            },
            "room:left" => In::RoomLeft {
                room_id: field("roomId")?,
            },
            "room:created" => In::RoomCreated,
            "error" => In::Error {
                code: field("code")?,
                event: payload["event"].as_str().map(str::to_owned),
            },
            _ => bail!("unexpected event: {}", show()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_parse_into_what_the_soak_judges() {
        let p = In::parse(br#"42["room:joined",{"roomId":"room_a","roomCode":"A","peerId":"me","peers":[{"id":"x","userInfo":{}},{"id":"y"}],"iceServers":[]}]"#).unwrap();
        assert!(
            matches!(p, In::RoomJoined { ref code, ref peer_id, ref peers } if code == "A" && peer_id == "me" && peers == &["x", "y"])
        );
        let p = In::parse(br#"43"7"[{"ok":true}]"#);
        assert!(p.is_err(), "an ack id is digits");
        let p = In::parse(br#"437[{"ok":true}]"#).unwrap();
        assert!(matches!(
            p,
            In::Ack {
                id: 7,
                ok: true,
                code: None
            }
        ));
        let p = In::parse(
            br#"4312[{"error":{"code":"PEER_NOT_FOUND","message":"Target peer not found"}}]"#,
        )
        .unwrap();
        assert!(
            matches!(p, In::Ack { id: 12, ok: false, code: Some(ref c) } if c == "PEER_NOT_FOUND")
        );
        let p = In::parse(br#"42["webrtc:ice",{"fromPeerId":"a","targetPeerId":"b","candidate":"candidate:soak 5 123 r"}]"#).unwrap();
        let In::Relay(r) = p else { panic!("{p:?}") };
        assert_eq!(r.id_and_time(), Some((5, 123)));
        let p = In::parse(br#"42["error",{"code":"ROOM_FULL","message":"Room is full","status":"error","event":"join:room"}]"#).unwrap();
        assert!(
            matches!(p, In::Error { ref code, event: Some(ref e) } if code == "ROOM_FULL" && e == "join:room")
        );
        assert!(
            matches!(In::parse(br#"42["peer:left",{"peerId":"z"}]"#).unwrap(), In::PeerLeft(ref z) if z == "z")
        );
        assert!(In::parse(br#"42["media:state_changed",{}]"#).is_err());
        assert!(In::parse(br#"42["peer:joined",{}]"#).is_err());
        assert!(In::parse(b"41").is_err());
    }
}
