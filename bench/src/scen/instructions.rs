//! Instructions per relayed message: the relay scenario's two phases against
//! the gateway running under valgrind's callgrind, which counts the
//! instructions the gateway executes (its own code, the libraries, not the
//! kernel). Unlike CPU time, the count hardly moves with the noise of a
//! shared machine, so it shows what one change does. Gateway only: the
//! reference's JavaScript is compiled as it runs, which callgrind counts too.
//!
//! Callgrind starts with its instrumentation off (start-up and the sockets'
//! set-up run at valgrind's lighter speed), switches it on after the pairs are
//! made, zeroes the counters before each phase and dumps them after its
//! drain: each dump holds one phase, wake-ups included. With
//! `--instr-join-sockets`, a third phase counts join → leave cycles the same way.
//!
//! `--instr-placement` puts the node under callgrind in a cluster (issue 20):
//! `local` runs it with `REDIS_URL` set (a `redis-server` of its own) and
//! both peers of every room on it, what a cluster costs a relay that does
//! not cross nodes; `across` adds a second node (not counted) with every
//! room's second peer, so the counted node sends half the relays to Redis
//! and receives the other half from it (`callgrind_annotate` on its dumps
//! splits the two sides).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tokio::time::sleep;

use super::join::{JoinPhase, Pace, join_cycles, join_rooms};
use super::relay::{Pair, RelayMode, RelayPhase, into_rooms, make_pairs, relay};
use super::{Clients, Ctx, Scenario};
use crate::results::Outcome;
use crate::server::{Kind, Setup, Spec, free_port};
use crate::ws::Conn;

/// Where the counted node is and where the rooms' peers are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// One node without Redis (the baseline).
    #[default]
    Alone,
    /// A cluster node (Redis) with both peers of every room on it.
    Local,
    /// Two cluster nodes, every room across them; the first node counted.
    Across,
}

#[derive(Clone, Debug, clap::Args, Serialize, Deserialize)]
#[group(id = "instructions")]
#[command(next_help_heading = "Instructions")]
pub struct Params {
    #[arg(id = "instr_pairs", long = "instr-pairs", default_value_t = 100)]
    pub pairs: usize,
    /// Offered rate of the fixed-rate phase (under callgrind the gateway runs
    /// some 50× slower, so this stays well below the relay scenario's).
    #[arg(id = "instr_rate", long = "instr-rate", default_value_t = 1_000.0)]
    pub rate: f64,
    /// Messages in flight per sender in the saturation phase.
    #[arg(id = "instr_window", long = "instr-window", default_value_t = 16)]
    pub window: u64,
    #[arg(id = "instr_secs", long = "instr-secs", default_value_t = 5.0)]
    pub secs: f64,
    #[arg(
        id = "instr_placement",
        long = "instr-placement",
        value_enum,
        default_value_t = Placement::Alone
    )]
    #[serde(default)]
    pub placement: Placement,
    /// Sockets of a join phase after the relay phases (0: none): join → leave
    /// cycles at `--instr-join-rate`, in rooms of 2..10 as in the join scenario.
    #[arg(
        id = "instr_join_sockets",
        long = "instr-join-sockets",
        default_value_t = 0
    )]
    #[serde(default)]
    pub join_sockets: usize,
    /// Join → leave cycles per second over all sockets of the join phase.
    #[arg(
        id = "instr_join_rate",
        long = "instr-join-rate",
        default_value_t = 100.0
    )]
    #[serde(default)]
    pub join_rate: f64,
}

/// One phase and what the gateway executed over it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Counted {
    pub phase: RelayPhase,
    /// Instructions from the counters' reset to their dump.
    pub instructions: u64,
    pub instructions_per_msg: f64,
}

/// The join phase and what the gateway executed over it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CountedJoin {
    pub phase: JoinPhase,
    pub instructions: u64,
    /// Per join → leave cycle (`room:joined` to the joiner, `peer:joined` to
    /// its peers, then `room:left` and `peer:left`).
    pub instructions_per_join_leave: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Instructions {
    pub fixed: Counted,
    pub saturation: Counted,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub join: Option<CountedJoin>,
}

impl Outcome for Instructions {
    fn ok(&self) -> bool {
        self.fixed.phase.ok
            && self.saturation.phase.ok
            && self.join.as_ref().is_none_or(|j| j.phase.ok)
    }
}

impl Scenario for Params {
    const NAME: &'static str = "instructions";
    type Outcome = Instructions;

    fn tokens(&self) -> usize {
        (2 * self.pairs).max(self.join_sockets)
    }

    fn processes(&self, setup: &Setup, kind: Kind) -> Result<Vec<Spec>> {
        if kind != Kind::Gateway {
            return Ok(vec![]);
        }
        let counted = setup.server(kind);
        if self.placement == Placement::Alone {
            return Ok(vec![under_callgrind(counted, &setup.log_dir)]);
        }
        let port = free_port()?;
        let url = format!("redis://127.0.0.1:{port}");
        let mut specs = vec![redis(port)];
        specs.push(under_callgrind(
            counted.env("REDIS_URL", &url),
            &setup.log_dir,
        ));
        if self.placement == Placement::Across {
            // A helper: its CPU is not the figure, its address is where the
            // second peers connect.
            let mut other = setup
                .server_on(kind, OTHER_NODE, free_port()?)
                .env("REDIS_URL", url);
            other.kind = None;
            specs.push(other);
        }
        Ok(specs)
    }

    async fn run(&self, ctx: &mut Ctx) -> Result<Instructions> {
        let server = ctx.target.servers().next().context("no gateway started")?;
        let (pid, dir) = (server.pid, server.log.parent().map(Path::to_path_buf));
        let dir = dir.context("the gateway's log has no directory")?;
        let pairs = match self.placement {
            Placement::Alone | Placement::Local => {
                make_pairs(&ctx.clients, 0, self.pairs, "instr").await?
            }
            Placement::Across => {
                let other = ctx.target.procs.iter().find(|p| p.name == OTHER_NODE);
                let other = ctx.clients.at(other.context("no second node")?.addr);
                across(&ctx.clients, &other, self.pairs).await?
            }
        };
        control(pid, &["--instr=on"])?;
        let dur = Duration::from_secs_f64(self.secs);
        let rate = RelayMode::Rate(self.rate);
        // Unmeasured: the code paths' first translation by valgrind.
        let (_, pairs) = relay(ctx, pairs, rate, Duration::from_secs(1)).await?;
        let (fixed, pairs) = counted(ctx, (pid, &dir), pairs, rate, dur).await?;
        sleep(Duration::from_millis(300)).await;
        let window = RelayMode::Window(self.window);
        let (saturation, _) = counted(ctx, (pid, &dir), pairs, window, dur).await?;
        let join = match self.join_sockets {
            0 => None,
            n => {
                sleep(Duration::from_millis(300)).await;
                let rooms = join_rooms(ctx, n, "instrjoin").await?;
                control(pid, &["--zero"])?;
                let phase = join_cycles(ctx, rooms, dur, Pace::Rate(self.join_rate)).await?;
                let instructions = dump(pid, &dir).await?;
                let per = instructions as f64 / phase.joins.max(1) as f64;
                Some(CountedJoin {
                    phase,
                    instructions,
                    instructions_per_join_leave: per.round(),
                })
            }
        };
        Ok(Instructions {
            fixed,
            saturation,
            join,
        })
    }

    fn time_limit(&self) -> Duration {
        Duration::from_secs(300)
    }
}

/// The name of `across`'s second node.
const OTHER_NODE: &str = "gateway-2";

/// A `redis-server` of the run's own on `port`, nothing saved.
fn redis(port: u16) -> Spec {
    let args = ["--port", &port.to_string(), "--bind", "127.0.0.1"]
        .into_iter()
        .chain(["--save", "", "--appendonly", "no"])
        .map(Into::into)
        .collect();
    Spec {
        name: "redis".into(),
        kind: None,
        program: "redis-server".into(),
        args,
        dir: None,
        env: vec![],
        addr: ([127, 0, 0, 1], port).into(),
    }
}

/// `n` rooms of 2, the first peer of each on `here`, the second on `there`.
async fn across(here: &Clients, there: &Clients, n: usize) -> Result<Vec<Pair>> {
    let mut rooms: Vec<(usize, Conn, Conn)> = Vec::with_capacity(n);
    for i in 0..n {
        rooms.push((
            i,
            here.connect(2 * i).await?,
            there.connect(2 * i + 1).await?,
        ));
    }
    into_rooms(rooms, "instr-across").await
}

/// The gateway's command under callgrind, its dumps in the logs directory.
fn under_callgrind(mut spec: Spec, log_dir: &Path) -> Spec {
    let out = log_dir.join("callgrind.out.%p");
    let mut args = vec![
        "--tool=callgrind".into(),
        "--instr-atstart=no".into(),
        format!("--callgrind-out-file={}", out.display()).into(),
        spec.program,
    ];
    args.append(&mut spec.args);
    spec.program = "valgrind".into();
    spec.args = args;
    spec
}

/// One phase between a reset of the counters and their dump; `gateway`:
/// its pid and the directory of its dumps.
async fn counted(
    ctx: &mut Ctx,
    (pid, dir): (u32, &Path),
    pairs: Vec<Pair>,
    mode: RelayMode,
    dur: Duration,
) -> Result<(Counted, Vec<Pair>)> {
    control(pid, &["--zero"])?;
    let (phase, pairs) = relay(ctx, pairs, mode, dur).await?;
    let instructions = dump(pid, dir).await?;
    let per_msg = instructions as f64 / phase.delivered.max(1) as f64;
    Ok((
        Counted {
            phase,
            instructions,
            instructions_per_msg: per_msg.round(),
        },
        pairs,
    ))
}

/// `callgrind_control <args> <pid>`.
fn control(pid: u32, args: &[&str]) -> Result<()> {
    // valgrind names the pipes it is controlled through after `HOST`, which
    // the gateway is started with (its listen address): the same here.
    let out = Command::new("callgrind_control")
        .env("HOST", "127.0.0.1")
        .args(args)
        .arg(pid.to_string())
        .output()
        .context("running callgrind_control (valgrind installed?)")?;
    if !out.status.success() {
        bail!(
            "callgrind_control {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Dumps the counters and reads the instructions of the newest dump.
async fn dump(pid: u32, dir: &Path) -> Result<u64> {
    let before = dumps(pid, dir);
    control(pid, &["--dump"])?;
    for _ in 0..100 {
        let now = dumps(pid, dir);
        if let Some(newest) = now.iter().find(|p| !before.contains(p)) {
            // The file is written while we look: wait for its totals.
            if let Some(n) = totals(&std::fs::read_to_string(newest).unwrap_or_default()) {
                return Ok(n);
            }
        }
        sleep(Duration::from_millis(50)).await;
    }
    bail!("no callgrind dump appeared in {}", dir.display())
}

/// The dump files of `pid`: `callgrind.out.<pid>.<n>`.
fn dumps(pid: u32, dir: &Path) -> Vec<PathBuf> {
    let prefix = format!("callgrind.out.{pid}.");
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The `totals:` line of a callgrind dump (its only event is `Ir`).
fn totals(dump: &str) -> Option<u64> {
    dump.lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_gives_its_total_instructions() {
        let dump = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nsummary: 142401202\nfl=(1) x\n0 3\ntotals: 142401211\n";
        assert_eq!(totals(dump), Some(142401211));
        assert_eq!(totals("events: Ir\nsummary: 5\n"), None);
    }

    #[test]
    fn the_gateway_runs_under_callgrind_with_its_own_arguments() {
        let setup = Setup {
            root: PathBuf::from("/r"),
            gateway_bin: PathBuf::from("/r/gw"),
            port: 4000,
            secret: "s".into(),
            log_dir: PathBuf::from("/logs"),
        };
        let spec = Params {
            pairs: 1,
            rate: 1.0,
            window: 1,
            secs: 1.0,
            placement: Placement::Alone,
            join_sockets: 0,
            join_rate: 1.0,
        }
        .processes(&setup, Kind::Gateway)
        .unwrap()
        .remove(0);
        assert_eq!(spec.program, "valgrind");
        assert_eq!(
            spec.args,
            [
                "--tool=callgrind",
                "--instr-atstart=no",
                "--callgrind-out-file=/logs/callgrind.out.%p",
                "/r/gw"
            ]
        );
        assert_eq!(spec.kind, Some(Kind::Gateway));
    }
}
