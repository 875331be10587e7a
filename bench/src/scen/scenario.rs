//! The [`Scenario`] trait the runner drives. A scenario is its options (a
//! `clap::Args` struct, recorded in the results file as `params`): they name
//! its figures, the processes it needs and the run itself.

use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::ctx::Ctx;
use crate::results::{Outcome, Run};
use crate::server::{Kind, Setup, Spec};

pub trait Scenario: Serialize + DeserializeOwned {
    /// The CLI word and the results file's name.
    const NAME: &'static str;
    type Outcome: Outcome;

    /// How many distinct tokens (users) a run needs.
    fn tokens(&self) -> usize;

    /// Repetitions per server (the CLI's `--reps` by default).
    fn reps(&self, cli_reps: usize) -> usize {
        cli_reps
    }

    /// The processes a run against `kind` starts, in order; the servers under
    /// test among them make the run's CPU and memory figures. By default, the
    /// one server on the shared port. Empty: the scenario does not run
    /// against `kind`.
    fn processes(&self, setup: &Setup, kind: Kind) -> Result<Vec<Spec>> {
        Ok(vec![setup.server(kind)])
    }

    /// How long a run may take before it counts as failed.
    fn time_limit(&self) -> Duration {
        Duration::from_secs(600)
    }

    /// The run itself, once the processes listen.
    async fn run(&self, ctx: &mut Ctx) -> Result<Self::Outcome>;

    /// A line for the console after each run (the CI scenarios print one).
    fn summary(_run: &Run<Self::Outcome>) -> Option<String> {
        None
    }
}
