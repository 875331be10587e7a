//! Idle sockets: server memory per authenticated socket that only answers pings,
//! and what of it the server gives back once they have all closed.

use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tokio::time::sleep;

use super::{Ctx, IdleSockets, Scenario, connect_many};
use crate::procfs::self_rss_kb;
use crate::results::{Connect, Outcome};
use crate::stats::round3;

#[derive(Clone, Debug, clap::Args, Serialize, Deserialize)]
#[group(id = "idle")]
#[command(next_help_heading = "Idle")]
pub struct Params {
    #[arg(id = "idle_sockets", long = "idle-sockets", default_value_t = 10_000)]
    pub sockets: usize,
    /// Copied from `--srcs` (what the sockets were spread over).
    #[arg(skip)]
    pub srcs: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Idle {
    pub sockets: usize,
    pub connected: usize,
    pub dropped: usize,
    pub drop_error: Option<String>,
    pub server_alive: bool,
    pub connect: Connect,
    pub server_cpu_ms_per_connect: f64,
    pub rss_before_kb: u64,
    pub rss_after_kb: u64,
    pub per_socket_bytes: f64,
    pub bench_per_socket_bytes: f64,
    /// RSS [`CLOSED_SETTLE`] after every socket closed (absent in older files).
    #[serde(default)]
    pub rss_closed_kb: Option<u64>,
}

/// How long after the sockets closed the server's RSS is read again: past
/// the gateway's allocator's purge delay, so what it still holds is kept.
pub const CLOSED_SETTLE: Duration = Duration::from_secs(5);

impl Outcome for Idle {
    fn ok(&self) -> bool {
        self.connected == self.sockets && self.dropped == 0 && self.server_alive
    }
}

impl Scenario for Params {
    const NAME: &'static str = "idle";
    type Outcome = Idle;

    fn tokens(&self) -> usize {
        self.sockets
    }

    async fn run(&self, ctx: &mut Ctx) -> Result<Idle> {
        // The sockets close as `idle` returns.
        let mut out = idle(ctx, self.sockets, Duration::from_secs(3)).await;
        sleep(CLOSED_SETTLE).await;
        out.rss_closed_kb = Some(ctx.target.rss_kb());
        Ok(out)
    }
}

/// Connects `n` sockets after a warm-up and reads the server's RSS `settle`
/// after the last one.
pub async fn idle(ctx: &mut Ctx, n: usize, settle: Duration) -> Idle {
    // Warm-up: the first connections pay for lazy initialisation (JIT, pools).
    let warm = connect_many(&ctx.clients, 0, n.min(100), 64).await;
    drop(warm.conns);
    sleep(Duration::from_millis(1500)).await;
    let target = &mut ctx.target;
    let rss0 = target.rss_kb();
    let bench_rss0 = self_rss_kb();
    let cpu0 = target.cpu_secs();
    let c = connect_many(&ctx.clients, 0, n, 256).await;
    let cpu1 = target.cpu_secs();
    let connected = c.conns.len();
    let summary = c.summary();
    let mut idle = IdleSockets::default();
    idle.add(c.conns);
    sleep(settle).await;
    let rss1 = target.rss_kb();
    let bench_rss1 = self_rss_kb();
    idle.reap();
    let alive = target.alive();
    let per = |before: u64, after: u64| {
        if connected > 0 {
            ((after as f64 - before as f64) * 1024.0 / connected as f64).round()
        } else {
            0.0
        }
    };
    Idle {
        sockets: n,
        connected,
        dropped: idle.dropped,
        drop_error: idle.first_error.take(),
        server_alive: alive,
        connect: summary,
        server_cpu_ms_per_connect: round3((cpu1 - cpu0) * 1000.0 / connected.max(1) as f64),
        rss_before_kb: rss0,
        rss_after_kb: rss1,
        per_socket_bytes: per(rss0, rss1),
        bench_per_socket_bytes: per(bench_rss0, bench_rss1),
        rss_closed_kb: None,
    }
}
