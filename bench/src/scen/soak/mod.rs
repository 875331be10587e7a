//! The soak scenario: churn for a set time, judged delivery by delivery.
//!
//! Soak: sockets joining, leaving, reconnecting and relaying for a set time,
//! with zero lost, misrouted or cross-room deliveries and flat memory.
//!
//! `sockets` sockets each loop: connect, join 1..=3 rooms in turn (rooms of
//! up to 10, from `rooms` slots whose room is replaced every `rotate_secs`, so
//! rooms are created and expire all along; the servers run with a short
//! `ROOM_TTL`), relay `webrtc:ice` with acks to random peers of the room
//! while in it, then leave and close, or close without leaving
//! (`drop_percent`), and reconnect at once. The [`ledger`] judges every
//! delivery; the server's RSS, open files and CPU are sampled every second.
//!
//! Flat RSS: after `warmup_secs`, the least-squares slope of RSS over time
//! and the highest RSS minus the RSS at the end of the warm-up (the mean of
//! its last 5 s) both stay under their bounds.

mod ledger;
mod memory;
mod peer;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::sleep;

use ledger::Ledger;
pub use ledger::Tally;
use memory::sample;
pub use memory::{Rss, Sample};
use peer::{Latencies, Plan};

use super::{Ctx, Scenario};
use crate::results::{Latency, Outcome, Run};
use crate::server::{Kind, Setup, Spec};
use crate::stats::round3;

#[derive(Clone, Debug, clap::Args, Serialize, Deserialize)]
#[group(id = "soak")]
#[command(next_help_heading = "Soak")]
pub struct Params {
    /// Length of the soak, warm-up included.
    #[arg(id = "soak_secs", long = "soak-secs", default_value_t = 600.0)]
    pub secs: f64,
    /// First part of the soak left out of the memory verdict and the rates.
    #[arg(long = "soak-warmup-secs", default_value_t = 60.0)]
    pub warmup_secs: f64,
    #[arg(id = "soak_sockets", long = "soak-sockets", default_value_t = 200)]
    pub sockets: usize,
    /// Room slots the sockets spread over (rooms hold 10).
    #[arg(long = "soak-rooms", default_value_t = 40)]
    pub rooms: usize,
    /// Relays per second offered by all sockets together (each socket sends
    /// its share while it has peers).
    #[arg(
        id = "soak_relay_rate",
        long = "soak-relay-rate",
        default_value_t = 1_000.0
    )]
    pub relay_rate: f64,
    #[arg(long = "soak-dwell-min-ms", default_value_t = 500)]
    pub dwell_min_ms: u64,
    #[arg(long = "soak-dwell-max-ms", default_value_t = 3_000)]
    pub dwell_max_ms: u64,
    /// Rooms joined per connection: 1 to this.
    #[arg(long = "soak-rooms-per-connection", default_value_t = 3)]
    pub rooms_per_connection: u32,
    /// Share of connections, in percent, that close without `leave:room`.
    #[arg(long = "soak-drop-percent", default_value_t = 30.0)]
    pub drop_percent: f64,
    /// A slot's room is replaced by a new one after this long.
    #[arg(long = "soak-rotate-secs", default_value_t = 10.0)]
    pub rotate_secs: f64,
    /// `ROOM_TTL` of the servers during the soak.
    #[arg(long = "soak-room-ttl-secs", default_value_t = 5)]
    pub room_ttl_secs: u64,
    /// Bound on the highest RSS after the warm-up minus the RSS at its end.
    #[arg(long = "soak-max-growth-mb", default_value_t = 8.0)]
    pub max_growth_mb: f64,
    /// Bound on the RSS slope after the warm-up.
    #[arg(long = "soak-max-slope-mb-per-hour", default_value_t = 30.0)]
    pub max_slope_mb_per_hour: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Soak {
    pub secs: f64,
    /// The window the rates and CPU figures are over (after the warm-up).
    pub measured_secs: f64,
    pub tally: Tally,
    pub first_error: Option<String>,
    /// Requests handled per second (handshakes, creates, joins, leaves,
    /// closes, relays) and the server's CPU per request.
    pub ops_per_s: f64,
    pub server_cpu_us_per_op: f64,
    pub connects_per_s: f64,
    pub joins_per_s: f64,
    pub relays_per_s: f64,
    pub server_cpu_util: f64,
    /// The generator's CPU use (cores): near 1, it is what saturates.
    pub bench_cpu_util: f64,
    pub relay_latency: Latency,
    pub join_latency: Latency,
    pub connect_latency: Latency,
    pub rss: Rss,
    /// Server's open files before the first socket and after the last closed.
    pub fds_before: u64,
    pub fds_after: u64,
    pub server_alive: bool,
    pub samples: Vec<Sample>,
}

impl Soak {
    /// Open files the server kept after every socket closed (a few of
    /// slack for the runtime's own).
    pub fn fds_leaked(&self) -> bool {
        self.fds_after > self.fds_before + 2
    }
}

impl Outcome for Soak {
    fn ok(&self) -> bool {
        self.tally.violations() == 0
            && self.tally.relays_delivered > 0
            && self.tally.joins > 0
            && self.rss.flat
            && !self.fds_leaked()
            && self.server_alive
    }

    fn failure(&self) -> Option<String> {
        let t = &self.tally;
        let mut why = Vec::new();
        if t.violations() > 0 {
            why.push(format!(
                "{} ({})",
                t.violations_line(", ", |v| v.long),
                self.first_error.as_deref().unwrap_or("-")
            ));
        }
        if !self.rss.flat {
            why.push(format!(
                "RSS not flat: growth {} KB (bound {}), slope {} KB/min (bound {})",
                self.rss.growth_kb,
                self.rss.max_growth_kb,
                self.rss.slope_kb_per_min,
                self.rss.max_slope_kb_per_min
            ));
        }
        if self.fds_leaked() {
            why.push(format!(
                "open files {} before, {} after every socket closed",
                self.fds_before, self.fds_after
            ));
        }
        if t.relays_delivered == 0 || t.joins == 0 {
            why.push("no relay or no join happened".into());
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

impl Scenario for Params {
    const NAME: &'static str = "soak";
    type Outcome = Soak;

    fn tokens(&self) -> usize {
        self.sockets
    }

    fn reps(&self, _: usize) -> usize {
        1
    }

    fn processes(&self, setup: &Setup, kind: Kind) -> Result<Vec<Spec>> {
        Ok(vec![
            setup
                .server(kind)
                .env("ROOM_TTL", format!("{}s", self.room_ttl_secs)),
        ])
    }

    fn time_limit(&self) -> Duration {
        Duration::from_secs_f64(self.secs + 120.0)
    }

    async fn run(&self, ctx: &mut Ctx) -> Result<Soak> {
        soak(ctx, self).await
    }

    fn summary(run: &Run<Soak>) -> Option<String> {
        Some(run.line(Self::NAME, figures))
    }
}

/// The console line's figures.
fn figures(r: &Soak) -> String {
    let t = &r.tally;
    format!(
        "{} s: {} connects, {} joins, {} leaves, {} drops, {} rooms created, {} relays delivered ({} refused: target leaving) | {} | RSS {} → max {} MB, growth {} KB, slope {} KB/min ({}) | fds {} → {} | {} ops/s, server {} µs/op ({} cores), generator {} cores{}",
        r.secs,
        t.connects,
        t.joins,
        t.leaves,
        t.drops,
        t.creates,
        t.relays_delivered,
        t.relays_refused,
        t.violations_line(" ", |v| v.short),
        r.rss.warm_kb / 1024,
        r.rss.max_kb / 1024,
        r.rss.growth_kb,
        r.rss.slope_kb_per_min,
        if r.rss.flat { "flat" } else { "NOT flat" },
        r.fds_before,
        r.fds_after,
        r.ops_per_s,
        r.server_cpu_us_per_op,
        r.server_cpu_util,
        r.bench_cpu_util,
        r.first_error
            .as_deref()
            .map(|e| format!(" | first error: {e}"))
            .unwrap_or_default(),
    )
}

async fn soak(ctx: &mut Ctx, p: &Params) -> Result<Soak> {
    let pids: Vec<u32> = ctx.target.servers().map(|s| s.pid).collect();
    let fds_before = ctx.target.open_fds();
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(p.secs);
    let measure_from = start + Duration::from_secs_f64(p.warmup_secs.min(p.secs));
    let ledger = Arc::new(Mutex::new(Ledger::new(
        p.rooms,
        Duration::from_secs_f64(p.rotate_secs),
        start,
    )));
    let plan = Plan {
        relay_every: Duration::from_secs_f64(p.sockets as f64 / p.relay_rate.max(1e-3)),
        dwell_ms: (p.dwell_min_ms, p.dwell_max_ms.max(p.dwell_min_ms)),
        rooms_per_connection: p.rooms_per_connection.max(1),
        drop_share: (p.drop_percent / 100.0).clamp(0.0, 1.0),
        deadline,
        measure_from,
    };
    let mut js = JoinSet::new();
    for i in 0..p.sockets {
        js.spawn(peer::life(
            i,
            ctx.clients.clone(),
            ledger.clone(),
            plan.clone(),
        ));
    }
    // Sample every second while the sockets run.
    let mut samples = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut lat = Latencies::default();
    let mut alive = true;
    let warm_s = p.warmup_secs.min(p.secs);
    // The counts at the first and the latest sample after the warm-up.
    let mut window: Option<((Sample, Tally), (Sample, Tally))> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let tally = ledger.lock().map(|l| l.tally.clone()).unwrap_or_default();
                let s = sample(&pids, start, tally.ops());
                if s.t_s >= warm_s {
                    let now = (s.clone(), tally);
                    window = Some(match window.take() {
                        None => (now.clone(), now),
                        Some((first, _)) => (first, now),
                    });
                }
                samples.push(s);
                alive = ctx.target.alive();
                if !alive {
                    js.abort_all();
                }
            }
            r = js.join_next() => match r {
                Some(Ok(l)) => {
                    lat.relay.extend(l.relay);
                    lat.join.extend(l.join);
                    lat.connect.extend(l.connect);
                }
                Some(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Some(Err(_)) => {}
                None => break,
            },
        }
    }
    // Every socket is closed: the server should be back to its own files.
    sleep(Duration::from_secs(2)).await;
    let fds_after = ctx.target.open_fds();
    let mut l = ledger.lock().unwrap_or_else(|e| e.into_inner());
    l.finish();
    let tally = l.tally.clone();
    let first_error = l.first_error.clone();
    drop(l);
    let ((s0, t0), (s1, t1)) = window.unwrap_or_default();
    let secs = (s1.t_s - s0.t_s).max(1e-9);
    let per_s = |f: fn(&Tally) -> u64| ((f(&t1) - f(&t0)) as f64 / secs).round();
    let ops = (t1.ops() - t0.ops()) as f64;
    let server_cpu = s1.server_cpu_s - s0.server_cpu_s;
    Ok(Soak {
        secs: p.secs,
        measured_secs: round3(secs),
        ops_per_s: (ops / secs).round(),
        server_cpu_us_per_op: round3(server_cpu * 1e6 / ops.max(1.0)),
        connects_per_s: per_s(|t| t.connects),
        joins_per_s: per_s(|t| t.joins),
        relays_per_s: per_s(|t| t.relays_delivered),
        server_cpu_util: round3(server_cpu / secs),
        bench_cpu_util: round3((s1.bench_cpu_s - s0.bench_cpu_s) / secs),
        relay_latency: Latency::from_ns(lat.relay),
        join_latency: Latency::from_ns(lat.join),
        connect_latency: Latency::from_ns(lat.connect),
        rss: Rss::judge(
            &samples,
            p.warmup_secs,
            (p.max_growth_mb * 1024.0) as u64,
            p.max_slope_mb_per_hour * 1024.0 / 60.0,
        ),
        fds_before,
        fds_after,
        server_alive: alive && ctx.target.alive(),
        tally,
        first_error,
        samples,
    })
}
