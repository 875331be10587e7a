//! Runs one scenario against each server, repetition after repetition
//! (alternating which server goes first), and writes its results file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use crate::machine::Machine;
use crate::results::{Doc, Outcome, Run};
use crate::scen::{Clients, Ctx, Scenario};
use crate::server::{Kind, Setup, Target};
use crate::tokens;

pub struct Runner {
    pub setup: Setup,
    pub out: PathBuf,
    pub kinds: Vec<Kind>,
    pub reps: usize,
    pub srcs: usize,
    pub base: Instant,
}

impl Runner {
    /// Every repetition against every server; `Ok(false)` if any run failed.
    pub async fn run<S: Scenario>(&self, p: S) -> Result<bool> {
        let tokens = Arc::new(tokens::mint(&self.setup.secret, p.tokens().max(1))?);
        let mut runs = Vec::new();
        for rep in 0..p.reps(self.reps).max(1) {
            let mut order = self.kinds.clone();
            if rep % 2 == 1 {
                order.reverse();
            }
            for kind in order {
                let Some(run) = self.run_one::<S>(&p, &tokens, kind, rep).await else {
                    continue;
                };
                eprintln!(
                    "{} {} rep {rep}: {}",
                    S::NAME,
                    kind.name(),
                    if run.ok { "ok" } else { "FAILED" }
                );
                if let Some(line) = S::summary(&run) {
                    println!("{line}");
                }
                runs.push(run);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        let all_ok = runs.iter().all(|r| r.ok);
        let gateway: Vec<&S::Outcome> = runs
            .iter()
            .filter(|r| r.server == Kind::Gateway)
            .filter_map(|r| r.result.as_ref())
            .collect();
        let summary = S::Outcome::summary_of(&gateway);
        let doc = Doc {
            scenario: S::NAME.to_owned(),
            params: p,
            machine: Machine::capture(&self.setup.root),
            generator:
                "bench (Rust, tokio current-thread runtime: 1 core), hand-rolled WebSocket client"
                    .to_owned(),
            unix_time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            runs,
            summary,
        };
        let path = self.out.join(format!("{}.json", S::NAME));
        std::fs::write(&path, serde_json::to_string_pretty(&doc)?)?;
        eprintln!("wrote {}", path.display());
        Ok(all_ok)
    }

    /// One run; `None` when the scenario does not run against `kind`.
    async fn run_one<S: Scenario>(
        &self,
        p: &S,
        tokens: &Arc<Vec<String>>,
        kind: Kind,
        rep: usize,
    ) -> Option<Run<S::Outcome>> {
        let failed = |error: String| Run {
            result: None,
            ok: false,
            server: kind,
            rep,
            error: Some(error),
            server_died: false,
            server_log_tail: None,
            server_start_rss_kb: 0,
        };
        let specs = match p.processes(&self.setup, kind) {
            Ok(s) if s.is_empty() => return None,
            Ok(s) => s,
            Err(e) => return Some(failed(format!("{e:#}"))),
        };
        eprintln!("{} {} rep {rep}: starting", S::NAME, kind.name());
        let tag = format!("{}-{rep}", S::NAME);
        let target = match Target::start(specs, &self.setup.log_dir, &tag).await {
            Ok(t) => t,
            Err(e) => return Some(failed(format!("{e:#}"))),
        };
        let rss_start = target.rss_kb();
        let clients = Clients {
            addr: target.addr(),
            tokens: tokens.clone(),
            srcs: self.srcs,
            base: self.base,
        };
        let mut ctx = Ctx { clients, target };
        let limit = p.time_limit();
        let r = tokio::time::timeout(limit, p.run(&mut ctx)).await;
        let mut target = ctx.target;
        let (result, error) = match r {
            Ok(Ok(v)) => (Some(v), None),
            Ok(Err(e)) => (None, Some(format!("{e:#}"))),
            Err(_) => (None, Some(format!("scenario timed out ({limit:?})"))),
        };
        let alive = target.alive();
        let ok = alive && result.as_ref().is_some_and(Outcome::ok);
        if let Some(e) = &error {
            eprintln!("  {} failed: {e}", kind.name());
        }
        let run = Run {
            result,
            ok,
            server: kind,
            rep,
            error,
            server_died: !alive,
            server_log_tail: (!alive).then(|| target.dead_logs()),
            server_start_rss_kb: rss_start,
        };
        drop(target); // stops the processes (SIGTERM, then SIGKILL)
        Some(run)
    }
}
