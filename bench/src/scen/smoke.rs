//! Smoke: every measuring path once, small and short, for CI (`scripts/test.sh`):
//! nothing lost, misrouted or reordered, on both servers.

use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::idle::{Idle, idle};
use super::join::{JoinPhase, Pace, join_storm};
use super::relay::{RelayMode, RelayPhase, make_pairs, relay};
use super::{Ctx, Scenario};
use crate::results::{Outcome, Run};

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Params {}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Smoke {
    pub idle: Idle,
    pub join: JoinPhase,
    pub fixed: RelayPhase,
    pub saturation: RelayPhase,
}

impl Outcome for Smoke {
    fn ok(&self) -> bool {
        self.idle.ok() && self.join.ok && self.fixed.ok && self.saturation.ok
    }
}

impl Scenario for Params {
    const NAME: &'static str = "smoke";
    type Outcome = Smoke;

    fn tokens(&self) -> usize {
        50
    }

    fn reps(&self, _: usize) -> usize {
        1
    }

    async fn run(&self, ctx: &mut Ctx) -> Result<Smoke> {
        let idle = idle(ctx, 50, Duration::from_millis(500)).await;
        let sec = Duration::from_secs(1);
        let join = join_storm(ctx, 50, sec, "smokejoin", Pace::Closed).await?;
        let p = make_pairs(&ctx.clients, 0, 25, "smoke").await?;
        let rate = RelayMode::Rate(1000.0);
        let (fixed, p) = relay(ctx, p, rate, Duration::from_secs(2)).await?;
        let (saturation, _) = relay(ctx, p, RelayMode::Window(8), sec).await?;
        Ok(Smoke {
            idle,
            join,
            fixed,
            saturation,
        })
    }

    fn summary(run: &Run<Smoke>) -> Option<String> {
        Some(run.line(Self::NAME, figures))
    }
}

/// The console line's figures.
fn figures(r: &Smoke) -> String {
    format!(
        "idle {} sockets, {} B/socket | join {} joins/s p99 {} ms | relay {} msg/s p99 {} ms, lost {} misrouted {} out-of-order {} | saturation {} msg/s lost {} misrouted {}",
        r.idle.connected,
        r.idle.per_socket_bytes,
        r.join.joins_per_s,
        r.join.latency.p99_ms,
        r.fixed.throughput_per_s,
        r.fixed.latency.p99_ms,
        r.fixed.lost,
        r.fixed.misrouted,
        r.fixed.out_of_order,
        r.saturation.throughput_per_s,
        r.saturation.lost,
        r.saturation.misrouted,
    )
}
