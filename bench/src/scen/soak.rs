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
mod peer;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::sleep;

use ledger::Ledger;
pub use ledger::Tally;
use peer::{Latencies, Plan};

use super::{Ctx, Scenario};
use crate::procfs;
use crate::results::{Latency, Outcome, Run};
use crate::server::{Kind, Setup, Spec, Target};
use crate::stats::{linfit, round3};

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

/// One sample of the servers under test.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Seconds since the soak started.
    pub t_s: f64,
    pub rss_kb: u64,
    pub open_fds: u64,
    pub server_cpu_s: f64,
    pub bench_cpu_s: f64,
    /// Requests handled so far (handshakes, creates, joins, leaves, closes, relays).
    pub ops: u64,
}

/// The memory verdict.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rss {
    /// At the end of the warm-up (mean of its last 5 s).
    pub warm_kb: u64,
    pub max_kb: u64,
    pub end_kb: u64,
    /// `max_kb - warm_kb`.
    pub growth_kb: i64,
    /// Least-squares slope after the warm-up.
    pub slope_kb_per_min: f64,
    pub max_growth_kb: u64,
    pub max_slope_kb_per_min: f64,
    pub flat: bool,
}

impl Rss {
    /// Judges the samples after `warmup_s` against the bounds.
    pub fn judge(samples: &[Sample], warmup_s: f64, max_growth_kb: u64, max_slope: f64) -> Rss {
        let warm: Vec<u64> = samples
            .iter()
            .filter(|s| s.t_s <= warmup_s && s.t_s > warmup_s - 5.0)
            .map(|s| s.rss_kb)
            .collect();
        let after: Vec<&Sample> = samples.iter().filter(|s| s.t_s > warmup_s).collect();
        let warm_kb = match warm.len() {
            0 => after.first().map_or(0, |s| s.rss_kb),
            n => warm.iter().sum::<u64>() / n as u64,
        };
        let max_kb = after.iter().map(|s| s.rss_kb).max().unwrap_or(warm_kb);
        let pts: Vec<(f64, f64)> = after
            .iter()
            .map(|s| (s.t_s / 60.0, s.rss_kb as f64))
            .collect();
        let slope = linfit(&pts).0;
        let growth_kb = max_kb as i64 - warm_kb as i64;
        Rss {
            warm_kb,
            max_kb,
            end_kb: after.last().map_or(warm_kb, |s| s.rss_kb),
            growth_kb,
            slope_kb_per_min: round3(slope),
            max_growth_kb,
            max_slope_kb_per_min: max_slope,
            // Too few samples to judge is not flat.
            flat: after.len() >= 5 && growth_kb <= max_growth_kb as i64 && slope <= max_slope,
        }
    }
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
                "lost {}, misrouted {}, cross-room {}, wrongly refused {}, out of order {}, room view errors {}, errors {} ({})",
                t.lost,
                t.misrouted,
                t.cross_room,
                t.wrongly_refused,
                t.out_of_order,
                t.room_view_errors,
                t.errors,
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

pub struct Scen;

impl Scenario for Scen {
    const NAME: &'static str = "soak";
    type Params = Params;
    type Outcome = Soak;

    fn tokens(p: &Params) -> usize {
        p.sockets
    }

    fn reps(_: &Params, _: usize) -> usize {
        1
    }

    fn processes(setup: &Setup, kind: Kind, p: &Params) -> Result<Vec<Spec>> {
        Ok(vec![
            setup
                .server(kind)
                .env("ROOM_TTL", format!("{}s", p.room_ttl_secs)),
        ])
    }

    fn time_limit(p: &Params) -> Duration {
        Duration::from_secs_f64(p.secs + 120.0)
    }

    async fn run(ctx: &Ctx, target: &mut Target, p: &Params) -> Result<Soak> {
        soak(ctx, target, p).await
    }

    fn summary(run: &Run<Soak>) -> Option<String> {
        let s = run.server.name();
        let Some(r) = &run.result else {
            return Some(format!(
                "soak {s}: FAILED: {}",
                run.error.as_deref().unwrap_or("?")
            ));
        };
        let t = &r.tally;
        Some(format!(
            "soak {s}: {} | {} s: {} connects, {} joins, {} leaves, {} drops, {} rooms created, {} relays delivered ({} refused: target leaving) | lost {} misrouted {} cross-room {} wrongly refused {} out-of-order {} room-view {} errors {} | RSS {} → max {} MB, growth {} KB, slope {} KB/min ({}) | fds {} → {} | {} ops/s, server {} µs/op ({} cores), generator {} cores{}",
            if run.ok { "ok" } else { "FAILED" },
            r.secs,
            t.connects,
            t.joins,
            t.leaves,
            t.drops,
            t.creates,
            t.relays_delivered,
            t.relays_refused,
            t.lost,
            t.misrouted,
            t.cross_room,
            t.wrongly_refused,
            t.out_of_order,
            t.room_view_errors,
            t.errors,
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
        ))
    }
}

async fn soak(ctx: &Ctx, target: &mut Target, p: &Params) -> Result<Soak> {
    let pids: Vec<u32> = target.servers().map(|s| s.pid).collect();
    let fds_before = target.open_fds();
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
        js.spawn(peer::life(i, ctx.clone(), ledger.clone(), plan.clone()));
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
                alive = target.alive();
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
    let fds_after = target.open_fds();
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
        server_alive: alive && target.alive(),
        tally,
        first_error,
        samples,
    })
}

fn sample(pids: &[u32], start: Instant, ops: u64) -> Sample {
    Sample {
        t_s: round3(start.elapsed().as_secs_f64()),
        rss_kb: pids.iter().map(|&p| procfs::rss_kb(p)).sum(),
        open_fds: pids.iter().map(|&p| procfs::open_fds(p)).sum(),
        server_cpu_s: pids.iter().map(|&p| procfs::cpu_secs(p)).sum(),
        bench_cpu_s: procfs::self_cpu_secs(),
        ops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(rss: impl Fn(f64) -> u64) -> Vec<Sample> {
        (0..=60)
            .map(|t| Sample {
                t_s: t as f64,
                rss_kb: rss(t as f64),
                open_fds: 10,
                server_cpu_s: 0.0,
                bench_cpu_s: 0.0,
                ops: 0,
            })
            .collect()
    }

    #[test]
    fn memory_that_settles_after_the_warm_up_is_flat() {
        // Grows during the 20 s warm-up, then wobbles by 1 MB.
        let s = samples(|t| {
            if t < 20.0 {
                10_000 + 500 * t as u64
            } else {
                20_000 + (t as u64 % 2) * 1024
            }
        });
        let r = Rss::judge(&s, 20.0, 2048, 600.0);
        assert_eq!(r.warm_kb, 19_000, "mean of 16..=20 s");
        assert_eq!(r.max_kb, 21_024);
        assert_eq!(r.growth_kb, 2_024);
        assert!(r.slope_kb_per_min.abs() < 200.0, "{}", r.slope_kb_per_min);
        assert!(r.flat);
    }

    #[test]
    fn memory_that_keeps_growing_is_not_flat() {
        // 100 KB/s: 6,000 KB per minute.
        let s = samples(|t| 10_000 + 100 * t as u64);
        let r = Rss::judge(&s, 20.0, 8192, 600.0);
        assert!(
            (r.slope_kb_per_min - 6000.0).abs() < 1.0,
            "{}",
            r.slope_kb_per_min
        );
        assert!(r.growth_kb < 8192, "the growth bound alone would pass");
        assert!(!r.flat);
        // A step after the warm-up beyond the growth bound is not flat either.
        let s = samples(|t| if t < 40.0 { 10_000 } else { 30_000 });
        assert!(!Rss::judge(&s, 20.0, 8192, 1e9).flat);
    }

    #[test]
    fn too_few_samples_after_the_warm_up_are_not_flat() {
        let s = samples(|_| 10_000);
        assert!(!Rss::judge(&s, 58.0, 8192, 600.0).flat);
        assert!(Rss::judge(&s, 50.0, 8192, 600.0).flat);
    }
}
