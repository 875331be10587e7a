//! The soak scenario in BENCHMARKS.md.

use super::table::{Fig, both, cell, failures, met, num, row, row_plain, section_head, target};
use crate::results::Doc;
use crate::scen::soak::{Params, Soak, Tally};
use crate::server::Kind;

type D = Doc<Params, Soak>;

/// A counter of the tally.
type Count = fn(&Tally) -> u64;

const MB: f64 = 1.0 / 1024.0;

pub fn targets(md: &mut String, d: &D) {
    let p = &d.params;
    let bad = |k: Kind| d.total(k, |r| r.tally.violations() as f64);
    let measured = |k: Kind| d.results(k).next().is_some();
    let gbad = bad(Kind::Gateway);
    target(
        md,
        &format!(
            "Soak ({} s, {} sockets joining, leaving, reconnecting, relaying): deliveries lost, misrouted, cross-room or out of order, room views wrong, errors (all runs)",
            num(p.secs),
            p.sockets
        ),
        [
            &num(gbad),
            &num(bad(Kind::Reference)),
            "",
            "0",
            met(measured(Kind::Gateway).then_some(gbad == 0.0)),
        ],
    );
    let (gg, rg) = both(d, |r| Some(r.rss.growth_kb as f64));
    let (gs, rs) = both(d, |r| Some(r.rss.slope_kb_per_min));
    let gflat = d
        .results(Kind::Gateway)
        .map(|r| r.rss.flat && !r.fds_leaked())
        .reduce(|a, b| a && b);
    target(
        md,
        &format!(
            "Soak: server RSS after the {} s warm-up: highest minus warm, MB; slope, MB/h",
            num(p.warmup_secs)
        ),
        [
            &format!("{}; {}", cell(gg, MB), cell(gs, 60.0 * MB)),
            &format!("{}; {}", cell(rg, MB), cell(rs, 60.0 * MB)),
            "",
            &format!(
                "≤ {} MB; ≤ {} MB/h",
                num(p.max_growth_mb),
                num(p.max_slope_mb_per_hour)
            ),
            met(gflat),
        ],
    );
}

pub fn section(md: &mut String, d: &D) {
    let p = &d.params;
    section_head(
        md,
        "Soak",
        &format!(
            "{} sockets for {} s (the first {} s are warm-up: left out of the rates and the memory verdict, not of the checks). Each socket loops: connect, join 1 to {} rooms in turn (rooms of up to 10 from {} slots; a slot's room is replaced by a new one every {} s or when empty, and the servers run with `ROOM_TTL={}s`, so rooms are created and expire all through the run), stay {}–{} ms in each sending `webrtc:ice` with an ack to a random peer of the room ({} msg/s offered over all sockets), then leave and close, or, for {} % of the connections, close without leaving; reconnect at once. The generator keeps a ledger of who is in which room and of every relay: a relay the server accepted (ack `{{ ok: true }}`) must reach its target, once, in order, from the right sender, while the target is in the sender's room; a refusal (`PEER_NOT_FOUND`) is expected only when the target had begun to leave; every socket's view of its room (`room:joined`, `peer:joined`, `peer:left`) is checked when it leaves. RSS (`VmRSS`), open files and CPU are sampled every second; **flat RSS** means the least-squares slope of RSS after the warm-up and the highest RSS after the warm-up minus the RSS at its end (mean of its last 5 s) both stay under their bounds ({} MB/h, {} MB). Open files are also compared before the first socket and 2 s after the last closed.",
            p.sockets,
            num(p.secs),
            num(p.warmup_secs),
            p.rooms_per_connection,
            p.rooms,
            num(p.rotate_secs),
            p.room_ttl_secs,
            p.dwell_min_ms,
            p.dwell_max_ms,
            num(p.relay_rate),
            num(p.drop_percent),
            num(p.max_slope_mb_per_hour),
            num(p.max_growth_mb),
        ),
    );
    // (label, scale, lower is better or None for no ratio, figure)
    let figs: [(&str, f64, Option<bool>, Fig<Soak>); 19] = [
        (
            "requests handled/s (handshakes, creates, joins, leaves, closes, relays)",
            1.0,
            None,
            |r| r.ops_per_s,
        ),
        ("server CPU per request, µs", 1.0, Some(true), |r| {
            r.server_cpu_us_per_op
        }),
        ("server CPU use (cores)", 1.0, Some(true), |r| {
            r.server_cpu_util
        }),
        ("generator CPU use (cores)", 1.0, None, |r| r.bench_cpu_util),
        ("connects/s", 1.0, None, |r| r.connects_per_s),
        ("joins/s", 1.0, None, |r| r.joins_per_s),
        ("relays delivered/s", 1.0, None, |r| r.relays_per_s),
        ("relay latency p50, ms", 1.0, Some(true), |r| {
            r.relay_latency.p50_ms
        }),
        ("relay latency p99, ms", 1.0, Some(true), |r| {
            r.relay_latency.p99_ms
        }),
        ("relay latency max, ms", 1.0, Some(true), |r| {
            r.relay_latency.max_ms
        }),
        ("`room:joined` p50, ms", 1.0, Some(true), |r| {
            r.join_latency.p50_ms
        }),
        ("`room:joined` p99, ms", 1.0, Some(true), |r| {
            r.join_latency.p99_ms
        }),
        ("handshake p99, ms", 1.0, Some(true), |r| {
            r.connect_latency.p99_ms
        }),
        ("RSS at the end of the warm-up, MB", MB, Some(true), |r| {
            r.rss.warm_kb as f64
        }),
        ("RSS highest after the warm-up, MB", MB, Some(true), |r| {
            r.rss.max_kb as f64
        }),
        ("RSS highest minus warm, MB", MB, None, |r| {
            r.rss.growth_kb as f64
        }),
        ("RSS slope after the warm-up, MB/h", 60.0 * MB, None, |r| {
            r.rss.slope_kb_per_min
        }),
        ("open files before the first socket", 1.0, None, |r| {
            r.fds_before as f64
        }),
        ("open files after the last socket closed", 1.0, None, |r| {
            r.fds_after as f64
        }),
    ];
    for (label, scale, lower_better, f) in figs {
        match lower_better {
            Some(invert) => row(md, d, label, scale, invert, |r| Some(f(r))),
            None => row_plain(md, d, label, scale, |r| Some(f(r))),
        }
    }
    for k in [Kind::Gateway, Kind::Reference] {
        if d.results(k).any(|r| r.bench_cpu_util >= 0.8) {
            md.push_str(&format!(
                "\nThe generator used ≥ 0.8 core in a {} run: it, not the server, may have set the pace there.\n",
                k.name()
            ));
        }
    }
    md.push_str("\nCounts (all runs):\n\n| | Gateway | Reference |\n|---|---|---|\n");
    let counts: [(&str, Count); 16] = [
        ("connects", |t| t.connects),
        ("rooms created", |t| t.creates),
        ("joins", |t| t.joins),
        ("joins refused: room full (expected)", |t| t.full),
        ("leaves", |t| t.leaves),
        ("closes without leaving", |t| t.drops),
        ("relays sent", |t| t.relays_sent),
        ("relays delivered", |t| t.relays_delivered),
        ("relays refused: target leaving (expected)", |t| {
            t.relays_refused
        }),
        ("**lost** (of which never answered)", |t| t.lost),
        ("**misrouted**", |t| t.misrouted),
        ("**cross-room**", |t| t.cross_room),
        ("**refused while the target stayed**", |t| t.wrongly_refused),
        ("**out of order**", |t| t.out_of_order),
        (
            "**room views wrong** (lost or spurious `peer:joined`/`peer:left`)",
            |t| t.room_view_errors,
        ),
        ("**errors**", |t| t.errors),
    ];
    for (label, f) in counts {
        let total = |k: Kind| {
            let n = d.total(k, |r| f(&r.tally) as f64);
            if label.starts_with("**lost**") {
                let u = d.total(k, |r| r.tally.unanswered as f64);
                format!("{} ({})", num(n), num(u))
            } else {
                num(n)
            }
        };
        md.push_str(&format!(
            "| {label} | {} | {} |\n",
            total(Kind::Gateway),
            total(Kind::Reference)
        ));
    }
    md.push('\n');
    failures(md, d);
}
