//! Capacity: idle sockets added in steps, with the server's RSS and a probe
//! relay's latency at each step, until the last step or the first failure.

use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tokio::time::sleep;

use super::relay::{RelayMode, RelayPhase, make_pairs, relay};
use super::{Ctx, IdleSockets, Scenario, connect_many};
use crate::procfs::self_rss_kb;
use crate::results::{Connect, Outcome};
use crate::stats::linfit;

#[derive(Clone, Debug, clap::Args, Serialize, Deserialize)]
#[group(id = "capacity")]
#[command(next_help_heading = "Capacity")]
pub struct Params {
    /// Capacity steps (total sockets).
    #[arg(
        id = "cap_steps",
        long = "cap-steps",
        value_delimiter = ',',
        default_value = "1000,2000,5000,8000,11000,14000,17000,19000"
    )]
    pub steps: Vec<usize>,
    #[arg(long = "cap-probe-pairs", default_value_t = 50)]
    pub probe_pairs: usize,
    #[arg(long = "cap-probe-rate", default_value_t = 1_000.0)]
    pub probe_rate: f64,
    #[arg(long = "cap-probe-secs", default_value_t = 2.0)]
    pub probe_secs: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Step {
    pub sockets: usize,
    pub connect: Connect,
    pub rss_kb: u64,
    pub bench_rss_kb: u64,
    pub dropped_so_far: usize,
    pub probe: RelayPhase,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Capacity {
    pub steps: Vec<Step>,
    pub max_sockets: usize,
    /// Why the run stopped before the last step.
    pub stop_reason: Option<String>,
    pub rss_start_kb: u64,
    pub fit_bytes_per_socket: f64,
    pub fit_intercept_bytes: f64,
    pub projected_rss_200k_bytes: f64,
    pub probe_p99_first_ms: Option<f64>,
    pub probe_p99_last_ms: Option<f64>,
    pub probe_p99_max_ms: f64,
}

impl Outcome for Capacity {
    fn ok(&self) -> bool {
        self.stop_reason.is_none()
    }

    fn failure(&self) -> Option<String> {
        self.stop_reason.clone()
    }
}

impl Scenario for Params {
    const NAME: &'static str = "capacity";
    type Outcome = Capacity;

    fn tokens(&self) -> usize {
        self.steps.iter().copied().max().unwrap_or(0) + 2 * self.probe_pairs
    }

    async fn run(&self, ctx: &mut Ctx) -> Result<Capacity> {
        capacity(ctx, self).await
    }
}

async fn capacity(ctx: &mut Ctx, p: &Params) -> Result<Capacity> {
    let probe_dur = Duration::from_secs_f64(p.probe_secs);
    let mut pairs = make_pairs(&ctx.clients, 0, p.probe_pairs, "cap").await?;
    let mut total = 2 * p.probe_pairs;
    let mut idle = IdleSockets::default();
    let mut steps = Vec::new();
    let mut stop_reason = None;
    let rss_start = ctx.target.rss_kb();
    for &step in &p.steps {
        if step <= total {
            continue;
        }
        let c = connect_many(&ctx.clients, total, step - total, 256).await;
        let connect = c.summary();
        let errors = c.failed.count;
        total += c.conns.len();
        idle.add(c.conns);
        sleep(Duration::from_millis(1000)).await;
        let rss = ctx.target.rss_kb();
        let mode = RelayMode::Rate(p.probe_rate);
        let (probe, survivors) = match relay(ctx, pairs, mode, probe_dur).await {
            Ok(x) => x,
            Err(e) => {
                stop_reason = Some(format!("probe failed: {e:#}"));
                break;
            }
        };
        pairs = survivors;
        idle.reap();
        let alive = ctx.target.alive();
        eprintln!(
            "  {} sockets: rss {} MB, probe p50 {} p99 {} ms, connect errors {errors}, dropped {}",
            total,
            rss / 1024,
            probe.latency.p50_ms,
            probe.latency.p99_ms,
            idle.dropped
        );
        let probe_ok = probe.ok;
        steps.push(Step {
            sockets: total,
            connect,
            rss_kb: rss,
            bench_rss_kb: self_rss_kb(),
            dropped_so_far: idle.dropped,
            probe,
        });
        if errors > 0 || !alive || idle.dropped > 0 || !probe_ok || pairs.len() < p.probe_pairs {
            stop_reason = Some(format!(
                "at {total} sockets: connect errors {errors}, server alive {alive}, dropped {} ({}), probe ok {probe_ok}",
                idle.dropped,
                idle.first_error.clone().unwrap_or_default(),
            ));
            break;
        }
    }
    drop(idle);
    // Linear fit of RSS against sockets.
    let pts: Vec<(f64, f64)> = steps
        .iter()
        .map(|s| (s.sockets as f64, s.rss_kb as f64 * 1024.0))
        .collect();
    let (slope, icpt) = linfit(&pts);
    let p99s: Vec<f64> = steps.iter().map(|s| s.probe.latency.p99_ms).collect();
    Ok(Capacity {
        max_sockets: steps.last().map(|s| s.sockets).unwrap_or(0),
        stop_reason,
        rss_start_kb: rss_start,
        fit_bytes_per_socket: slope.round(),
        fit_intercept_bytes: icpt.round(),
        projected_rss_200k_bytes: (icpt + slope * 200_000.0).round(),
        probe_p99_first_ms: p99s.first().copied(),
        probe_p99_last_ms: p99s.last().copied(),
        probe_p99_max_ms: p99s.iter().copied().fold(0.0, f64::max),
        steps,
    })
}
