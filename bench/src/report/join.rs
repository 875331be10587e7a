//! The join scenario in BENCHMARKS.md.

use super::table::{
    Fig, MaybeFig, Part, both, cell, failures, fmt_ratio, met, num, ratio, raw, row, section_head,
    target,
};
use crate::results::Doc;
use crate::scen::join::{Join, JoinPhase, Params};

type D = Doc<Params, Join>;

pub fn targets(md: &mut String, d: &D) {
    let p = &d.params;
    let (gj, rj) = both(d, |r| Some(r.storm.joins_per_s));
    let x = ratio(gj, rj, false);
    target(
        md,
        &format!("Join storm ({} sockets, rooms of 2–10), joins/s", p.sockets),
        [
            &cell(gj, 1.0),
            &cell(rj, 1.0),
            &fmt_ratio(x),
            "≥ 5×",
            met(x.map(|x| x >= 5.0)),
        ],
    );
    let (gl, rl) = both(d, |r| Some(r.storm.latency.p99_ms));
    target(
        md,
        &format!(
            "Join storm `room:joined` p99 at saturation ({} sockets, closed loop: scheduling order, see the analysis), ms",
            p.sockets
        ),
        [
            &cell(gl, 1.0),
            &cell(rl, 1.0),
            &fmt_ratio(ratio(gl, rl, true)),
            "–",
            "–",
        ],
    );
    let (gl, rl) = both(d, |r| Some(r.paced.latency.p99_ms));
    target(
        md,
        &format!(
            "Join storm `room:joined` p99 at {} joins/s offered ({} sockets, open loop), ms",
            num(p.paced_joins_per_s),
            p.sockets
        ),
        [
            &cell(gl, 1.0),
            &cell(rl, 1.0),
            &fmt_ratio(ratio(gl, rl, true)),
            "≤ 10 ms",
            met(gl.map(|s| s.med <= 10.0)),
        ],
    );
    let (gl, rl) = both(d, |r| Some(r.light.latency.p99_ms));
    target(
        md,
        &format!(
            "Join `room:joined` p99, light phase ({} sockets), ms",
            p.light_sockets
        ),
        [
            &cell(gl, 1.0),
            &cell(rl, 1.0),
            &fmt_ratio(ratio(gl, rl, true)),
            "≤ 10 ms",
            met(gl.map(|s| s.med <= 10.0)),
        ],
    );
}

pub fn section(md: &mut String, d: &D) {
    let p = &d.params;
    section_head(
        md,
        "Join storm",
        &format!(
            "Rooms of 2, 3, … 10 (cycling). Each room is created by its first socket (`create:room`, pipelined, timed separately), then for {} s every socket loops `join:room` → wait for `room:joined` → `leave:room` → wait for `room:left`, as fast as the server answers (one request in flight per socket, so latency ≈ sockets ÷ throughput at saturation). Each join and leave also fans `peer:joined`/`peer:left` out to the room. **Storm**: {} sockets (saturates both servers); every socket sends its first join at the same instant (the *burst*, reported apart), the storm's percentiles are over the joins after it. **Light**: {} sockets on the same server right after. **Paced**: {} sockets again, open loop: {} joins/s offered in all, each socket starting its cycle every sockets ÷ rate seconds, staggered evenly; a join sent late because the socket's previous cycle was still waiting for the server counts from its scheduled time, so a server that falls behind is charged for the queue it builds (otherwise from the send, so the generator's 1 ms timer granularity is not).",
            raw(p.secs),
            p.sockets,
            p.light_sockets,
            p.sockets,
            num(p.paced_joins_per_s)
        ),
    );
    let phases: [(&str, Part<Join, JoinPhase>); 3] = [
        ("storm", |r| &r.storm),
        ("light", |r| &r.light),
        ("paced", |r| &r.paced),
    ];
    for (name, ph) in phases {
        let mut fig = |label: &str, invert: bool, f: Fig<JoinPhase>| {
            row(md, d, &format!("{name}: {label}"), 1.0, invert, |r| {
                Some(f(ph(r)))
            })
        };
        fig("joins/s", false, |p| p.joins_per_s);
        fig("`room:joined` p50, ms", true, |p| p.latency.p50_ms);
        fig("`room:joined` p99, ms", true, |p| p.latency.p99_ms);
        fig("`room:joined` p99.9, ms", true, |p| p.latency.p999_ms);
        fig("server CPU per join+leave, µs", true, |p| {
            p.server_cpu_us_per_join_leave
        });
        fig("server CPU use (cores)", false, |p| p.server_cpu_util);
    }
    let burst: [(&str, MaybeFig<JoinPhase>); 3] = [
        ("p50", |p| p.burst_latency.as_ref().map(|l| l.p50_ms)),
        ("p99", |p| p.burst_latency.as_ref().map(|l| l.p99_ms)),
        ("max", |p| p.burst_latency.as_ref().map(|l| l.max_ms)),
    ];
    for (label, f) in burst {
        row(
            md,
            d,
            &format!("storm burst: first join of every socket at the same instant, {label}, ms"),
            1.0,
            true,
            |r| f(&r.storm),
        );
    }
    row(
        md,
        d,
        "Room creations/s (pipelined, storm)",
        1.0,
        false,
        |r| Some(r.storm.creates_per_s),
    );
    md.push('\n');
    failures(md, d);
}
