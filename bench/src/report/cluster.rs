//! The cluster relay scenarios in BENCHMARKS.md: one table, 1, 2 and 3 nodes.

use super::table::{cell, failures, num, raw};
use crate::results::Doc;
use crate::scen::cluster::tally::{FreezeCounts, WindowCounts};
use crate::scen::cluster::{BASELINE, Cluster, ClusterPhase, FreezeRound, Params, Summary};
use crate::scen::relay::{self, RelayPhase};
use crate::server::Kind;
use crate::stats::Stat;

type D = Doc<Params, Cluster>;

const HEAD: &str = "| nodes | rooms' peers | phase | delivered msg/s | p50 ms | p99 ms | gateway CPU µs/msg (all nodes) | Redis CPU µs/msg | generator CPU µs/msg | lost + misrouted + out of order |\n|---|---|---|---|---|---|---|---|---|---|\n";

fn relay_cells(s: impl Fn(&dyn Fn(&RelayPhase) -> f64) -> Option<Stat>) -> [String; 5] {
    [
        cell(s(&|p| p.throughput_per_s), 1.0),
        cell(s(&|p| p.latency.p50_ms), 1.0),
        cell(s(&|p| p.latency.p99_ms), 1.0),
        cell(s(&|p| p.server_cpu_us_per_msg), 1.0),
        cell(s(&|p| p.bench_cpu_us_per_msg), 1.0),
    ]
}

pub fn section(md: &mut String, docs: &[&D], one_node: Option<&Doc<relay::Params, relay::Relay>>) {
    let Some(first) = docs.first() else {
        return;
    };
    let p = &first.params;
    md.push_str(&format!(
        "## Cluster relay\n\nThe relay scenario across gateway nodes sharing one `redis-server` (`REDIS_URL`): {} rooms of 2, both peers sending `webrtc:ice` to each other, checked on arrival as in the relay scenario. **Fixed rate**: {} msg/s offered in total; **saturation**: {} messages in flight per sender; {} s each. Each node runs with `WORKER_THREADS=1`; the gateway CPU column is every node's together, per delivered message; Redis's CPU is measured apart (from the senders' start to the end of the drain, a little more than the window). \"baseline: 1 node, no Redis\": a separate gateway without `REDIS_URL`, measured first in the same 2-node run on the same pairs, rate and window (only that gateway's CPU counts meanwhile); \"one node\": both peers of a room on the same node of a 2-node cluster (the relay stays on the node); \"across nodes\": each room's peers on two different nodes (the relay goes on the target node's own Redis channel). The first row (no Redis) is the relay scenario's, from its own run.\n\n{HEAD}",
        p.pairs,
        num(p.rate),
        p.window,
        raw(p.secs)
    ));
    if let Some(r) = one_node {
        for (phase, part) in [
            (
                "fixed rate",
                (|x: &relay::Relay| &x.fixed) as fn(&relay::Relay) -> &RelayPhase,
            ),
            ("saturation", |x: &relay::Relay| &x.saturation),
        ] {
            let [t, p50, p99, cpu, gen_cpu] =
                relay_cells(|f| r.stat(Kind::Gateway, |x| Some(f(part(x)))));
            let bad = r.total(Kind::Gateway, |x| part(x).bad() as f64);
            md.push_str(&format!(
                "| 1 | no Redis ({} rooms) | {phase} | {t} | {p50} | {p99} | {cpu} | – | {gen_cpu} | {} |\n",
                r.params.pairs,
                num(bad)
            ));
        }
    }
    for d in docs {
        let placements = d
            .results(Kind::Gateway)
            .next()
            .map(|c| c.placements.len())
            .unwrap_or(0);
        let nodes = d.results(Kind::Gateway).next().map_or(0, |c| c.nodes);
        for i in 0..placements {
            let name = d
                .results(Kind::Gateway)
                .next()
                .map(|c| c.placements[i].placement.clone())
                .unwrap_or_default();
            for (phase, saturation) in [("fixed rate", false), ("saturation", true)] {
                let part = |c: &Cluster| -> ClusterPhase {
                    let pl = &c.placements[i];
                    if saturation {
                        pl.saturation.clone()
                    } else {
                        pl.fixed.clone()
                    }
                };
                let [t, p50, p99, cpu, gen_cpu] =
                    relay_cells(|f| d.stat(Kind::Gateway, |c| Some(f(&part(c).relay))));
                // The baseline has no Redis: a dash, not a measured 0.
                let redis = if name == BASELINE {
                    "–".to_owned()
                } else {
                    cell(
                        d.stat(Kind::Gateway, |c| Some(part(c).redis_cpu_us_per_msg)),
                        1.0,
                    )
                };
                let bad = d.total(Kind::Gateway, |c| part(c).relay.bad() as f64);
                md.push_str(&format!(
                    "| {nodes} | {name} | {phase} | {t} | {p50} | {p99} | {cpu} | {redis} | {gen_cpu} | {} |\n",
                    num(bad)
                ));
            }
        }
    }
    md.push_str("\nMedian [min–max] over the repetitions.\n\n");
    for d in docs {
        freeze(md, d);
    }
    for d in docs {
        if let Some(s) = d
            .summary
            .clone()
            .and_then(|v| serde_json::from_value(v).ok())
        {
            targets(md, &s);
        }
    }
    for d in docs {
        failures(md, d);
    }
}

/// Issue 20's targets against `cluster2.json`'s `summary` (gateway CPU of
/// all nodes + Redis CPU, µs per delivered message, medians).
fn targets(md: &mut String, s: &Summary) {
    let verdict = |ok: bool| if ok { "met" } else { "**not met**" };
    md.push_str("### Cluster targets (issue 20)\n\nFrom `cluster2.json`'s `summary`: gateway CPU of all nodes + Redis CPU per delivered message, in µs, the baseline being a separate gateway without Redis measured in the same run on the same pairs, rate and window.\n\n| target | measured | bound | verdict |\n|---|---|---|---|\n");
    let rows = [
        (
            "across nodes, saturation ≤ 2× baseline",
            s.across_saturation_us,
            2.0 * s.baseline_saturation_us,
        ),
        (
            "across nodes, fixed rate ≤ 2× baseline",
            s.across_fixed_us,
            2.0 * s.baseline_fixed_us,
        ),
        (
            "both peers on one node, saturation ≤ 1.2× baseline",
            s.local_saturation_us,
            1.2 * s.baseline_saturation_us,
        ),
    ];
    for (what, got, bound) in rows {
        md.push_str(&format!(
            "| {what} | {got:.1} | {bound:.1} | {} |\n",
            verdict(got <= bound)
        ));
    }
    if s.freeze_measured {
        md.push_str(&format!(
            "| relays acked `{{ok:true}}` and then lost while a node is frozen (freeze phase) | {} | 0 | {} |\n",
            s.acked_then_lost,
            verdict(s.acked_then_lost == 0)
        ));
    }
    md.push_str(&format!(
        "\nBaseline: {:.1} µs/msg at saturation, {:.1} µs/msg at the fixed rate.",
        s.baseline_saturation_us, s.baseline_fixed_us
    ));
    if !s.freeze_measured {
        md.push_str(" Acked then lost while a node is frozen: not measured (no freeze phase in this run; `acked_then_lost` is written as 0).");
    }
    md.push_str("\n\n");
}

/// The freeze phase's rounds, counts summed over the runs.
fn freeze(md: &mut String, d: &D) {
    let runs: Vec<&Cluster> = d.results(Kind::Gateway).collect();
    let Some(first) = runs.first().filter(|c| !c.freeze.is_empty()) else {
        return;
    };
    let p = &d.params;
    md.push_str(&format!(
        "### Freeze phase ({}-node run)\n\nA third node is frozen (SIGSTOP) for {} s while {} senders on the two measured nodes relay acked `webrtc:offer`s (`42<id>[...]`, {} msg/s in all) to their room's member on it, 1 s before, during and 1 s after the freeze; then resumed (SIGCONT), and the phase waits that node's `NODE_TIMEOUT` and a sweep, plus 1 s, for the outcome. Each relay is counted in the window it was sent in: acked `{{ok:true}}` and delivered, acked and **never delivered**, refused (by code), never answered. One round per frozen node: with the gateway's default liveness (the freeze is shorter than `NODE_TIMEOUT`), and with a `NODE_TIMEOUT` shorter than the freeze. Times in ms from the SIGSTOP.\n\n| frozen node (heartbeat / timeout) | window | relays | acked ok, delivered | acked ok, lost (sent at) | refused | no answer | outcome |\n|---|---|---|---|---|---|---|---|\n",
        first.nodes,
        raw(p.freeze_secs),
        p.freeze_pairs,
        num(p.freeze_rate)
    ));
    for i in 0..first.freeze.len() {
        let rounds: Vec<&FreezeRound> = runs.iter().filter_map(|c| c.freeze.get(i)).collect();
        let mut counts = FreezeCounts::default();
        for r in &rounds {
            counts.absorb(&r.counts);
        }
        let r = rounds[0];
        let node = format!(
            "{} ({} / {} ms)",
            r.node, r.node_heartbeat_ms, r.node_timeout_ms
        );
        let outcomes: Vec<String> = rounds.iter().map(|r| outcome(r)).collect();
        for (k, (window, w)) in [
            ("1 s before", &counts.before),
            ("frozen", &counts.frozen),
            ("1 s after", &counts.after),
        ]
        .into_iter()
        .enumerate()
        {
            let (name, out) = if k == 0 {
                (node.as_str(), outcomes.join("; "))
            } else {
                ("", String::new())
            };
            md.push_str(&format!(
                "| {name} | {window} | {} | {} | {} | {} | {} | {out} |\n",
                w.sent,
                w.acked_delivered,
                lost(w),
                w.refused_text(),
                w.no_answer
            ));
        }
    }
    md.push('\n');
}

fn lost(w: &WindowCounts) -> String {
    match w.lost_sent_ms {
        Some((a, b)) if w.acked_lost > 0 => format!("**{}** ({a}–{b})", w.acked_lost),
        _ => w.acked_lost.to_string(),
    }
}

/// `reaped: peer:left at a–b, sockets closed at c–d`, or `rejoined`.
fn outcome(r: &FreezeRound) -> String {
    let span = |s: Option<(i64, i64)>| s.map_or("–".to_owned(), |(a, b)| format!("{a}–{b}"));
    let mut out = format!(
        "{}: {} kept, {} reported `peer:left` (at {}), {} disconnected (at {})",
        r.outcome,
        r.members_kept,
        r.members_reported_left,
        span(r.peer_left_ms),
        r.members_disconnected,
        span(r.disconnected_ms)
    );
    if let Some(last) = r.counts.frozen.last_ok_sent_ms {
        out.push_str(&format!(
            "; the last relay sent while frozen and acked ok: at {last}"
        ));
    }
    out
}
