//! Cluster relay: the relay scenario's rooms of 2 with their peers on
//! different gateway nodes sharing one `redis-server` (`REDIS_URL`), so every
//! message crosses Redis pub/sub. `cluster2` first measures the baseline (a
//! separate gateway without Redis, same pairs, rate and window, so both sides
//! share one run's machine state), then the 2 nodes with both peers of a room
//! on one node (what the cluster costs without crossing nodes), then across
//! the nodes, then freezes a third node while relays target its members
//! ([`freeze`]); `cluster3` runs 3 nodes, each room across two of them. CPU
//! is summed over every measured node; Redis's is reported apart. Gateway
//! only: the reference has no cluster mode here.

pub mod freeze;
pub mod tally;

use std::time::Duration;

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};

pub use freeze::FreezeRound;

use super::relay::{Measured, Pair, RelayPhase, Sequence, fixed_then_saturation, into_rooms};
use super::{Clients, Ctx, Scenario};
use crate::results::Outcome;
use crate::server::{Kind, Setup, Spec, Target, free_port};
use crate::stats::round3;

#[derive(Clone, Debug, clap::Args, Serialize, Deserialize)]
#[group(id = "cluster")]
#[command(next_help_heading = "Cluster relay")]
pub struct Params {
    #[arg(id = "cluster_pairs", long = "cluster-pairs", default_value_t = 100)]
    pub pairs: usize,
    /// Offered relay rate, messages per second (all senders together).
    #[arg(id = "cluster_rate", long = "cluster-rate", default_value_t = 2_000.0)]
    pub rate: f64,
    /// Messages in flight per sender at saturation.
    #[arg(id = "cluster_window", long = "cluster-window", default_value_t = 16)]
    pub window: u64,
    #[arg(id = "cluster_secs", long = "cluster-secs", default_value_t = 5.0)]
    pub secs: f64,
    /// `cluster2`'s freeze phase: how long a node is frozen (SIGSTOP); 0
    /// leaves the phase out.
    #[arg(long = "cluster-freeze-secs", default_value_t = 3.0)]
    #[serde(default)]
    pub freeze_secs: f64,
    /// Rooms of the freeze phase (each round), the member on the frozen node.
    #[arg(long = "cluster-freeze-pairs", default_value_t = 50)]
    #[serde(default)]
    pub freeze_pairs: usize,
    /// Acked relays per second to the frozen node's members, all senders together.
    #[arg(long = "cluster-freeze-rate", default_value_t = 1_000.0)]
    #[serde(default)]
    pub freeze_rate: f64,
}

/// One placement of the pairs, at a fixed rate and at saturation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Placement {
    /// `one node` or `across nodes`.
    pub placement: String,
    pub fixed: ClusterPhase,
    pub saturation: ClusterPhase,
}

/// A relay phase with Redis's share of the work.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClusterPhase {
    /// Server figures are every gateway node's together.
    pub relay: RelayPhase,
    /// Redis's CPU over the phase (from the start of the senders to the end of
    /// the drain, so a little more than the measured window).
    pub redis_cpu_s: f64,
    pub redis_cpu_us_per_msg: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cluster {
    pub nodes: usize,
    pub placements: Vec<Placement>,
    /// `cluster2`'s freeze phase, one round per frozen node (absent in older files).
    #[serde(default)]
    pub freeze: Vec<FreezeRound>,
}

impl Outcome for Cluster {
    fn ok(&self) -> bool {
        // Relays acked and lost are the freeze phase's finding, not a
        // failed run: they are in the summary and the targets.
        self.placements
            .iter()
            .all(|p| p.fixed.relay.ok && p.saturation.relay.ok)
            && self.freeze.iter().all(|r| r.ok)
    }

    fn summary_of(runs: &[&Cluster]) -> Option<serde_json::Value> {
        Summary::of(runs).and_then(|s| serde_json::to_value(s).ok())
    }
}

/// `cluster2`'s headline figures against issue 20's targets: gateway (all
/// nodes) + Redis CPU µs per delivered message, medians over the runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub baseline_saturation_us: f64,
    pub across_saturation_us: f64,
    pub local_saturation_us: f64,
    pub baseline_fixed_us: f64,
    pub across_fixed_us: f64,
    /// Relays acked `{ok:true}` and never delivered in the freeze phase
    /// (every round of every run).
    pub acked_then_lost: u64,
    /// Whether a freeze phase counted `acked_then_lost` (it is 0 otherwise).
    pub freeze_measured: bool,
}

impl Summary {
    /// `None` unless every run has the three placements (only `cluster2`).
    pub fn of(runs: &[&Cluster]) -> Option<Summary> {
        let us = |name: &str, saturation: bool| -> Option<f64> {
            let v: Vec<f64> = runs
                .iter()
                .map(|c| {
                    let pl = c.placements.iter().find(|p| p.placement == name)?;
                    let ph = if saturation {
                        &pl.saturation
                    } else {
                        &pl.fixed
                    };
                    Some(ph.relay.server_cpu_us_per_msg + ph.redis_cpu_us_per_msg)
                })
                .collect::<Option<_>>()?;
            crate::stats::Stat::of(v).map(|s| round3(s.med))
        };
        let freeze_measured = !runs.is_empty() && runs.iter().all(|c| !c.freeze.is_empty());
        Some(Summary {
            baseline_saturation_us: us(BASELINE, true)?,
            across_saturation_us: us(ACROSS, true)?,
            local_saturation_us: us(LOCAL, true)?,
            baseline_fixed_us: us(BASELINE, false)?,
            across_fixed_us: us(ACROSS, false)?,
            acked_then_lost: runs
                .iter()
                .flat_map(|c| &c.freeze)
                .map(|r| r.acked_then_lost)
                .sum(),
            freeze_measured,
        })
    }
}

impl From<Measured> for ClusterPhase {
    fn from(m: Measured) -> ClusterPhase {
        let per_msg = m.helper_cpu_s * 1e6 / m.phase.delivered_in_window.max(1) as f64;
        ClusterPhase {
            relay: m.phase,
            redis_cpu_s: round3(m.helper_cpu_s),
            redis_cpu_us_per_msg: round3(per_msg),
        }
    }
}

/// The placement names, as in the results files.
pub const BASELINE: &str = "baseline: 1 node, no Redis";
pub const LOCAL: &str = "one node";
pub const ACROSS: &str = "across nodes";

/// The process name of `cluster2`'s baseline gateway.
const BASELINE_PROC: &str = "baseline";

/// `N` gateway nodes (2 or 3) on one Redis; its results file records the
/// options as they are.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Nodes<const N: usize>(pub Params);

impl<const N: usize> Scenario for Nodes<N> {
    const NAME: &'static str = if N == 2 { "cluster2" } else { "cluster3" };
    type Outcome = Cluster;

    fn tokens(&self) -> usize {
        2 * self.0.pairs
    }

    /// Redis on a free port, then the nodes: the first on the shared port.
    fn processes(&self, setup: &Setup, kind: Kind) -> Result<Vec<Spec>> {
        if kind != Kind::Gateway {
            return Ok(vec![]);
        }
        let port = free_port()?;
        let redis = Spec {
            name: "redis".into(),
            kind: None,
            program: "redis-server".into(),
            args: [
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            .iter()
            .map(Into::into)
            .collect(),
            dir: None,
            env: vec![],
            addr: ([127, 0, 0, 1], port).into(),
        };
        let url = format!("redis://127.0.0.1:{port}");
        let mut specs = vec![redis];
        if N == 2 {
            // A helper (kind `None`) while the cluster is measured, so its
            // idle CPU is not summed into the nodes'; see [`baseline`].
            let mut base = setup
                .server_on(Kind::Gateway, BASELINE_PROC, free_port()?)
                .without("REDIS_URL");
            base.kind = None;
            specs.push(base);
            if self.0.freeze_secs > 0.0 {
                for node in &freeze::NODES {
                    specs.push(node.spec(setup, &url)?);
                }
            }
        }
        for i in 0..N {
            let (name, port) = match i {
                0 => ("gateway".to_owned(), setup.port),
                _ => (format!("gateway-{}", i + 1), free_port()?),
            };
            specs.push(
                setup
                    .server_on(Kind::Gateway, &name, port)
                    .env("REDIS_URL", url.clone()),
            );
        }
        Ok(specs)
    }

    async fn run(&self, ctx: &mut Ctx) -> Result<Cluster> {
        let p = &self.0;
        let nodes: Vec<Clients> = ctx
            .target
            .servers()
            .map(|s| ctx.clients.at(s.addr))
            .collect();
        let redis_pid = ctx
            .target
            .procs
            .iter()
            .find(|p| p.name == "redis")
            .map(|p| p.pid)
            .ok_or_else(|| anyhow!("no redis-server"))?;
        let mut placements = Vec::new();
        if N == 2 {
            placements.push(baseline(ctx, p).await?);
            let pairs = pairs_on(&nodes, p.pairs, |_| (0, 0), "same").await?;
            placements.push(measure(ctx, Some(redis_pid), pairs, p, LOCAL).await?);
        }
        let pairs = pairs_on(&nodes, p.pairs, |i| (i % N, (i + 1) % N), "across").await?;
        placements.push(measure(ctx, Some(redis_pid), pairs, p, ACROSS).await?);
        let mut freeze = Vec::new();
        if N == 2 && p.freeze_secs > 0.0 {
            let plan = freeze::Plan {
                pairs: p.freeze_pairs,
                rate: p.freeze_rate,
                freeze: Duration::from_secs_f64(p.freeze_secs),
            };
            for (i, node) in freeze::NODES.iter().enumerate() {
                freeze.push(freeze::round(ctx, &nodes, node, i, &plan).await?);
            }
        }
        Ok(Cluster {
            nodes: N,
            placements,
            freeze,
        })
    }
}

/// The baseline gateway (started idle beside the cluster) measured alone:
/// it becomes the only server under test for its phases, then stops, so the
/// cluster's nodes are neither counted nor loaded meanwhile.
async fn baseline(ctx: &mut Ctx, p: &Params) -> Result<Placement> {
    let i = ctx
        .target
        .procs
        .iter()
        .position(|q| q.name == BASELINE_PROC)
        .ok_or_else(|| anyhow!("no baseline gateway"))?;
    let mut proc = ctx.target.procs.remove(i);
    proc.kind = Some(Kind::Gateway);
    let node = ctx.clients.at(proc.addr);
    let mut other = Target { procs: vec![proc] };
    std::mem::swap(&mut ctx.target, &mut other);
    let r = async {
        let pairs = pairs_on(&[node], p.pairs, |_| (0, 0), "base").await?;
        measure(ctx, None, pairs, p, BASELINE).await
    }
    .await;
    // `other` gets the baseline back; dropping it stops that gateway.
    std::mem::swap(&mut ctx.target, &mut other);
    drop(other);
    r
}

/// The relay's sequence on the same pairs, with Redis's CPU over each
/// measured phase.
async fn measure(
    ctx: &mut Ctx,
    redis_pid: Option<u32>,
    pairs: Vec<Pair>,
    p: &Params,
    placement: &str,
) -> Result<Placement> {
    let seq = Sequence {
        rate: p.rate,
        window: p.window,
        dur: Duration::from_secs_f64(p.secs),
    };
    let (fixed, saturation) = fixed_then_saturation(ctx, pairs, &seq, redis_pid).await?;
    Ok(Placement {
        placement: placement.to_owned(),
        fixed: fixed.into(),
        saturation: saturation.into(),
    })
}

/// `n` rooms of 2; room `i` has its first peer on node `at(i).0` and the
/// second on node `at(i).1`.
async fn pairs_on(
    nodes: &[Clients],
    n: usize,
    at: impl Fn(usize) -> (usize, usize),
    tag: &str,
) -> Result<Vec<Pair>> {
    let mut firsts = Vec::new();
    let mut seconds = Vec::new();
    for (k, node) in nodes.iter().enumerate() {
        let a_here: Vec<usize> = (0..n).filter(|&i| at(i).0 == k).collect();
        let b_here: Vec<usize> = (0..n).filter(|&i| at(i).1 == k).collect();
        // Tokens: room i's first peer has token 2i, its second 2i + 1.
        for (rooms, side, out) in [(a_here, 0, &mut firsts), (b_here, 1, &mut seconds)] {
            for i in rooms {
                let conn = node.connect(2 * i + side).await?;
                out.push((i, conn));
            }
        }
    }
    firsts.sort_by_key(|(i, _)| *i);
    seconds.sort_by_key(|(i, _)| *i);
    let rooms = firsts
        .into_iter()
        .zip(seconds)
        .map(|((i, a), (_, b))| (i, a, b))
        .collect();
    into_rooms(rooms, tag).await
}
