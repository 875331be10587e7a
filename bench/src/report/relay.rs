//! The relay scenario in BENCHMARKS.md.

use super::table::{
    Fig, MaybeFig, Part, both, cell, compared, failures, met, num, phase_rows, ratio, row,
    section_head, target,
};
use crate::results::Doc;
use crate::scen::relay::{Params, Relay, RelayPhase};
use crate::server::Kind;
use crate::stats::Stat;

type D = Doc<Params, Relay>;

pub fn targets(md: &mut String, d: &D) {
    let ratio_at_least =
        |g: Option<Stat>, r: Option<Stat>, x: f64| met(ratio(g, r, false).map(|y| y >= x));
    let (ge, re) = both(d, |r| Some(r.saturation.msgs_per_server_cpu_s));
    compared(
        md,
        "Relay efficiency at saturation (messages per server CPU-second)",
        (ge, re),
        false,
        "≥ 10×",
        ratio_at_least(ge, re, 10.0),
    );
    let (gt, rt) = both(d, |r| Some(r.saturation.throughput_per_s));
    compared(
        md,
        "Relay throughput at saturation (delivered messages/s)",
        (gt, rt),
        false,
        "≥ 5×",
        ratio_at_least(gt, rt, 5.0),
    );
    let bad = |k: Kind| d.total(k, |r| (r.fixed.bad() + r.saturation.bad()) as f64);
    let gbad = bad(Kind::Gateway);
    target(
        md,
        "Relay messages lost, misrouted or out of order (all runs)",
        [
            &num(gbad),
            &num(bad(Kind::Reference)),
            "",
            "0",
            met(Some(gbad == 0.0)),
        ],
    );
    let (gl, rl) = both(d, |r| Some(r.fixed.latency.p99_ms));
    compared(
        md,
        &format!(
            "Relay latency p99 at {} msg/s offered ({} rooms of 2), ms",
            num(d.params.rate),
            d.params.pairs
        ),
        (gl, rl),
        true,
        "≤ 1 ms",
        met(gl.map(|s| s.med <= 1.0)),
    );
}

pub fn section(md: &mut String, d: &D) {
    let p = &d.params;
    section_head(
        md,
        "Relay",
        &format!(
            "{} rooms of 2; both peers send `webrtc:ice` (a ~100-byte candidate carrying a per-sender sequence number and the send time) to each other, without acks. **Fixed rate**: {} msg/s offered in total, evenly paced (after a 1 s unmeasured warm-up). **Saturation**: each sender keeps {} messages in flight (closed loop). Every received message is checked: event name, `fromPeerId` = the partner, `targetPeerId` = me, sequence = previous + 1; after each phase the bench waits until everything sent has arrived (5 s at most); what did not is lost. CPU is utime+stime from `/proc/PID/stat` (all threads) over the {} s window; wake-ups are the servers' voluntary context switches (`/proc/PID/task/*/status`), system calls the kernel's `raw_syscalls:sys_enter` count (`perf stat`), both over the same window; the kernel's part of the CPU is stime.",
            p.pairs,
            num(p.rate),
            p.window,
            super::table::raw(p.secs)
        ),
    );
    let phases: [(&str, Part<Relay, RelayPhase>); 2] = [
        ("fixed rate", |r| &r.fixed),
        ("saturation", |r| &r.saturation),
    ];
    let figs: [(&str, bool, Fig<RelayPhase>); 10] = [
        ("delivered msg/s", false, |p| p.throughput_per_s),
        ("latency p50, ms", true, |p| p.latency.p50_ms),
        ("latency p99, ms", true, |p| p.latency.p99_ms),
        ("latency p99.9, ms", true, |p| p.latency.p999_ms),
        ("latency max, ms", true, |p| p.latency.max_ms),
        ("server CPU µs per message", true, |p| {
            p.server_cpu_us_per_msg
        }),
        ("messages per server CPU-second", false, |p| {
            p.msgs_per_server_cpu_s
        }),
        ("server CPU use (cores)", false, |p| p.server_cpu_util),
        ("generator CPU µs per message", true, |p| {
            p.bench_cpu_us_per_msg
        }),
        ("lost + misrouted + out of order", false, |p| p.bad() as f64),
    ];
    phase_rows(md, d, &phases, &figs);
    // Counts, steady where CPU time is noisy; runs from before they were
    // recorded show none.
    let counts: [(&str, MaybeFig<RelayPhase>); 3] = [
        ("of which in the kernel, µs", |p| {
            p.server_system_cpu_us_per_msg
        }),
        ("server wake-ups per message", |p| p.server_wakeups_per_msg),
        ("server system calls per message", |p| {
            p.server_syscalls_per_msg
        }),
    ];
    for (name, part) in &phases {
        for (label, f) in &counts {
            if both(d, |r| f(part(r))) == (None, None) {
                continue;
            }
            row(md, d, &format!("{name}: {label}"), 1.0, true, |r| {
                f(part(r))
            });
        }
    }
    md.push('\n');
    failures(md, d);
}

/// The saturation relay with one worker beside the default runtime (a
/// worker per core), server and generator CPU side by side.
pub fn defaults_section(md: &mut String, one_worker: Option<&D>, default: &D) {
    let p = &default.params;
    md.push_str(&format!(
        "## Relay with the default runtime\n\nThe relay scenario ({} rooms of 2, {} messages in flight per sender at saturation, {} s) against the gateway started without `WORKER_THREADS`, as a deployment runs it: a tokio worker per core, here 2, sharing the 2 cores with the one-thread generator. Beside it, the relay section's run with `WORKER_THREADS=1`. Generator CPU use near 1 core means the generator, not the server, sets the throughput.\n\n| runtime | phase | delivered msg/s | p50 ms | p99 ms | server CPU µs/msg | server CPU use (cores) | generator CPU µs/msg | generator CPU use (cores) | lost + misrouted + out of order |\n|---|---|---|---|---|---|---|---|---|---|\n",
        p.pairs,
        p.window,
        super::table::raw(p.secs)
    ));
    let phases: [(&str, Part<Relay, RelayPhase>); 2] = [
        ("fixed rate", |r| &r.fixed),
        ("saturation", |r| &r.saturation),
    ];
    let runs = [
        ("`WORKER_THREADS=1`", one_worker),
        ("default (2 workers)", Some(default)),
    ];
    for (runtime, d) in runs {
        let Some(d) = d else { continue };
        for (phase, part) in &phases {
            let s = |f: Fig<RelayPhase>| cell(d.stat(Kind::Gateway, |r| Some(f(part(r)))), 1.0);
            let bad = d.total(Kind::Gateway, |r| part(r).bad() as f64);
            md.push_str(&format!(
                "| {runtime} | {phase} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
                s(|p| p.throughput_per_s),
                s(|p| p.latency.p50_ms),
                s(|p| p.latency.p99_ms),
                s(|p| p.server_cpu_us_per_msg),
                s(|p| p.server_cpu_util),
                s(|p| p.bench_cpu_us_per_msg),
                s(|p| if p.secs > 0.0 {
                    p.bench_cpu_s / p.secs
                } else {
                    0.0
                }),
                num(bad)
            ));
        }
    }
    md.push('\n');
    failures(md, default);
}
