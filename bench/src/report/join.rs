//! The join scenario in BENCHMARKS.md.

use super::table::{
    Fig, MaybeFig, Part, both, compared, failures, met, num, phase_rows, ratio, raw, row,
    section_head,
};
use crate::results::Doc;
use crate::scen::join::{Join, JoinPhase, Params};
use crate::stats::Stat;

type D = Doc<Params, Join>;

pub fn targets(md: &mut String, d: &D) {
    let p = &d.params;
    let (gj, rj) = both(d, |r| Some(r.storm.joins_per_s));
    compared(
        md,
        &format!("Join storm ({} sockets, rooms of 2–10), joins/s", p.sockets),
        (gj, rj),
        false,
        "≥ 5×",
        met(ratio(gj, rj, false).map(|x| x >= 5.0)),
    );
    compared(
        md,
        &format!(
            "Join storm `room:joined` p99 at saturation ({} sockets, closed loop: scheduling order, see the analysis), ms",
            p.sockets
        ),
        both(d, |r| Some(r.storm.latency.p99_ms)),
        true,
        "–",
        "–",
    );
    let under_10_ms =
        |(g, r): (Option<Stat>, Option<Stat>)| ((g, r), met(g.map(|s| s.med <= 10.0)));
    let (paced, verdict) = under_10_ms(both(d, |r| Some(r.paced.latency.p99_ms)));
    compared(
        md,
        &format!(
            "Join storm `room:joined` p99 at {} joins/s offered ({} sockets, open loop), ms",
            num(p.paced_joins_per_s),
            p.sockets
        ),
        paced,
        true,
        "≤ 10 ms",
        verdict,
    );
    let (light, verdict) = under_10_ms(both(d, |r| Some(r.light.latency.p99_ms)));
    compared(
        md,
        &format!(
            "Join `room:joined` p99, light phase ({} sockets), ms",
            p.light_sockets
        ),
        light,
        true,
        "≤ 10 ms",
        verdict,
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
    let figs: [(&str, bool, Fig<JoinPhase>); 6] = [
        ("joins/s", false, |p| p.joins_per_s),
        ("`room:joined` p50, ms", true, |p| p.latency.p50_ms),
        ("`room:joined` p99, ms", true, |p| p.latency.p99_ms),
        ("`room:joined` p99.9, ms", true, |p| p.latency.p999_ms),
        ("server CPU per join+leave, µs", true, |p| {
            p.server_cpu_us_per_join_leave
        }),
        ("server CPU use (cores)", false, |p| p.server_cpu_util),
    ];
    phase_rows(md, d, &phases, &figs);
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
