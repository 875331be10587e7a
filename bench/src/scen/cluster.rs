//! Cluster relay: the relay scenario's rooms of 2 with their peers on
//! different gateway nodes sharing one `redis-server` (`REDIS_URL`), so every
//! message crosses Redis pub/sub. `cluster2` runs 2 nodes, first with both
//! peers of a room on one node (what Redis costs without crossing nodes),
//! then across the nodes; `cluster3` runs 3 nodes, each room across two of
//! them. CPU is summed over every node; Redis's is reported apart. Gateway
//! only: the reference has no cluster mode here.

use std::time::Duration;

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};

use super::relay::{Measured, Pair, RelayPhase, Sequence, fixed_then_saturation, into_rooms};
use super::{Clients, Ctx, Scenario};
use crate::results::Outcome;
use crate::server::{Kind, Setup, Spec, free_port};
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
}

impl Outcome for Cluster {
    fn ok(&self) -> bool {
        self.placements
            .iter()
            .all(|p| p.fixed.relay.ok && p.saturation.relay.ok)
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
            .find(|p| p.kind.is_none())
            .map(|p| p.pid)
            .ok_or_else(|| anyhow!("no redis-server"))?;
        let mut placements = Vec::new();
        if N == 2 {
            let pairs = pairs_on(&nodes, p.pairs, |_| (0, 0), "same").await?;
            placements.push(measure(ctx, redis_pid, pairs, p, "one node").await?);
        }
        let pairs = pairs_on(&nodes, p.pairs, |i| (i % N, (i + 1) % N), "across").await?;
        placements.push(measure(ctx, redis_pid, pairs, p, "across nodes").await?);
        Ok(Cluster {
            nodes: N,
            placements,
        })
    }
}

/// The relay's sequence on the same pairs, with Redis's CPU over each
/// measured phase.
async fn measure(
    ctx: &mut Ctx,
    redis_pid: u32,
    pairs: Vec<Pair>,
    p: &Params,
    placement: &str,
) -> Result<Placement> {
    let seq = Sequence {
        rate: p.rate,
        window: p.window,
        dur: Duration::from_secs_f64(p.secs),
    };
    let (fixed, saturation) = fixed_then_saturation(ctx, pairs, &seq, Some(redis_pid)).await?;
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
