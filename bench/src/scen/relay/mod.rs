//! The relay scenario, and the relay phase other scenarios reuse.
//!
//! Relay: rooms of 2 whose peers send `webrtc:ice` to each other, at a fixed
//! offered rate, then at saturation (a window of messages in flight per
//! sender). Every message is checked on arrival (sender, target, sequence).
//!
//! Beside the scenario: the rooms of 2 ([`pairs`]), one pair's traffic
//! ([`traffic`]), and one measured phase and the sequence of them
//! ([`phase`]), which the capacity, cluster and smoke scenarios reuse.

mod pairs;
mod phase;
mod traffic;

use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

pub use pairs::{Pair, into_rooms, make_pairs};
pub use phase::{Measured, RelayMode, RelayPhase, Sequence, fixed_then_saturation, relay};

use super::{Ctx, Scenario};
use crate::results::Outcome;
use crate::server::{Kind, Setup, Spec};

#[derive(Clone, Debug, clap::Args, Serialize, Deserialize)]
#[group(id = "relay")]
#[command(next_help_heading = "Relay")]
pub struct Params {
    #[arg(id = "relay_pairs", long = "relay-pairs", default_value_t = 200)]
    pub pairs: usize,
    /// Offered relay rate, messages per second (all senders together).
    #[arg(id = "relay_rate", long = "relay-rate", default_value_t = 5_000.0)]
    pub rate: f64,
    /// Messages in flight per sender at saturation.
    #[arg(long, default_value_t = 16)]
    pub window: u64,
    #[arg(id = "relay_secs", long = "relay-secs", default_value_t = 5.0)]
    pub secs: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Relay {
    pub fixed: RelayPhase,
    pub saturation: RelayPhase,
}

impl Outcome for Relay {
    fn ok(&self) -> bool {
        self.fixed.ok && self.saturation.ok
    }
}

impl Scenario for Params {
    const NAME: &'static str = "relay";
    type Outcome = Relay;

    fn tokens(&self) -> usize {
        2 * self.pairs
    }

    /// Pairs, a 1 s warm-up, then a fixed offered rate, then saturation.
    async fn run(&self, ctx: &mut Ctx) -> Result<Relay> {
        let pairs = make_pairs(&ctx.clients, 0, self.pairs, "relay").await?;
        let seq = Sequence {
            rate: self.rate,
            window: self.window,
            dur: Duration::from_secs_f64(self.secs),
        };
        let (fixed, saturation) = fixed_then_saturation(ctx, pairs, &seq, None).await?;
        Ok(Relay {
            fixed: fixed.phase,
            saturation: saturation.phase,
        })
    }
}

/// The relay scenario against the gateway with its default runtime (a worker
/// per core, `WORKER_THREADS` unset): what a deployment runs. On a 2-core
/// machine the generator shares the cores with both workers, so this shows
/// what the defaults cost per message, not what more cores would carry.
/// Its results file records the relay's options as they are.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DefaultRuntime(pub Params);

impl Scenario for DefaultRuntime {
    const NAME: &'static str = "relay-default";
    type Outcome = Relay;

    fn tokens(&self) -> usize {
        self.0.tokens()
    }

    fn processes(&self, setup: &Setup, kind: Kind) -> Result<Vec<Spec>> {
        Ok(match kind {
            Kind::Gateway => vec![setup.server(kind).without("WORKER_THREADS")],
            Kind::Reference => vec![],
        })
    }

    async fn run(&self, ctx: &mut Ctx) -> Result<Relay> {
        self.0.run(ctx).await
    }
}
