//! One soak socket: its life, and the judging of what arrives at it.
//!
//! One soak socket's life, over and over until the deadline: connect, join a
//! few rooms in turn (relaying to the room's peers while in each), then leave
//! and close, or close without leaving; reconnect.
//!
//! Every packet that arrives is judged against the [`Ledger`].

mod judge;
mod packets;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::time::{sleep, sleep_until};

use super::ledger::{Ledger, Pick};
use crate::scen::Clients;
use crate::ws::Conn;
use packets::In;

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
pub async fn life(i: usize, clients: Clients, ledger: Arc<Mutex<Ledger>>, plan: Plan) -> Latencies {
    let mut rng = SmallRng::seed_from_u64(i as u64);
    let mut lat = Latencies::default();
    // Spread the first connects over a second.
    sleep(Duration::from_millis(rng.random_range(0..1000))).await;
    while Instant::now() < plan.deadline {
        let t0 = Instant::now();
        let conn = match clients.connect(i).await {
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
        let mut s = Sock::new(conn, &clients, &ledger, &plan, &mut rng, &mut lat);
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
        clients: &Clients,
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
            base: clients.base,
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
}
