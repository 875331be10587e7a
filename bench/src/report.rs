//! BENCHMARKS.md and the plots, generated from bench/results/*.json.

use std::path::Path;
use std::process::Command;

use anyhow::Result;
use serde_json::{Value, json};

fn cmd(c: &str, args: &[&str], dir: &Path) -> String {
    Command::new(c)
        .args(args)
        .current_dir(dir)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "?".to_owned())
}

fn lock_version(root: &Path, name: &str) -> String {
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap_or_default();
    let key = format!("name = \"{name}\"\nversion = \"");
    lock.find(&key)
        .map(|p| {
            lock[p + key.len()..]
                .split('"')
                .next()
                .unwrap_or("?")
                .to_owned()
        })
        .unwrap_or_else(|| "?".to_owned())
}

fn npm_version(root: &Path, pkg: &str) -> String {
    let p = root
        .join("conformance/reference/node_modules")
        .join(pkg)
        .join("package.json");
    std::fs::read_to_string(p)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// The machine and the versions under test.
pub fn machine(root: &Path) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| "?".to_owned());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_total = meminfo.lines().next().unwrap_or("").to_owned();
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": model,
        "kernel": cmd("uname", &["-r"], root),
        "mem": mem_total,
        "load_avg": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
        "rustc": cmd("rustc", &["--version"], root),
        "node": cmd("node", &["--version"], root),
        "git": cmd("git", &["rev-parse", "--short", "HEAD"], root),
        "socketioxide": lock_version(root, "socketioxide"),
        "tokio": lock_version(root, "tokio"),
        "socket.io": npm_version(root, "socket.io"),
        "@nestjs/core": npm_version(root, "@nestjs/core"),
        "ws": npm_version(root, "ws"),
    })
}

// ------------------------------------------------------------------ figures

#[derive(Clone, Copy)]
pub struct Stat {
    pub min: f64,
    pub med: f64,
    pub max: f64,
    pub n: usize,
}

fn runs_of<'a>(doc: &'a Value, server: &str) -> Vec<&'a Value> {
    doc["runs"]
        .as_array()
        .map(|a| a.iter().filter(|r| r["server"] == server).collect())
        .unwrap_or_default()
}

/// min / median / max of a figure over the runs of one server that produced it.
pub fn stat(doc: &Value, server: &str, ptr: &str) -> Option<Stat> {
    let mut v: Vec<f64> = runs_of(doc, server)
        .iter()
        .filter_map(|r| r.pointer(ptr).and_then(Value::as_f64))
        .collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    Some(Stat {
        min: v[0],
        med,
        max: v[v.len() - 1],
        n: v.len(),
    })
}

fn num(x: f64) -> String {
    let x = if x == 0.0 { 0.0 } else { x };
    if x.fract() == 0.0 && x.abs() < 100_000.0 {
        return format!("{x:.0}");
    }
    let a = x.abs();
    if a >= 100_000.0 {
        let s = format!("{:.0}", x);
        // thousands separators
        let (neg, digits) = s
            .strip_prefix('-')
            .map(|d| (true, d))
            .unwrap_or((false, &s[..]));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if neg { format!("-{out}") } else { out }
    } else if a >= 100.0 {
        format!("{:.0}", x)
    } else if a >= 10.0 {
        format!("{:.1}", x)
    } else if a >= 1.0 {
        format!("{:.2}", x)
    } else {
        format!("{:.3}", x)
    }
}

fn cell(s: Option<Stat>, scale: f64) -> String {
    match s {
        None => "–".to_owned(),
        Some(s) if s.n == 1 => num(s.med * scale),
        Some(s) => format!(
            "{} [{}–{}]",
            num(s.med * scale),
            num(s.min * scale),
            num(s.max * scale)
        ),
    }
}

fn ratio(g: Option<Stat>, r: Option<Stat>, invert: bool) -> Option<f64> {
    let (g, r) = (g?.med, r?.med);
    if invert {
        (g > 0.0).then(|| r / g)
    } else {
        (r > 0.0).then(|| g / r)
    }
}

fn fmt_ratio(x: Option<f64>) -> String {
    x.map(|x| format!("{}×", num(x)))
        .unwrap_or_else(|| "–".to_owned())
}

fn met(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "**met**",
        Some(false) => "**missed**",
        None => "not measured",
    }
}

fn load(out: &Path, name: &str) -> Option<Value> {
    let s = std::fs::read_to_string(out.join(format!("{name}.json"))).ok()?;
    serde_json::from_str(&s).ok()
}

/// Sum of a counter over every run of a document (any server).
fn total(doc: &Value, ptr: &str) -> f64 {
    doc["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.pointer(ptr).and_then(Value::as_f64))
        .sum()
}

fn failures(doc: &Value) -> Vec<String> {
    doc["runs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["ok"].as_bool() != Some(true))
        .map(|r| {
            format!(
                "{} rep {}: {}",
                r["server"].as_str().unwrap_or("?"),
                r["rep"],
                r.get("error")
                    .or(r.get("stop_reason"))
                    .map(|e| e.to_string())
                    .unwrap_or_else(|| "a check failed (see JSON)".to_owned())
            )
        })
        .collect()
}

// ------------------------------------------------------------------ BENCHMARKS.md

pub fn write(root: &Path, out: &Path) -> Result<()> {
    let idle = load(out, "idle");
    let join = load(out, "join");
    let relay = load(out, "relay");
    let cap = load(out, "capacity");
    let docs: Vec<&Value> = [&idle, &join, &relay, &cap].into_iter().flatten().collect();
    let machine = docs
        .first()
        .map(|d| d["machine"].clone())
        .unwrap_or_else(|| machine(root));
    let g = "gateway";
    let r = "reference";
    let mut md = String::new();
    let p = |md: &mut String, s: &str| {
        md.push_str(s);
        md.push('\n');
    };
    p(
        &mut md,
        "# Benchmarks: the Rust gateway against the NestJS reference\n",
    );
    p(
        &mut md,
        "Generated by `cargo run --release -p bench -- all` (one scenario: `-- idle`, `-- join`, `-- relay`, `-- capacity`; CI smoke: `-- smoke`; text and plots only, from the JSON: `-- report`). Raw figures: `bench/results/*.json`. The bench builds and starts both servers itself, with the same environment, one after the other, alternating which goes first in each repetition.\n",
    );
    p(
        &mut md,
        "Figures are the **median [min–max] over the repetitions**; the ratio compares medians (higher is better for the gateway).\n",
    );

    // ---------------- summary of targets
    p(&mut md, "## Targets\n");
    p(
        &mut md,
        "| Target | Gateway | Reference | Ratio | Goal | Verdict |",
    );
    p(&mut md, "|---|---|---|---|---|---|");
    if let Some(d) = &relay {
        let (ge, re) = (
            stat(d, g, "/saturation/msgs_per_server_cpu_s"),
            stat(d, r, "/saturation/msgs_per_server_cpu_s"),
        );
        let x = ratio(ge, re, false);
        p(
            &mut md,
            &format!(
                "| Relay efficiency at saturation (messages per server CPU-second) | {} | {} | {} | ≥ 10× | {} |",
                cell(ge, 1.0),
                cell(re, 1.0),
                fmt_ratio(x),
                met(x.map(|x| x >= 10.0))
            ),
        );
        let (gt, rt) = (
            stat(d, g, "/saturation/throughput_per_s"),
            stat(d, r, "/saturation/throughput_per_s"),
        );
        let x = ratio(gt, rt, false);
        p(
            &mut md,
            &format!(
                "| Relay throughput at saturation (delivered messages/s) | {} | {} | {} | ≥ 5× | {} |",
                cell(gt, 1.0),
                cell(rt, 1.0),
                fmt_ratio(x),
                met(x.map(|x| x >= 5.0))
            ),
        );
        let bad = total(d, "/fixed/lost")
            + total(d, "/fixed/misrouted")
            + total(d, "/fixed/out_of_order")
            + total(d, "/saturation/lost")
            + total(d, "/saturation/misrouted")
            + total(d, "/saturation/out_of_order");
        let gbad: f64 = runs_of(d, g)
            .iter()
            .map(|x| {
                [
                    "/fixed/lost",
                    "/fixed/misrouted",
                    "/fixed/out_of_order",
                    "/saturation/lost",
                    "/saturation/misrouted",
                    "/saturation/out_of_order",
                ]
                .iter()
                .filter_map(|p| x.pointer(p).and_then(Value::as_f64))
                .sum::<f64>()
            })
            .sum();
        p(
            &mut md,
            &format!(
                "| Relay messages lost, misrouted or out of order (all runs) | {} | {} | | 0 | {} |",
                num(gbad),
                num(bad - gbad),
                met(Some(gbad == 0.0))
            ),
        );
        let (gl, rl) = (
            stat(d, g, "/fixed/latency/p99_ms"),
            stat(d, r, "/fixed/latency/p99_ms"),
        );
        let rate = d["params"]["rate"].as_f64().unwrap_or(0.0);
        let pairs = d["params"]["pairs"].as_u64().unwrap_or(0);
        p(
            &mut md,
            &format!(
                "| Relay latency p99 at {} msg/s offered ({} rooms of 2), ms | {} | {} | {} | ≤ 1 ms | {} |",
                num(rate),
                pairs,
                cell(gl, 1.0),
                cell(rl, 1.0),
                fmt_ratio(ratio(gl, rl, true)),
                met(gl.map(|s| s.med <= 1.0))
            ),
        );
    }
    if let Some(d) = &idle {
        let (gm, rm) = (
            stat(d, g, "/per_socket_bytes"),
            stat(d, r, "/per_socket_bytes"),
        );
        let x = ratio(gm, rm, true);
        let ok = gm.map(|s| s.med <= 8192.0 && x.is_some_and(|x| x >= 6.0));
        p(
            &mut md,
            &format!(
                "| Resident memory per idle authenticated socket ({} sockets), KB | {} | {} | {} smaller | ≤ 8 KB and ≤ 1/6 | {} |",
                d["params"]["sockets"],
                cell(gm, 1.0 / 1024.0),
                cell(rm, 1.0 / 1024.0),
                fmt_ratio(x),
                met(ok)
            ),
        );
    }
    if let Some(d) = &join {
        let (gj, rj) = (
            stat(d, g, "/storm/joins_per_s"),
            stat(d, r, "/storm/joins_per_s"),
        );
        let x = ratio(gj, rj, false);
        p(
            &mut md,
            &format!(
                "| Join storm ({} sockets, rooms of 2–10), joins/s | {} | {} | {} | ≥ 5× | {} |",
                d["params"]["sockets"],
                cell(gj, 1.0),
                cell(rj, 1.0),
                fmt_ratio(x),
                met(x.map(|x| x >= 5.0))
            ),
        );
        let (gl, rl) = (
            stat(d, g, "/storm/latency/p99_ms"),
            stat(d, r, "/storm/latency/p99_ms"),
        );
        p(
            &mut md,
            &format!(
                "| Join storm `room:joined` p99 at saturation ({} sockets, closed loop: scheduling order, see the analysis), ms | {} | {} | {} | – | – |",
                d["params"]["sockets"],
                cell(gl, 1.0),
                cell(rl, 1.0),
                fmt_ratio(ratio(gl, rl, true)),
            ),
        );
        let (gl, rl) = (
            stat(d, g, "/paced/latency/p99_ms"),
            stat(d, r, "/paced/latency/p99_ms"),
        );
        if gl.is_some() || rl.is_some() {
            p(
                &mut md,
                &format!(
                    "| Join storm `room:joined` p99 at {} joins/s offered ({} sockets, open loop), ms | {} | {} | {} | ≤ 10 ms | {} |",
                    num(d["params"]["paced_joins_per_s"].as_f64().unwrap_or(0.0)),
                    d["params"]["sockets"],
                    cell(gl, 1.0),
                    cell(rl, 1.0),
                    fmt_ratio(ratio(gl, rl, true)),
                    met(gl.map(|s| s.med <= 10.0))
                ),
            );
        }
        let (gl, rl) = (
            stat(d, g, "/light/latency/p99_ms"),
            stat(d, r, "/light/latency/p99_ms"),
        );
        p(
            &mut md,
            &format!(
                "| Join `room:joined` p99, light phase ({} sockets), ms | {} | {} | {} | ≤ 10 ms | {} |",
                d["params"]["light_sockets"],
                cell(gl, 1.0),
                cell(rl, 1.0),
                fmt_ratio(ratio(gl, rl, true)),
                met(gl.map(|s| s.med <= 10.0))
            ),
        );
    }
    if let Some(d) = &cap {
        let (gs, rs) = (stat(d, g, "/max_sockets"), stat(d, r, "/max_sockets"));
        let target = d["params"]["steps"]
            .as_array()
            .and_then(|a| a.iter().filter_map(Value::as_f64).reduce(f64::max))
            .unwrap_or(0.0);
        p(
            &mut md,
            &format!(
                "| Capacity: concurrent sockets reached (fd cap 20,000 per process) | {} | {} | {} | {} | {} |",
                cell(gs, 1.0),
                cell(rs, 1.0),
                fmt_ratio(ratio(gs, rs, false)),
                num(target),
                met(gs.map(|s| s.med >= target))
            ),
        );
        let (gf, rf) = (
            stat(d, g, "/probe_p99_first_ms"),
            stat(d, r, "/probe_p99_first_ms"),
        );
        let (gla, rla) = (
            stat(d, g, "/probe_p99_last_ms"),
            stat(d, r, "/probe_p99_last_ms"),
        );
        let gmax = stat(d, g, "/probe_p99_max_ms");
        // "Flat": no cliff, i.e. the worst step's p99 within 3× the first step's or under 5 ms.
        let flat = match (gf, gmax) {
            (Some(a), Some(b)) => Some(b.med <= (a.med * 3.0).max(5.0)),
            _ => None,
        };
        p(
            &mut md,
            &format!(
                "| Capacity: probe relay p99 at the first → last step, ms | {} → {} | {} → {} | | flat | {} |",
                cell(gf, 1.0),
                cell(gla, 1.0),
                cell(rf, 1.0),
                cell(rla, 1.0),
                met(flat)
            ),
        );
        let (gp, rp) = (
            stat(d, g, "/projected_rss_200k_bytes"),
            stat(d, r, "/projected_rss_200k_bytes"),
        );
        p(
            &mut md,
            &format!(
                "| Memory extrapolated to 200k sockets (linear fit of RSS), GB | {} | {} | {} smaller | ≤ 1.6 GB | {} |",
                cell(gp, 1e-9),
                cell(rp, 1e-9),
                fmt_ratio(ratio(gp, rp, true)),
                met(gp.map(|s| s.med <= 1.6e9))
            ),
        );
    }
    p(&mut md, "");

    // ---------------- machine
    p(&mut md, "## Machine and versions\n");
    let m = &machine;
    p(
        &mut md,
        &format!(
            "- CPU: {} × {} (nproc {}); {}; kernel {}",
            m["nproc"],
            m["cpu"].as_str().unwrap_or("?"),
            m["nproc"],
            m["mem"].as_str().unwrap_or("?"),
            m["kernel"].as_str().unwrap_or("?")
        ),
    );
    p(
        &mut md,
        &format!(
            "- Gateway: `target/release/gateway` at commit {} ({}; socketioxide {}, tokio {})",
            m["git"].as_str().unwrap_or("?"),
            m["rustc"].as_str().unwrap_or("?"),
            m["socketioxide"].as_str().unwrap_or("?"),
            m["tokio"].as_str().unwrap_or("?")
        ),
    );
    p(
        &mut md,
        &format!(
            "- Reference: `conformance/reference` on node {} (socket.io {}, ws {}, @nestjs/core {}), NODE_ENV=production",
            m["node"].as_str().unwrap_or("?"),
            m["socket.io"].as_str().unwrap_or("?"),
            m["ws"].as_str().unwrap_or("?"),
            m["@nestjs/core"].as_str().unwrap_or("?")
        ),
    );
    p(
        &mut md,
        "- Generator: `bench` (this crate), a hand-rolled Engine.IO v4 / Socket.IO v5 WebSocket client on a tokio **current-thread** runtime (one core; the server gets the other), sockets bound to 127.0.0.1–127.0.0.8 before connecting, JWTs (HS256 `{sub, username, iat, exp}`) precomputed.",
    );
    p(
        &mut md,
        "- Both servers get the same environment: `JWT_SECRET`, `PORT`, `HOST=127.0.0.1`, `CLIENT_URL`, `RATE_LIMIT_BURST=RATE_LIMIT_PER_SEC=100000000` (the rate limit never throttles the bench), `MAX_ROOM_SIZE=10`, `DATA_DIR` (a temp dir), `NODE_ENV=production`, `WORKER_THREADS=1` (the gateway's runtime gets the core the generator leaves it: with two workers, three busy threads share two cores and the scheduler's time slices show up in the relay p99; node runs JavaScript on one thread anyway).",
    );
    for d in &docs {
        p(
            &mut md,
            &format!(
                "- `{}` ran with load average {} at the end (other work on the machine adds noise; see min–max).",
                d["scenario"].as_str().unwrap_or("?"),
                d["machine"]["load_avg"].as_str().unwrap_or("?")
            ),
        );
    }
    p(&mut md, "");

    // ---------------- detail tables
    let row = |md: &mut String, d: &Value, label: &str, ptr: &str, scale: f64, invert: bool| {
        let (a, b) = (stat(d, g, ptr), stat(d, r, ptr));
        md.push_str(&format!(
            "| {label} | {} | {} | {} |\n",
            cell(a, scale),
            cell(b, scale),
            fmt_ratio(ratio(a, b, invert))
        ));
    };
    let head = |md: &mut String, title: &str, text: &str| {
        md.push_str(&format!("## {title}\n\n{text}\n\n| | Gateway | Reference | Gateway better by |\n|---|---|---|---|\n"));
    };
    if let Some(d) = &idle {
        head(
            &mut md,
            "Idle sockets",
            &format!(
                "{} authenticated sockets connect (256 handshakes in flight) and stay idle (answering engine pings); server RSS (`VmRSS`) is read after a 100-socket warm-up and 3 s after the last connect.",
                d["params"]["sockets"]
            ),
        );
        row(
            &mut md,
            d,
            "RSS per socket, bytes",
            "/per_socket_bytes",
            1.0,
            true,
        );
        row(
            &mut md,
            d,
            "RSS before, MB",
            "/rss_before_kb",
            1.0 / 1024.0,
            true,
        );
        row(
            &mut md,
            d,
            "RSS after, MB",
            "/rss_after_kb",
            1.0 / 1024.0,
            true,
        );
        row(
            &mut md,
            d,
            "Connects/s (handshake incl. JWT check)",
            "/connect/per_s",
            1.0,
            false,
        );
        row(
            &mut md,
            d,
            "Handshake p50, ms",
            "/connect/handshake/p50_ms",
            1.0,
            true,
        );
        row(
            &mut md,
            d,
            "Handshake p99, ms",
            "/connect/handshake/p99_ms",
            1.0,
            true,
        );
        row(
            &mut md,
            d,
            "Server CPU per connect, ms",
            "/server_cpu_ms_per_connect",
            1.0,
            true,
        );
        p(&mut md, "");
        push_failures(&mut md, d);
    }
    if let Some(d) = &join {
        head(
            &mut md,
            "Join storm",
            &format!(
                "Rooms of 2, 3, … 10 (cycling). Each room is created by its first socket (`create:room`, pipelined, timed separately), then for {} s every socket loops `join:room` → wait for `room:joined` → `leave:room` → wait for `room:left`, as fast as the server answers (one request in flight per socket, so latency ≈ sockets ÷ throughput at saturation). Each join and leave also fans `peer:joined`/`peer:left` out to the room. **Storm**: {} sockets (saturates both servers); every socket sends its first join at the same instant (the *burst*, reported apart), the storm's percentiles are over the joins after it. **Light**: {} sockets on the same server right after. **Paced**: {} sockets again, open loop: {} joins/s offered in all, each socket starting its cycle every sockets ÷ rate seconds, staggered evenly; a join sent late because the socket's previous cycle was still waiting for the server counts from its scheduled time, so a server that falls behind is charged for the queue it builds (otherwise from the send, so the generator's 1 ms timer granularity is not).",
                d["params"]["secs"],
                d["params"]["sockets"],
                d["params"]["light_sockets"],
                d["params"]["sockets"],
                num(d["params"]["paced_joins_per_s"].as_f64().unwrap_or(0.0))
            ),
        );
        for (ph, name) in [("storm", "storm"), ("light", "light"), ("paced", "paced")] {
            let joins = format!("/{ph}/joins_per_s");
            if stat(d, g, &joins).is_none() && stat(d, r, &joins).is_none() {
                continue; // results from before the phase existed
            }
            row(
                &mut md,
                d,
                &format!("{name}: joins/s"),
                &format!("/{ph}/joins_per_s"),
                1.0,
                false,
            );
            row(
                &mut md,
                d,
                &format!("{name}: `room:joined` p50, ms"),
                &format!("/{ph}/latency/p50_ms"),
                1.0,
                true,
            );
            row(
                &mut md,
                d,
                &format!("{name}: `room:joined` p99, ms"),
                &format!("/{ph}/latency/p99_ms"),
                1.0,
                true,
            );
            row(
                &mut md,
                d,
                &format!("{name}: `room:joined` p99.9, ms"),
                &format!("/{ph}/latency/p999_ms"),
                1.0,
                true,
            );
            row(
                &mut md,
                d,
                &format!("{name}: server CPU per join+leave, µs"),
                &format!("/{ph}/server_cpu_us_per_join_leave"),
                1.0,
                true,
            );
            row(
                &mut md,
                d,
                &format!("{name}: server CPU use (cores)"),
                &format!("/{ph}/server_cpu_util"),
                1.0,
                false,
            );
        }
        for (q, label) in [("p50_ms", "p50"), ("p99_ms", "p99"), ("max_ms", "max")] {
            row(
                &mut md,
                d,
                &format!(
                    "storm burst: first join of every socket at the same instant, {label}, ms"
                ),
                &format!("/storm/burst_latency/{q}"),
                1.0,
                true,
            );
        }
        row(
            &mut md,
            d,
            "Room creations/s (pipelined, storm)",
            "/storm/creates_per_s",
            1.0,
            false,
        );
        p(&mut md, "");
        push_failures(&mut md, d);
    }
    if let Some(d) = &relay {
        head(
            &mut md,
            "Relay",
            &format!(
                "{} rooms of 2; both peers send `webrtc:ice` (a ~100-byte candidate carrying a per-sender sequence number and the send time) to each other, without acks. **Fixed rate**: {} msg/s offered in total, evenly paced (after a 1 s unmeasured warm-up). **Saturation**: each sender keeps {} messages in flight (closed loop). Every received message is checked: event name, `fromPeerId` = the partner, `targetPeerId` = me, sequence = previous + 1; after each phase the bench waits until everything sent has arrived (5 s at most); what did not is lost. CPU is utime+stime from `/proc/PID/stat` (all threads) over the {} s window.",
                d["params"]["pairs"],
                num(d["params"]["rate"].as_f64().unwrap_or(0.0)),
                d["params"]["window"],
                d["params"]["secs"]
            ),
        );
        for (ph, name) in [("fixed", "fixed rate"), ("saturation", "saturation")] {
            row(
                &mut md,
                d,
                &format!("{name}: delivered msg/s"),
                &format!("/{ph}/throughput_per_s"),
                1.0,
                false,
            );
            for (k, l) in [
                ("p50_ms", "p50"),
                ("p99_ms", "p99"),
                ("p999_ms", "p99.9"),
                ("max_ms", "max"),
            ] {
                row(
                    &mut md,
                    d,
                    &format!("{name}: latency {l}, ms"),
                    &format!("/{ph}/latency/{k}"),
                    1.0,
                    true,
                );
            }
            row(
                &mut md,
                d,
                &format!("{name}: server CPU µs per message"),
                &format!("/{ph}/server_cpu_us_per_msg"),
                1.0,
                true,
            );
            row(
                &mut md,
                d,
                &format!("{name}: messages per server CPU-second"),
                &format!("/{ph}/msgs_per_server_cpu_s"),
                1.0,
                false,
            );
            row(
                &mut md,
                d,
                &format!("{name}: server CPU use (cores)"),
                &format!("/{ph}/server_cpu_util"),
                1.0,
                false,
            );
            row(
                &mut md,
                d,
                &format!("{name}: generator CPU µs per message"),
                &format!("/{ph}/bench_cpu_us_per_msg"),
                1.0,
                true,
            );
            row(
                &mut md,
                d,
                &format!("{name}: lost + misrouted + out of order"),
                &format!("/{ph}/lost"),
                1.0,
                false,
            );
        }
        p(&mut md, "");
        push_failures(&mut md, d);
    }
    if let Some(d) = &cap {
        p(
            &mut md,
            &format!(
                "## Capacity\n\nSockets are added in steps up to {} in total (the open-files cap is 20,000 per process, for the generator and for the server); at each step: connect the new sockets (256 handshakes in flight), wait 1 s, read the server RSS, then run a probe relay ({} rooms of 2, {} msg/s, {} s) among them. The run stops at the first connect error, dropped socket, probe failure or server death.\n",
                d["params"]["steps"]
                    .as_array()
                    .and_then(|a| a.last())
                    .cloned()
                    .unwrap_or(json!(0)),
                d["params"]["probe_pairs"],
                d["params"]["probe_rate"],
                d["params"]["probe_secs"]
            ),
        );
        p(
            &mut md,
            "| | Gateway | Reference | Gateway better by |\n|---|---|---|---|",
        );
        row(&mut md, d, "Sockets reached", "/max_sockets", 1.0, false);
        row(
            &mut md,
            d,
            "RSS per socket (fit), bytes",
            "/fit_bytes_per_socket",
            1.0,
            true,
        );
        row(
            &mut md,
            d,
            "RSS projected for 200k sockets, MB",
            "/projected_rss_200k_bytes",
            1.0 / 1048576.0,
            true,
        );
        row(
            &mut md,
            d,
            "Probe p99 at the first step, ms",
            "/probe_p99_first_ms",
            1.0,
            true,
        );
        row(
            &mut md,
            d,
            "Probe p99 at the last step, ms",
            "/probe_p99_last_ms",
            1.0,
            true,
        );
        row(
            &mut md,
            d,
            "Worst probe p99 over the steps, ms",
            "/probe_p99_max_ms",
            1.0,
            true,
        );
        p(&mut md, "");
        for srv in [g, r] {
            if let Some(run) = runs_of(d, srv).last() {
                p(&mut md, &format!("Steps, {srv} (last repetition):\n"));
                p(
                    &mut md,
                    "| sockets | RSS MB | connects/s | handshake p99 ms | probe p50 ms | probe p99 ms | probe p99.9 ms |\n|---|---|---|---|---|---|---|",
                );
                for s in run["steps"].as_array().into_iter().flatten() {
                    p(
                        &mut md,
                        &format!(
                            "| {} | {} | {} | {} | {} | {} | {} |",
                            s["sockets"],
                            num(s["rss_kb"].as_f64().unwrap_or(0.0) / 1024.0),
                            s["connect"]["per_s"],
                            s["connect"]["handshake"]["p99_ms"],
                            s["probe"]["latency"]["p50_ms"],
                            s["probe"]["latency"]["p99_ms"],
                            s["probe"]["latency"]["p999_ms"]
                        ),
                    );
                }
                if !run["stop_reason"].is_null() {
                    p(&mut md, &format!("\nStopped: {}", run["stop_reason"]));
                }
                p(&mut md, "");
            }
        }
        push_failures(&mut md, d);
    }

    // ---------------- plots
    match plots(
        out,
        idle.as_ref(),
        join.as_ref(),
        relay.as_ref(),
        cap.as_ref(),
    ) {
        Ok(files) if !files.is_empty() => {
            p(&mut md, "## Plots\n");
            for f in files {
                p(&mut md, &format!("![{f}](bench/results/{f})\n"));
            }
        }
        Ok(_) => {}
        Err(e) => p(&mut md, &format!("(plots not drawn: {e:#})\n")),
    }

    // ---------------- hand-written analysis
    if let Ok(a) = std::fs::read_to_string(root.join("bench/ANALYSIS.md")) {
        p(&mut md, &a);
    }
    std::fs::write(root.join("BENCHMARKS.md"), md)?;
    eprintln!("wrote {}", root.join("BENCHMARKS.md").display());
    Ok(())
}

fn push_failures(md: &mut String, d: &Value) {
    let f = failures(d);
    if !f.is_empty() {
        md.push_str("Failed runs (excluded from the figures above):\n\n");
        for x in f {
            md.push_str(&format!("- {x}\n"));
        }
        md.push('\n');
    }
}

// ------------------------------------------------------------------ plots

fn plots(
    out: &Path,
    idle: Option<&Value>,
    join: Option<&Value>,
    relay: Option<&Value>,
    cap: Option<&Value>,
) -> Result<Vec<String>> {
    use plotters::prelude::*;
    let font = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/TTF/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ]
    .iter()
    .find_map(|p| std::fs::read(p).ok())
    .ok_or_else(|| {
        anyhow::anyhow!("no DejaVuSans.ttf font found (apt-get install fonts-dejavu-core)")
    })?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, font);
    let mut files = Vec::new();
    let colors = [
        ("gateway", RGBColor(200, 60, 20)),
        ("reference", RGBColor(30, 90, 200)),
    ];
    let pcts = [
        ("p50", "p50_ms"),
        ("p90", "p90_ms"),
        ("p99", "p99_ms"),
        ("p99.9", "p999_ms"),
        ("max", "max_ms"),
    ];

    // Latency percentiles: relay fixed, relay saturation, join storm.
    let mut panels: Vec<(String, &Value, String)> = Vec::new();
    if let Some(d) = relay {
        panels.push((
            format!("relay, {} msg/s offered", d["params"]["rate"]),
            d,
            "/fixed/latency".into(),
        ));
        panels.push((
            format!("relay at saturation (window {})", d["params"]["window"]),
            d,
            "/saturation/latency".into(),
        ));
    }
    if let Some(d) = join {
        panels.push((
            format!(
                "join storm: room:joined ({} sockets)",
                d["params"]["sockets"]
            ),
            d,
            "/storm/latency".into(),
        ));
        panels.push((
            format!("join, light ({} sockets)", d["params"]["light_sockets"]),
            d,
            "/light/latency".into(),
        ));
        if stat(d, "gateway", "/paced/latency/p99_ms").is_some() {
            panels.push((
                format!("join, {} joins/s offered", d["params"]["paced_joins_per_s"]),
                d,
                "/paced/latency".into(),
            ));
        }
    }
    if !panels.is_empty() {
        let name = "latency.png".to_owned();
        let path = out.join(&name);
        let root = BitMapBackend::new(&path, (400 * panels.len() as u32, 380)).into_drawing_area();
        root.fill(&WHITE)?;
        let areas = root.split_evenly((1, panels.len()));
        for (area, (title, d, base)) in areas.iter().zip(panels.iter()) {
            let series: Vec<(&str, RGBColor, Vec<f64>)> = colors
                .iter()
                .map(|(srv, c)| {
                    let v = pcts
                        .iter()
                        .map(|(_, k)| {
                            stat(d, srv, &format!("{base}/{k}"))
                                .map(|s| s.med)
                                .unwrap_or(f64::NAN)
                        })
                        .collect();
                    (*srv, *c, v)
                })
                .collect();
            let all: Vec<f64> = series
                .iter()
                .flat_map(|s| s.2.iter().copied())
                .filter(|x| x.is_finite() && *x > 0.0)
                .collect();
            let lo = all.iter().copied().fold(f64::INFINITY, f64::min).max(0.001) / 2.0;
            let hi = all.iter().copied().fold(0.0, f64::max).max(lo * 4.0) * 2.0;
            let mut ch = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 16))
                .margin(10)
                .x_label_area_size(30)
                .y_label_area_size(55)
                .build_cartesian_2d(-0.3f64..(pcts.len() as f64 - 0.7), (lo..hi).log_scale())?;
            ch.configure_mesh()
                .x_labels(pcts.len())
                .x_label_formatter(&|x| {
                    let i = x.round() as usize;
                    if (x - x.round()).abs() < 0.01 {
                        pcts.get(i).map(|p| p.0.to_owned()).unwrap_or_default()
                    } else {
                        String::new()
                    }
                })
                .y_desc("latency, ms (log)")
                .draw()?;
            for (srv, c, v) in series {
                let pts: Vec<(f64, f64)> = v
                    .iter()
                    .enumerate()
                    .filter(|(_, y)| y.is_finite() && **y > 0.0)
                    .map(|(i, y)| (i as f64, *y))
                    .collect();
                ch.draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
                    .label(srv)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 15, y)], c.stroke_width(2))
                    });
                ch.draw_series(pts.iter().map(|p| Circle::new(*p, 3, c.filled())))?;
            }
            ch.configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.8))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()?;
        }
        root.present()?;
        files.push(name);
    }

    // Memory: RSS against sockets (capacity), with the idle per-socket figure in the caption.
    if let Some(d) = cap {
        let name = "memory.png".to_owned();
        let path = out.join(&name);
        let root = BitMapBackend::new(&path, (800, 420)).into_drawing_area();
        root.fill(&WHITE)?;
        let (left, right) = root.split_horizontally(400);
        let mut maxx = 1000.0f64;
        let mut maxy = 10.0f64;
        let mut maxl = 0.1f64;
        let mut curves = Vec::new();
        for (srv, c) in colors.iter() {
            for run in runs_of(d, srv) {
                let pts: Vec<(f64, f64, f64)> = run["steps"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| {
                        (
                            s["sockets"].as_f64().unwrap_or(0.0),
                            s["rss_kb"].as_f64().unwrap_or(0.0) / 1024.0,
                            s["probe"]["latency"]["p99_ms"].as_f64().unwrap_or(0.0),
                        )
                    })
                    .collect();
                for p in &pts {
                    maxx = maxx.max(p.0);
                    maxy = maxy.max(p.1);
                    maxl = maxl.max(p.2);
                }
                curves.push((*srv, *c, pts));
            }
        }
        let per = |srv: &str| {
            idle.and_then(|i| stat(i, srv, "/per_socket_bytes"))
                .map(|s| format!("{:.1} KB", s.med / 1024.0))
                .unwrap_or_else(|| "–".into())
        };
        let title = format!(
            "server RSS (idle: gateway {}/socket, reference {})",
            per("gateway"),
            per("reference")
        );
        let mut ch = ChartBuilder::on(&left)
            .caption(&title, ("sans-serif", 12))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..maxx * 1.05, 0.0..maxy * 1.1)?;
        ch.configure_mesh()
            .x_desc("sockets")
            .y_desc("RSS, MB")
            .draw()?;
        let mut seen = std::collections::HashSet::new();
        for (srv, c, pts) in &curves {
            let s = ch.draw_series(LineSeries::new(
                pts.iter().map(|p| (p.0, p.1)),
                c.stroke_width(2),
            ))?;
            if seen.insert(*srv) {
                let c = *c;
                s.label(*srv).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 15, y)], c.stroke_width(2))
                });
            }
        }
        ch.configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        let mut ch = ChartBuilder::on(&right)
            .caption("probe relay p99 vs sockets", ("sans-serif", 12))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.0..maxx * 1.05, (0.01..maxl * 2.0).log_scale())?;
        ch.configure_mesh()
            .x_desc("sockets")
            .y_desc("p99, ms (log)")
            .draw()?;
        let mut seen = std::collections::HashSet::new();
        for (srv, c, pts) in &curves {
            let s = ch.draw_series(LineSeries::new(
                pts.iter().filter(|p| p.2 > 0.0).map(|p| (p.0, p.2)),
                c.stroke_width(2),
            ))?;
            if seen.insert(*srv) {
                let c = *c;
                s.label(*srv).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 15, y)], c.stroke_width(2))
                });
            }
        }
        ch.configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
        root.present()?;
        files.push(name);
    }
    Ok(files)
}
