//! Memory (issue 23): the four cases, one after the other, against
//! the release gateway with its DEFAULT settings (none of the bench's raised
//! limits), each case's peak RSS read from the kernel, and a well-behaved
//! client on another address ([`probe`]) served throughout.
//!
//! 1. many slow readers at once ([`readers`]), 2. a long-polling session
//!    that never GETs ([`polling`]), 3. partial messages before CONNECT
//!    ([`partial`]), 4. large request heads ([`heads`]). Each case closes
//!    what it opened before the next starts; the RSS a few seconds later
//!    says what the allocator gave back.

mod heads;
mod partial;
mod peak;
mod polling;
mod probe;
mod raw;
mod readers;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{Ctx, Scenario};
use crate::procfs::open_fds;
use crate::results::{Outcome, Run};
use crate::server::{Kind, Setup, Spec};
use peak::Peak;
use probe::{Probe, Served};

/// The bound on each case's peak RSS.
pub const PEAK_LIMIT_KB: u64 = 600 * 1024;

#[derive(Clone, Debug, Default, clap::Args, Serialize, Deserialize)]
#[group(id = "memory")]
#[command(next_help_heading = "Memory")]
pub struct Params {}

/// What one case left in the gateway.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Case {
    pub name: String,
    /// What the case did and what the gateway answered.
    pub detail: String,
    pub error: Option<String>,
    pub secs: f64,
    pub rss_before_kb: u64,
    /// The kernel's high-water mark over the case (`VmHWM` after a reset;
    /// 0 when the reset was not allowed).
    pub peak_hwm_kb: u64,
    /// The highest `VmRSS` sampled every 10 ms.
    pub peak_sampled_kb: u64,
    /// 5 s after the case's clients closed.
    pub rss_after_kb: u64,
    /// Sockets or connections that held (or tried to hold) memory.
    pub offenders: usize,
    /// Of them, those the gateway cut off or refused.
    pub cut_off: usize,
    /// The probe's rounds during the case.
    pub served: Served,
    /// How the gateway's own counters moved over the case.
    pub counters: BTreeMap<String, i64>,
}

impl Case {
    pub fn peak_kb(&self) -> u64 {
        self.peak_hwm_kb.max(self.peak_sampled_kb)
    }

    fn ok(&self) -> bool {
        self.error.is_none()
            && self.peak_kb() <= PEAK_LIMIT_KB
            && self.served.rounds > 0
            && self.served.failures == 0
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Memory {
    pub rss_start_kb: u64,
    pub cases: Vec<Case>,
}

impl Outcome for Memory {
    fn ok(&self) -> bool {
        self.cases.len() == 4 && self.cases.iter().all(Case::ok)
    }

    fn failure(&self) -> Option<String> {
        let bad = self.cases.iter().find(|c| !c.ok())?;
        Some(format!(
            "{}: peak {} MiB, probe {} of {} rounds failed ({}), error {:?}",
            bad.name,
            bad.peak_kb() / 1024,
            bad.served.failures,
            bad.served.rounds,
            bad.served.first_failure.as_deref().unwrap_or("-"),
            bad.error
        ))
    }
}

/// What a case's load reports.
pub struct Load {
    pub offenders: usize,
    pub cut_off: usize,
    pub detail: String,
}

/// The counters a case reports the change of.
const COUNTERS: &[&str] = &[
    "gateway_node_send_buffer_cutoffs_total",
    "gateway_send_buffer_overflows_total",
    "gateway_node_send_buffer_bytes",
    "gateway_sockets",
];

/// Token indices: case 1's users, case 2's, then the probe's two.
const PROBE_TOKEN: usize = polling::FIRST_TOKEN + polling::TOKENS;

/// The gateway's settings left to their defaults: everything the bench
/// raises for throughput runs.
const RAISED: &[&str] = &[
    "RATE_LIMIT_BURST",
    "RATE_LIMIT_PER_SEC",
    "MAX_ROOM_SIZE",
    "MAX_ROOMS",
    "MAX_ROOMS_PER_USER",
    "MAX_CONNECTIONS_PER_ADDRESS",
    "MAX_SOCKETS_PER_ADDRESS",
    "WORKER_THREADS",
];

impl Scenario for Params {
    const NAME: &'static str = "memory";
    type Outcome = Memory;

    fn tokens(&self) -> usize {
        PROBE_TOKEN + 2
    }

    fn reps(&self, _: usize) -> usize {
        1
    }

    fn processes(&self, setup: &Setup, kind: Kind) -> Result<Vec<Spec>> {
        if kind != Kind::Gateway {
            return Ok(vec![]);
        }
        let spec = RAISED
            .iter()
            .fold(setup.server(kind), |spec, key| spec.without(key));
        Ok(vec![spec])
    }

    fn time_limit(&self) -> Duration {
        Duration::from_secs(900)
    }

    async fn run(&self, ctx: &mut Ctx) -> Result<Memory> {
        let clients = ctx.clients.clone();
        let server = clients.addr;
        let pid = ctx
            .target
            .servers()
            .next()
            .map(|p| p.pid)
            .ok_or_else(|| anyhow::anyhow!("no gateway"))?;
        let rss_start_kb = ctx.target.rss_kb();
        let probe = Probe::start(
            server,
            clients.token(PROBE_TOKEN),
            clients.token(PROBE_TOKEN + 1),
            4,
        )
        .await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut cases = Vec::new();
        for i in 0..4 {
            probe.case(i);
            let fds_before = open_fds(pid);
            let before = raw::metrics(server).await;
            let rss_before_kb = ctx.target.rss_kb();
            let peak = Peak::start(pid);
            let t0 = Instant::now();
            let (name, load) = match i {
                0 => ("1. many slow readers", readers::run(&clients).await),
                1 => (
                    "2. a polling session that never GETs",
                    polling::run(&clients, fds_before, || open_fds(pid)).await,
                ),
                2 => (
                    "3. partial messages before CONNECT",
                    partial::run(server).await,
                ),
                _ => ("4. large request heads", heads::run(server).await),
            };
            let secs = t0.elapsed().as_secs_f64();
            let (peak_hwm_kb, peak_sampled_kb) = peak.finish();
            let after = raw::metrics(server).await;
            // The case's clients are closed: what the allocator keeps.
            wait_sockets(server, 2, Duration::from_secs(20)).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            let counters = COUNTERS
                .iter()
                .map(|&k| {
                    let v = |m: &BTreeMap<String, u64>| m.get(k).copied().unwrap_or(0) as i64;
                    (k.to_owned(), v(&after) - v(&before))
                })
                .collect();
            let (load, error) = match load {
                Ok(l) => (l, None),
                Err(e) => (
                    Load {
                        offenders: 0,
                        cut_off: 0,
                        detail: String::new(),
                    },
                    Some(format!("{e:#}")),
                ),
            };
            let case = Case {
                name: name.to_owned(),
                detail: load.detail,
                error,
                secs: crate::stats::round3(secs),
                rss_before_kb,
                peak_hwm_kb,
                peak_sampled_kb,
                rss_after_kb: ctx.target.rss_kb(),
                offenders: load.offenders,
                cut_off: load.cut_off,
                served: probe.served(i),
                counters,
            };
            eprintln!(
                "  {}: peak {} MiB (from {} MiB), after {} MiB; {}{}",
                case.name,
                case.peak_kb() / 1024,
                case.rss_before_kb / 1024,
                case.rss_after_kb / 1024,
                case.detail,
                case.error
                    .as_deref()
                    .map(|e| format!(" ERROR {e}"))
                    .unwrap_or_default()
            );
            cases.push(case);
        }
        Ok(Memory {
            rss_start_kb,
            cases,
        })
    }

    fn summary(run: &Run<Memory>) -> Option<String> {
        Some(run.line(Self::NAME, |m| {
            m.cases
                .iter()
                .map(|c| {
                    format!(
                        "{}: peak {} MiB, probe {}/{} ok, ping max {} ms",
                        c.name,
                        c.peak_kb() / 1024,
                        c.served.rounds - c.served.failures,
                        c.served.rounds,
                        c.served.ping_max_ms
                    )
                })
                .collect::<Vec<_>>()
                .join(" | ")
        }))
    }
}

/// Waits (up to `limit`) until the gateway has at most `n` sockets connected.
async fn wait_sockets(server: std::net::SocketAddr, n: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let m = raw::metrics(server).await;
        if m.get("gateway_sockets").is_some_and(|&s| s <= n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
