//! Load generator: the Rust gateway side by side with the NestJS reference.
//!
//! `cargo run --release -p bench -- all` (or `idle`, `join`, `relay`,
//! `capacity`, `smoke`, `report`). Starts and stops both servers itself,
//! writes JSON under `bench/results/` and regenerates `BENCHMARKS.md`.
//!
//! The generator runs on a current-thread tokio runtime (one core), leaving
//! the other core of a 2-core machine to the server under test.

mod jwt;
mod report;
mod scen;
mod server;
mod ws;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::{Parser, ValueEnum};
use serde_json::{Value, json};

use scen::Ctx;
use server::{Kind, ServerProc, Setup};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    All,
    Idle,
    Join,
    Relay,
    Capacity,
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
    /// Port both servers listen on (0: pick a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Number of 127.0.0.x source addresses the sockets are spread over.
    #[arg(long, default_value_t = 8)]
    srcs: usize,
    #[arg(long, default_value_t = 10_000)]
    idle_sockets: usize,
    #[arg(long, default_value_t = 1_000)]
    join_sockets: usize,
    /// Sockets of the light join phase (latency under moderate load).
    #[arg(long, default_value_t = 100)]
    join_light_sockets: usize,
    /// Joins per second offered by the paced join phase (open loop, storm
    /// sockets).
    #[arg(long, default_value_t = 1_000.0)]
    join_rate: f64,
    #[arg(long, default_value_t = 5.0)]
    join_secs: f64,
    #[arg(long, default_value_t = 200)]
    relay_pairs: usize,
    /// Offered relay rate, messages per second (all senders together).
    #[arg(long, default_value_t = 5_000.0)]
    relay_rate: f64,
    /// Messages in flight per sender at saturation.
    #[arg(long, default_value_t = 16)]
    window: u64,
    #[arg(long, default_value_t = 5.0)]
    relay_secs: f64,
    /// Capacity steps (total sockets).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,2000,5000,8000,11000,14000,17000,19000"
    )]
    cap_steps: Vec<usize>,
    #[arg(long, default_value_t = 50)]
    cap_probe_pairs: usize,
    #[arg(long, default_value_t = 1_000.0)]
    cap_probe_rate: f64,
    #[arg(long, default_value_t = 2.0)]
    cap_probe_secs: f64,
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(async {
        tokio::spawn(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("signal");
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
    let out = cli
        .out
        .clone()
        .unwrap_or_else(|| root.join("bench/results"));
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
    let port = if cli.port != 0 {
        cli.port
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    };
    let secret = format!("bench-secret-{}", std::process::id());
    let max_tokens = cli
        .cap_steps
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .max(cli.idle_sockets)
        .max(cli.join_sockets)
        .max(2 * cli.relay_pairs)
        + 16;
    let tokens = Arc::new(jwt::tokens(&secret, max_tokens));
    let setup = Setup {
        root: root.clone(),
        gateway_bin,
        port,
        secret,
        log_dir: std::env::temp_dir().join(format!("bench-logs-{}", std::process::id())),
    };
    let ctx = Ctx {
        addr: setup.addr(),
        tokens,
        srcs: cli.srcs.clamp(1, 250),
        base: Instant::now(),
    };
    eprintln!(
        "bench: port {port}, {} tokens, nofile {nofile}, logs in {}",
        ctx.tokens.len(),
        setup.log_dir.display()
    );

    let list: Vec<Scenario> = match cli.scenario {
        Scenario::All => vec![
            Scenario::Idle,
            Scenario::Join,
            Scenario::Relay,
            Scenario::Capacity,
        ],
        s => vec![s],
    };
    let mut all_ok = true;
    for sc in list {
        let reps = if sc == Scenario::Smoke {
            1
        } else {
            cli.reps.max(1)
        };
        let mut runs = Vec::new();
        for rep in 0..reps {
            let mut order = kinds.clone();
            if rep % 2 == 1 {
                order.reverse();
            }
            for kind in order {
                let v = run_one(&cli, &setup, &ctx, sc, kind, rep).await;
                let ok = v["ok"].as_bool() == Some(true);
                all_ok &= ok;
                eprintln!(
                    "{:?} {} rep {rep}: {}",
                    sc,
                    kind.name(),
                    if ok { "ok" } else { "FAILED" }
                );
                runs.push(v);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        let name = format!("{sc:?}").to_lowercase();
        let doc = json!({
            "scenario": name,
            "params": params(&cli, sc),
            "machine": report::machine(&root),
            "generator": "bench (Rust, tokio current-thread runtime: 1 core), hand-rolled WebSocket client",
            "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            "runs": runs,
        });
        let path = out.join(format!("{name}.json"));
        std::fs::write(&path, serde_json::to_string_pretty(&doc)?)?;
        eprintln!("wrote {}", path.display());
        if sc == Scenario::Smoke {
            print_smoke(&doc);
        }
    }
    if cli.scenario != Scenario::Smoke {
        report::write(&root, &out)?;
    }
    Ok(all_ok)
}

fn params(cli: &Cli, sc: Scenario) -> Value {
    match sc {
        Scenario::Idle => json!({ "sockets": cli.idle_sockets, "srcs": cli.srcs }),
        Scenario::Join => {
            json!({ "sockets": cli.join_sockets, "light_sockets": cli.join_light_sockets, "paced_joins_per_s": cli.join_rate, "secs": cli.join_secs, "room_sizes": "2..10" })
        }
        Scenario::Relay => {
            json!({ "pairs": cli.relay_pairs, "rate": cli.relay_rate, "window": cli.window, "secs": cli.relay_secs })
        }
        Scenario::Capacity => {
            json!({ "steps": cli.cap_steps, "probe_pairs": cli.cap_probe_pairs, "probe_rate": cli.cap_probe_rate, "probe_secs": cli.cap_probe_secs })
        }
        _ => json!({}),
    }
}

async fn run_one(
    cli: &Cli,
    setup: &Setup,
    ctx: &Ctx,
    sc: Scenario,
    kind: Kind,
    rep: usize,
) -> Value {
    let tag = format!("{}-{rep}", format!("{sc:?}").to_lowercase());
    let mut srv = match ServerProc::start(kind, setup, &tag) {
        Ok(s) => s,
        Err(e) => {
            return json!({ "server": kind.name(), "rep": rep, "ok": false, "error": format!("{e:#}") });
        }
    };
    let ready = match srv.wait_ready(setup.addr()).await {
        Ok(d) => d,
        Err(e) => {
            return json!({ "server": kind.name(), "rep": rep, "ok": false, "error": format!("{e:#}") });
        }
    };
    let rss_start = srv.rss_kb();
    eprintln!(
        "{:?} {} rep {rep}: started pid {} in {:.2?}",
        sc,
        kind.name(),
        srv.pid,
        ready
    );
    let limit = Duration::from_secs(600);
    let r = tokio::time::timeout(limit, async {
        match sc {
            Scenario::Idle => {
                scen::idle(ctx, &mut srv, cli.idle_sockets, Duration::from_secs(3)).await
            }
            Scenario::Join => {
                scen::join_scenario(
                    ctx,
                    &mut srv,
                    cli.join_sockets,
                    cli.join_light_sockets,
                    cli.join_rate,
                    Duration::from_secs_f64(cli.join_secs),
                )
                .await
            }
            Scenario::Relay => {
                scen::relay_scenario(
                    ctx,
                    &mut srv,
                    cli.relay_pairs,
                    cli.relay_rate,
                    cli.window,
                    Duration::from_secs_f64(cli.relay_secs),
                )
                .await
            }
            Scenario::Capacity => {
                scen::capacity(
                    ctx,
                    &mut srv,
                    &cli.cap_steps,
                    cli.cap_probe_pairs,
                    cli.cap_probe_rate,
                    Duration::from_secs_f64(cli.cap_probe_secs),
                )
                .await
            }
            Scenario::Smoke => scen::smoke(ctx, &mut srv).await,
            Scenario::All | Scenario::Report => unreachable!(),
        }
    })
    .await;
    let alive = srv.alive();
    let mut v = match r {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => json!({ "ok": false, "error": format!("{e:#}") }),
        Err(_) => json!({ "ok": false, "error": "scenario timed out" }),
    };
    if !alive {
        v["ok"] = json!(false);
        v["server_died"] = json!(true);
        v["server_log_tail"] = json!(srv.log_tail());
    }
    if v["ok"].as_bool() != Some(true) {
        eprintln!(
            "  {} failed: {}",
            kind.name(),
            v.get("error").cloned().unwrap_or(Value::Null)
        );
    }
    v["server"] = json!(kind.name());
    v["rep"] = json!(rep);
    v["server_start_rss_kb"] = json!(rss_start);
    drop(srv); // stops the server (SIGTERM, then SIGKILL)
    v
}

fn print_smoke(doc: &Value) {
    for r in doc["runs"].as_array().into_iter().flatten() {
        let s = r["server"].as_str().unwrap_or("?");
        if let Some(e) = r.get("error") {
            println!("smoke {s}: FAILED: {e}");
            continue;
        }
        println!(
            "smoke {s}: {} | idle {} sockets, {} B/socket | join {} joins/s p99 {} ms | relay {} msg/s p99 {} ms, lost {} misrouted {} out-of-order {} | saturation {} msg/s lost {} misrouted {}",
            if r["ok"].as_bool() == Some(true) {
                "ok"
            } else {
                "FAILED"
            },
            r["idle"]["connected"],
            r["idle"]["per_socket_bytes"],
            r["join"]["joins_per_s"],
            r["join"]["latency"]["p99_ms"],
            r["fixed"]["throughput_per_s"],
            r["fixed"]["latency"]["p99_ms"],
            r["fixed"]["lost"],
            r["fixed"]["misrouted"],
            r["fixed"]["out_of_order"],
            r["saturation"]["throughput_per_s"],
            r["saturation"]["lost"],
            r["saturation"]["misrouted"],
        );
    }
}
