//! Join storm: sockets in rooms of 2..10 looping `join:room` → `room:joined`
//! → `leave:room` → `room:left`, closed loop (storm, light) and open loop at
//! an offered rate (paced).

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, timeout};

use super::{Ctx, Failures, Scenario, connect_many};
use crate::results::{Latency, Outcome};
use crate::stats::round3;
use crate::ws::Conn;

#[derive(Clone, Debug, clap::Args, Serialize, Deserialize)]
#[group(id = "join")]
#[command(next_help_heading = "Join")]
pub struct Params {
    #[arg(id = "join_sockets", long = "join-sockets", default_value_t = 1_000)]
    pub sockets: usize,
    /// Sockets of the light join phase (latency under moderate load).
    #[arg(long = "join-light-sockets", default_value_t = 100)]
    pub light_sockets: usize,
    /// Joins per second offered by the paced join phase (open loop, storm
    /// sockets).
    #[arg(long = "join-rate", default_value_t = 1_000.0)]
    pub paced_joins_per_s: f64,
    #[arg(id = "join_secs", long = "join-secs", default_value_t = 5.0)]
    pub secs: f64,
    #[arg(skip = String::from("2..10"))]
    pub room_sizes: String,
}

/// One join phase.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JoinPhase {
    pub sockets: usize,
    pub rooms: usize,
    pub room_sizes: String,
    pub offered_joins_per_s: Option<f64>,
    pub creates_per_s: f64,
    pub server_cpu_ms_per_create: f64,
    pub secs: f64,
    pub joins: u64,
    pub joins_per_s: f64,
    pub latency: Latency,
    /// Closed loop: the first join of every socket, sent at the same instant.
    pub burst_latency: Option<Latency>,
    pub error_events: u64,
    pub failed_sockets: u64,
    pub first_error: Option<String>,
    pub server_cpu_s: f64,
    pub server_cpu_util: f64,
    pub server_cpu_us_per_join_leave: f64,
    /// The server's threads woken from sleep, per join+leave cycle.
    #[serde(default)]
    pub server_wakeups_per_join_leave: Option<f64>,
    /// The server's system calls per join+leave cycle (`perf stat`; none
    /// without it).
    #[serde(default)]
    pub server_syscalls_per_join_leave: Option<f64>,
    pub bench_cpu_s: f64,
    pub server_alive: bool,
    pub ok: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Join {
    pub storm: JoinPhase,
    pub light: JoinPhase,
    pub paced: JoinPhase,
}

impl Outcome for Join {
    fn ok(&self) -> bool {
        self.storm.ok && self.light.ok && self.paced.ok
    }
}

impl Scenario for Params {
    const NAME: &'static str = "join";
    type Outcome = Join;

    fn tokens(&self) -> usize {
        self.sockets.max(self.light_sockets)
    }

    /// A storm that saturates the server (closed loop), a light phase (closed
    /// loop) and the storm's sockets offering a rate both servers are asked
    /// to carry (open loop), for latency at a stated load.
    async fn run(&self, ctx: &mut Ctx) -> Result<Join> {
        let dur = Duration::from_secs_f64(self.secs);
        let storm = join_storm(ctx, self.sockets, dur, "storm", Pace::Closed).await?;
        sleep(Duration::from_millis(500)).await;
        let light = join_storm(ctx, self.light_sockets, dur, "light", Pace::Closed).await?;
        sleep(Duration::from_millis(500)).await;
        let pace = Pace::Rate(self.paced_joins_per_s);
        let paced = join_storm(ctx, self.sockets, dur, "paced", pace).await?;
        Ok(Join {
            storm,
            light,
            paced,
        })
    }
}

/// How each socket of a join phase paces its `join:room` → `leave:room` cycles.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// The next join as soon as the previous leave is answered.
    Closed,
    /// Open loop: `rate` joins per second over all sockets, evenly spread.
    /// When a server falls behind, latency counts from the scheduled send
    /// time, so it is charged for the queue it builds (no coordinated omission).
    Rate(f64),
}

#[derive(Default)]
struct JoinOut {
    /// Latency of every join answered in the window but the burst's.
    lat: Vec<u64>,
    /// Closed loop: the first join, sent by every socket at the same instant.
    burst: Option<u64>,
    joins: u64,
    errors: u64,
}

async fn join_task(
    mut c: Conn,
    code: String,
    start: Instant,
    end: Instant,
    period: Option<Duration>,
) -> Result<JoinOut> {
    let mut due = start;
    sleep_until(due.into()).await;
    let join = format!(r#"42["join:room",{{"roomCode":"{code}"}}]"#);
    let mut out = JoinOut::default();
    let mut done = start;
    while due < end {
        // Paced: a cycle that starts late because the previous one was still
        // waiting for the server counts from its scheduled time; one that is
        // late only by the generator's timer granularity counts from the send.
        let t0 = match period {
            Some(_) if done > due => due,
            _ => Instant::now(),
        };
        c.push_text(join.as_bytes());
        c.flush().await?;
        c.wait_event(b"42[\"room:joined\"", &mut out.errors).await?;
        let now = Instant::now();
        if now <= end {
            out.joins += 1;
            let ns = (now - t0).as_nanos() as u64;
            if period.is_none() && out.joins == 1 {
                out.burst = Some(ns);
            } else {
                out.lat.push(ns);
            }
        }
        c.push_text(b"42[\"leave:room\"]");
        c.flush().await?;
        c.wait_event(b"42[\"room:left\"", &mut out.errors).await?;
        done = Instant::now();
        match period {
            Some(p) => {
                due += p;
                sleep_until(due.into()).await;
            }
            None => due = Instant::now(),
        }
    }
    Ok(out)
}

/// A join phase's sockets, connected and grouped, their rooms created.
pub struct JoinRooms {
    groups: Vec<Vec<Conn>>,
    tag: String,
    sockets: usize,
    create_secs: f64,
    create_cpu: f64,
}

pub async fn join_storm(
    ctx: &mut Ctx,
    sockets: usize,
    dur: Duration,
    tag: &str,
    pace: Pace,
) -> Result<JoinPhase> {
    let rooms = join_rooms(ctx, sockets, tag).await?;
    join_cycles(ctx, rooms, dur, pace).await
}

/// Connects `sockets` sockets in groups of 2..10 and has each group's
/// first socket create the group's room.
pub async fn join_rooms(ctx: &mut Ctx, sockets: usize, tag: &str) -> Result<JoinRooms> {
    // Groups of 2, 3, ... 10, 2, 3, ...
    let mut conns = connect_many(&ctx.clients, 0, sockets, 256).await.all()?;
    let mut groups: Vec<Vec<Conn>> = Vec::new();
    let mut k = 2;
    while !conns.is_empty() {
        let take = k.min(conns.len());
        groups.push(conns.drain(..take).collect());
        k = if k == 10 { 2 } else { k + 1 };
    }
    // Room creation by each group's first socket (pipelined, timed).
    let t0 = Instant::now();
    let c0 = ctx.target.cpu_secs();
    for (g, grp) in groups.iter_mut().enumerate() {
        let n = grp.len();
        grp[0].push_fmt(format_args!(
            r#"42["create:room",{{"roomCode":"{tag}{g}","maxPeers":{n}}}]"#
        ));
        grp[0].flush().await?;
    }
    let mut e = 0;
    for grp in groups.iter_mut() {
        timeout(
            Duration::from_secs(30),
            grp[0].wait_event(b"42[\"room:created\"", &mut e),
        )
        .await
        .map_err(|_| anyhow!("room creation timed out"))??;
    }
    Ok(JoinRooms {
        groups,
        tag: tag.to_owned(),
        sockets,
        create_secs: t0.elapsed().as_secs_f64(),
        create_cpu: ctx.target.cpu_secs() - c0,
    })
}

/// The sockets of `rooms` cycling join → leave for `dur`, paced by `pace`.
pub async fn join_cycles(
    ctx: &mut Ctx,
    rooms: JoinRooms,
    dur: Duration,
    pace: Pace,
) -> Result<JoinPhase> {
    let JoinRooms {
        groups,
        tag,
        sockets,
        create_secs,
        create_cpu,
    } = rooms;
    let rooms = groups.len();

    let start = Instant::now() + Duration::from_millis(200);
    let end = start + dur;
    // Paced: socket i first joins at start + i/rate, then every sockets/rate.
    let period = match pace {
        Pace::Closed => None,
        Pace::Rate(rate) => Some(Duration::from_secs_f64(sockets as f64 / rate)),
    };
    let offset = |i: usize| match pace {
        Pace::Closed => Duration::ZERO,
        Pace::Rate(rate) => Duration::from_secs_f64(i as f64 / rate),
    };
    let mut js = JoinSet::new();
    let mut i = 0;
    for (g, grp) in groups.into_iter().enumerate() {
        for c in grp {
            js.spawn(timeout(
                dur + Duration::from_secs(20),
                join_task(c, format!("{tag}{g}"), start + offset(i), end, period),
            ));
            i += 1;
        }
    }
    let spent = ctx.window(start, end).await;
    let (mut lat, mut burst, mut joins, mut errors, mut failed) =
        (Vec::new(), Vec::new(), 0, 0, Failures::default());
    while let Some(r) = js.join_next().await {
        match r {
            Ok(Ok(Ok(out))) => {
                lat.extend_from_slice(&out.lat);
                burst.extend(out.burst);
                joins += out.joins;
                errors += out.errors;
            }
            Ok(Ok(Err(e))) => failed.add(format_args!("{e:#}")),
            Ok(Err(_)) => failed.add("join loop timed out"),
            Err(e) => failed.add(e),
        }
    }
    let secs = dur.as_secs_f64();
    let server_cpu = spent.server_cpu_s;
    let alive = ctx.target.alive();
    Ok(JoinPhase {
        sockets,
        rooms,
        room_sizes: "2..10 cycling".to_owned(),
        offered_joins_per_s: match pace {
            Pace::Closed => None,
            Pace::Rate(rate) => Some(rate),
        },
        creates_per_s: (rooms as f64 / create_secs).round(),
        server_cpu_ms_per_create: round3(create_cpu * 1000.0 / rooms as f64),
        secs,
        joins,
        joins_per_s: (joins as f64 / secs).round(),
        latency: Latency::from_ns(lat),
        burst_latency: match pace {
            Pace::Closed => Some(Latency::from_ns(burst)),
            Pace::Rate(_) => None,
        },
        error_events: errors,
        failed_sockets: failed.count as u64,
        first_error: failed.first,
        server_cpu_s: round3(server_cpu),
        server_cpu_util: round3(server_cpu / secs),
        server_cpu_us_per_join_leave: round3(server_cpu * 1e6 / joins.max(1) as f64),
        server_wakeups_per_join_leave: Some(round3(
            spent.server_wakeups as f64 / joins.max(1) as f64,
        )),
        server_syscalls_per_join_leave: spent
            .server_syscalls
            .map(|n| round3(n as f64 / joins.max(1) as f64)),
        bench_cpu_s: round3(spent.bench_cpu_s),
        server_alive: alive,
        ok: failed.count == 0 && errors == 0 && joins > 0 && alive,
    })
}
