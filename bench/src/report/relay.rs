//! The relay scenario in BENCHMARKS.md.

use super::table::{
    Fig, Part, both, cell, failures, fmt_ratio, met, num, ratio, row, section_head, target,
};
use crate::results::Doc;
use crate::scen::relay::{Params, Relay, RelayPhase};
use crate::server::Kind;

type D = Doc<Params, Relay>;

pub fn targets(md: &mut String, d: &D) {
    let (ge, re) = both(d, |r| Some(r.saturation.msgs_per_server_cpu_s));
    let x = ratio(ge, re, false);
    target(
        md,
        "Relay efficiency at saturation (messages per server CPU-second)",
        [
            &cell(ge, 1.0),
            &cell(re, 1.0),
            &fmt_ratio(x),
            "≥ 10×",
            met(x.map(|x| x >= 10.0)),
        ],
    );
    let (gt, rt) = both(d, |r| Some(r.saturation.throughput_per_s));
    let x = ratio(gt, rt, false);
    target(
        md,
        "Relay throughput at saturation (delivered messages/s)",
        [
            &cell(gt, 1.0),
            &cell(rt, 1.0),
            &fmt_ratio(x),
            "≥ 5×",
            met(x.map(|x| x >= 5.0)),
        ],
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
    target(
        md,
        &format!(
            "Relay latency p99 at {} msg/s offered ({} rooms of 2), ms",
            num(d.params.rate),
            d.params.pairs
        ),
        [
            &cell(gl, 1.0),
            &cell(rl, 1.0),
            &fmt_ratio(ratio(gl, rl, true)),
            "≤ 1 ms",
            met(gl.map(|s| s.med <= 1.0)),
        ],
    );
}

pub fn section(md: &mut String, d: &D) {
    let p = &d.params;
    section_head(
        md,
        "Relay",
        &format!(
            "{} rooms of 2; both peers send `webrtc:ice` (a ~100-byte candidate carrying a per-sender sequence number and the send time) to each other, without acks. **Fixed rate**: {} msg/s offered in total, evenly paced (after a 1 s unmeasured warm-up). **Saturation**: each sender keeps {} messages in flight (closed loop). Every received message is checked: event name, `fromPeerId` = the partner, `targetPeerId` = me, sequence = previous + 1; after each phase the bench waits until everything sent has arrived (5 s at most); what did not is lost. CPU is utime+stime from `/proc/PID/stat` (all threads) over the {} s window.",
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
    for (name, ph) in phases {
        let mut fig = |label: &str, invert: bool, f: Fig<RelayPhase>| {
            row(md, d, &format!("{name}: {label}"), 1.0, invert, |r| {
                Some(f(ph(r)))
            })
        };
        fig("delivered msg/s", false, |p| p.throughput_per_s);
        fig("latency p50, ms", true, |p| p.latency.p50_ms);
        fig("latency p99, ms", true, |p| p.latency.p99_ms);
        fig("latency p99.9, ms", true, |p| p.latency.p999_ms);
        fig("latency max, ms", true, |p| p.latency.max_ms);
        fig("server CPU µs per message", true, |p| {
            p.server_cpu_us_per_msg
        });
        fig("messages per server CPU-second", false, |p| {
            p.msgs_per_server_cpu_s
        });
        fig("server CPU use (cores)", false, |p| p.server_cpu_util);
        fig("generator CPU µs per message", true, |p| {
            p.bench_cpu_us_per_msg
        });
        fig("lost + misrouted + out of order", false, |p| p.bad() as f64);
    }
    md.push('\n');
    failures(md, d);
}
