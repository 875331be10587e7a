//! One relay phase over established pairs, at a fixed offered rate or at
//! saturation, with the server's and the generator's CPU over its window;
//! and the sequence of phases the relay and cluster scenarios run.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::sleep;

use super::pairs::Pair;
use super::traffic::{PairMode, Rx, pair_task};
use crate::procfs;
use crate::results::Latency;
use crate::scen::{Ctx, Failures};
use crate::stats::round3;

#[derive(Clone, Copy, Debug)]
pub enum RelayMode {
    /// Total messages per second offered, spread evenly over all senders.
    Rate(f64),
    /// Each sender keeps this many messages in flight (closed loop): saturation.
    Window(u64),
}

/// One relay phase over a set of pairs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RelayPhase {
    pub mode: String,
    pub offered_per_s: Option<f64>,
    pub window: Option<u64>,
    pub pairs: usize,
    pub secs: f64,
    pub sent: u64,
    pub sent_per_s: f64,
    pub delivered: u64,
    pub delivered_in_window: u64,
    pub throughput_per_s: f64,
    pub lost: u64,
    pub misrouted: u64,
    pub out_of_order: u64,
    pub error_events: u64,
    pub other_events: u64,
    pub failed_pairs: usize,
    pub first_error: Option<String>,
    pub server_alive: bool,
    pub latency: Latency,
    pub server_cpu_s: f64,
    pub server_cpu_util: f64,
    pub server_cpu_us_per_msg: f64,
    pub msgs_per_server_cpu_s: f64,
    pub bench_cpu_s: f64,
    pub bench_cpu_us_per_msg: f64,
    /// The kernel's part of `server_cpu_us_per_msg` (system calls, the
    /// network stack, scheduling).
    #[serde(default)]
    pub server_system_cpu_us_per_msg: Option<f64>,
    /// The servers' threads woken up from sleep, per delivered message.
    #[serde(default)]
    pub server_wakeups_per_msg: Option<f64>,
    /// The servers' system calls per delivered message (`perf stat`).
    #[serde(default)]
    pub server_syscalls_per_msg: Option<f64>,
    pub ok: bool,
}

impl RelayPhase {
    /// Messages lost, misrouted or out of order.
    pub fn bad(&self) -> u64 {
        self.lost + self.misrouted + self.out_of_order
    }
}

/// Runs the relay on established pairs; gives back the pairs that survived.
pub async fn relay(
    ctx: &mut Ctx,
    pairs: Vec<Pair>,
    mode: RelayMode,
    dur: Duration,
) -> Result<(RelayPhase, Vec<Pair>)> {
    let n = pairs.len();
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + dur;
    let drain = Duration::from_secs(5);
    let mut js = JoinSet::new();
    for (i, p) in pairs.into_iter().enumerate() {
        let pm = match mode {
            RelayMode::Rate(total) => {
                let iv = Duration::from_secs_f64(2.0 * n as f64 / total);
                PairMode::Interval(iv, iv.mul_f64(i as f64 / n as f64))
            }
            RelayMode::Window(w) => PairMode::Window(w),
        };
        js.spawn(pair_task(p, pm, ctx.clients.base, start, end, drain));
    }
    let spent = ctx.window(start, end).await;
    let mut out = Vec::with_capacity(n);
    let (mut sent, mut rx, mut lat, mut failed) =
        (0, Rx::default(), Vec::new(), Failures::default());
    while let Some(r) = js.join_next().await {
        match r {
            Ok(Ok(p)) => {
                sent += p.sent;
                rx.absorb(&p.rx);
                lat.extend_from_slice(&p.lat);
                out.push(p.pair);
            }
            Ok(Err(e)) => failed.add(format_args!("{e:#}")),
            Err(e) => failed.add(e),
        }
    }
    let secs = dur.as_secs_f64();
    let server_cpu = spent.server_cpu_s;
    let bench_cpu = spent.bench_cpu_s;
    let lost = sent.saturating_sub(rx.delivered + rx.misrouted);
    let alive = ctx.target.alive();
    let ok = failed.count == 0
        && lost == 0
        && rx.misrouted == 0
        && rx.out_of_order == 0
        && rx.errors == 0
        && alive;
    let per_msg = |cpu: f64| round3(cpu * 1e6 / rx.in_window.max(1) as f64);
    let per_msg_count = |n: u64| round3(n as f64 / rx.in_window.max(1) as f64);
    let phase = RelayPhase {
        mode: match mode {
            RelayMode::Rate(r) => format!("rate {r}/s"),
            RelayMode::Window(w) => format!("window {w}"),
        },
        offered_per_s: match mode {
            RelayMode::Rate(r) => Some(r),
            RelayMode::Window(_) => None,
        },
        window: match mode {
            RelayMode::Window(w) => Some(w),
            RelayMode::Rate(_) => None,
        },
        pairs: n,
        secs,
        sent,
        sent_per_s: (sent as f64 / secs).round(),
        delivered: rx.delivered,
        delivered_in_window: rx.in_window,
        throughput_per_s: (rx.in_window as f64 / secs).round(),
        lost,
        misrouted: rx.misrouted,
        out_of_order: rx.out_of_order,
        error_events: rx.errors,
        other_events: rx.other,
        failed_pairs: failed.count,
        first_error: failed.first,
        server_alive: alive,
        latency: Latency::from_ns(lat),
        server_cpu_s: round3(server_cpu),
        server_cpu_util: round3(server_cpu / secs),
        server_cpu_us_per_msg: per_msg(server_cpu),
        msgs_per_server_cpu_s: if server_cpu > 0.0 {
            (rx.in_window as f64 / server_cpu).round()
        } else {
            0.0
        },
        bench_cpu_s: round3(bench_cpu),
        bench_cpu_us_per_msg: per_msg(bench_cpu),
        server_system_cpu_us_per_msg: Some(per_msg(spent.server_system_cpu_s)),
        server_wakeups_per_msg: Some(per_msg_count(spent.server_wakeups)),
        server_syscalls_per_msg: spent.server_syscalls.map(per_msg_count),
        ok,
    };
    Ok((phase, out))
}

/// A measured phase and the CPU a helper process (Redis, for a cluster)
/// spent over it: from the start of the senders to the end of the drain, so
/// a little more than the measured window.
pub struct Measured {
    pub phase: RelayPhase,
    pub helper_cpu_s: f64,
}

/// The relay's sequence on established pairs: a 1 s warm-up at `rate` that
/// is not measured (JIT, buffers), `dur` at `rate`, then `dur` at saturation
/// with `window` messages in flight per sender.
pub struct Sequence {
    pub rate: f64,
    pub window: u64,
    pub dur: Duration,
}

/// Runs the [`Sequence`]; `helper`: a process whose CPU each measured phase
/// also reads.
pub async fn fixed_then_saturation(
    ctx: &mut Ctx,
    pairs: Vec<Pair>,
    seq: &Sequence,
    helper: Option<u32>,
) -> Result<(Measured, Measured)> {
    let Sequence { rate, window, dur } = *seq;
    let warm = Duration::from_secs(1);
    let (_, pairs) = relay(ctx, pairs, RelayMode::Rate(rate), warm).await?;
    let (fixed, pairs) = measured(ctx, pairs, RelayMode::Rate(rate), dur, helper).await?;
    sleep(Duration::from_millis(300)).await;
    let (saturation, _) = measured(ctx, pairs, RelayMode::Window(window), dur, helper).await?;
    Ok((fixed, saturation))
}

async fn measured(
    ctx: &mut Ctx,
    pairs: Vec<Pair>,
    mode: RelayMode,
    dur: Duration,
    helper: Option<u32>,
) -> Result<(Measured, Vec<Pair>)> {
    let cpu = || helper.map_or(0.0, procfs::cpu_secs);
    let before = cpu();
    let (phase, pairs) = relay(ctx, pairs, mode, dur).await?;
    let helper_cpu_s = cpu() - before;
    Ok((
        Measured {
            phase,
            helper_cpu_s,
        },
        pairs,
    ))
}
