//! Load generator: the Rust gateway side by side with the NestJS reference.
//!
//! `cargo run --release -p bench -- all` (or `idle`, `join`, `relay`,
//! `relay-default`, `capacity`, `soak`, `cluster`, `smoke`, `report`). Starts and stops the servers
//! itself, writes JSON under `bench/results/` and regenerates `BENCHMARKS.md`.
//!
//! The generator runs on a current-thread tokio runtime (one core), leaving
//! the other core of a 2-core machine to the server under test.

mod machine;
mod procfs;
mod report;
mod results;
mod runner;
mod scen;
mod server;
mod stats;
mod syscalls;
mod tokens;
mod ws;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::{Parser, ValueEnum};

use runner::Runner;
use scen::{capacity, cluster, idle, instructions, join, memory, relay, smoke, soak};
use server::{Kind, Setup};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// idle, join, relay, relay-default, capacity, soak and cluster.
    All,
    Idle,
    Join,
    Relay,
    /// The relay scenario against the gateway with its default runtime
    /// (a worker per core); gateway only.
    RelayDefault,
    Capacity,
    Soak,
    /// Relay across gateway nodes on one Redis (2 and 3 nodes; gateway only).
    Cluster,
    /// The 2-node cluster alone (its baseline, the relay phases, the freeze
    /// phase): issue 20's `summary`.
    Cluster2,
    /// Instructions per relayed message, the gateway under callgrind (gateway
    /// only; not part of `all`).
    Instructions,
    /// Issue 23's four cases against the gateway with default settings,
    /// peak RSS per case (gateway only; not part of `all`).
    Memory,
    Smoke,
    /// Only regenerate BENCHMARKS.md and the plots from bench/results/*.json.
    Report,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Servers {
    Both,
    Gateway,
    Reference,
}

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "Socket.IO signaling load generator: gateway vs NestJS reference"
)]
struct Cli {
    #[arg(value_enum, default_value = "all")]
    scenario: Scenario,
    /// Repetitions of each scenario per server (servers alternate).
    #[arg(long, default_value_t = 3)]
    reps: usize,
    #[arg(long, value_enum, default_value = "both")]
    servers: Servers,
    /// Do not run cargo build / npm run build first.
    #[arg(long)]
    no_build: bool,
    /// Port the servers listen on (0: pick a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Number of 127.0.0.x source addresses the sockets are spread over.
    #[arg(long, default_value_t = 8)]
    srcs: usize,
    #[command(flatten)]
    idle: idle::Params,
    #[command(flatten)]
    join: join::Params,
    #[command(flatten)]
    relay: relay::Params,
    #[command(flatten)]
    capacity: capacity::Params,
    #[command(flatten)]
    soak: soak::Params,
    #[command(flatten)]
    cluster: cluster::Params,
    #[command(flatten)]
    instructions: instructions::Params,
    /// Where JSON results and plots go.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Gateway binary (default: target/release/gateway).
    #[arg(long)]
    gateway_bin: Option<PathBuf>,
}

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// Raises the open-files limit to the hard limit; returns it.
fn raise_nofile() -> u64 {
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
            return r.rlim_cur;
        }
    }
    0
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        eprintln!("bench: cannot start the tokio runtime");
        return ExitCode::FAILURE;
    };
    let code = rt.block_on(async {
        tokio::spawn(async {
            let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            eprintln!("interrupted: stopping the servers");
            server::kill_all_children();
            std::process::exit(130);
        });
        match run(cli).await {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("bench: {e:#}");
                ExitCode::FAILURE
            }
        }
    });
    server::kill_all_children();
    code
}

async fn run(cli: Cli) -> Result<bool> {
    let root = root();
    let results = root.join("bench/results");
    let out = cli.out.clone().unwrap_or_else(|| results.clone());
    std::fs::create_dir_all(&out)?;
    if cli.scenario == Scenario::Report {
        report::write(&root, &out)?;
        return Ok(true);
    }
    let nofile = raise_nofile();
    let gateway_bin = cli
        .gateway_bin
        .clone()
        .unwrap_or_else(|| root.join("target/release/gateway"));
    let kinds: Vec<Kind> = match cli.servers {
        Servers::Both => vec![Kind::Gateway, Kind::Reference],
        Servers::Gateway => vec![Kind::Gateway],
        Servers::Reference => vec![Kind::Reference],
    };
    server::build(
        &root,
        &gateway_bin,
        kinds.contains(&Kind::Gateway),
        kinds.contains(&Kind::Reference),
        cli.no_build,
    )?;
    let port = match cli.port {
        0 => server::free_port()?,
        p => p,
    };
    let runner = Runner {
        setup: Setup {
            root: root.clone(),
            gateway_bin,
            port,
            secret: format!("bench-secret-{}", std::process::id()),
            log_dir: std::env::temp_dir().join(format!("bench-logs-{}", std::process::id())),
        },
        out: out.clone(),
        kinds,
        reps: cli.reps,
        srcs: cli.srcs.clamp(1, 250),
        base: Instant::now(),
    };
    eprintln!(
        "bench: port {port}, nofile {nofile}, logs in {}",
        runner.setup.log_dir.display()
    );
    let one = |s: Scenario| cli.scenario == Scenario::All || cli.scenario == s;
    let mut ok = true;
    if one(Scenario::Idle) {
        let p = idle::Params {
            srcs: runner.srcs,
            ..cli.idle.clone()
        };
        ok &= runner.run(p).await?;
    }
    if one(Scenario::Join) {
        ok &= runner.run(cli.join.clone()).await?;
    }
    if one(Scenario::Relay) {
        ok &= runner.run(cli.relay.clone()).await?;
    }
    if one(Scenario::RelayDefault) {
        ok &= runner.run(relay::DefaultRuntime(cli.relay.clone())).await?;
    }
    if one(Scenario::Capacity) {
        ok &= runner.run(cli.capacity.clone()).await?;
    }
    if one(Scenario::Soak) {
        ok &= runner.run(cli.soak.clone()).await?;
    }
    if one(Scenario::Cluster) || cli.scenario == Scenario::Cluster2 {
        ok &= runner.run(cluster::Nodes::<2>(cli.cluster.clone())).await?;
    }
    if one(Scenario::Cluster) {
        ok &= runner.run(cluster::Nodes::<3>(cli.cluster.clone())).await?;
    }
    if cli.scenario == Scenario::Instructions {
        ok &= runner.run(cli.instructions.clone()).await?;
    }
    if cli.scenario == Scenario::Memory {
        ok &= runner.run(memory::Params::default()).await?;
    }
    if cli.scenario == Scenario::Smoke {
        ok &= runner.run(smoke::Params::default()).await?;
    } else if out == results {
        report::write(&root, &out)?;
    } else {
        // Results elsewhere (CI, profiling) leave BENCHMARKS.md alone.
        eprintln!(
            "BENCHMARKS.md not rewritten (results in {}; `bench report --out` does it)",
            out.display()
        );
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_options_of_every_scenario_fit_in_one_command_line() {
        Cli::command().debug_assert();
        let cli = Cli::parse_from(["bench", "soak", "--soak-secs", "30", "--relay-rate", "7"]);
        assert_eq!(cli.scenario, Scenario::Soak);
        assert_eq!(cli.soak.secs, 30.0);
        assert_eq!(cli.relay.rate, 7.0);
        assert_eq!(cli.soak.relay_rate, 1_000.0);
    }
}
