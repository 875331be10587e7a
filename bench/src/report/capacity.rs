//! The capacity scenario in BENCHMARKS.md.

use super::table::{both, cell, compared, failures, fmt_ratio, met, num, ratio, raw, row, target};
use crate::results::Doc;
use crate::scen::capacity::{Capacity, Params};
use crate::server::Kind;

type D = Doc<Params, Capacity>;

pub fn targets(md: &mut String, d: &D) {
    let (gs, rs) = both(d, |r| Some(r.max_sockets as f64));
    let goal = d.params.steps.iter().copied().max().unwrap_or(0) as f64;
    compared(
        md,
        "Capacity: concurrent sockets reached (fd cap 20,000 per process)",
        (gs, rs),
        false,
        &num(goal),
        met(gs.map(|s| s.med >= goal)),
    );
    let (gf, rf) = both(d, |r| r.probe_p99_first_ms);
    let (gla, rla) = both(d, |r| r.probe_p99_last_ms);
    let gmax = d.stat(Kind::Gateway, |r| Some(r.probe_p99_max_ms));
    // "Flat": no cliff, i.e. the worst step's p99 within 3× the first step's or under 5 ms.
    let flat = match (gf, gmax) {
        (Some(a), Some(b)) => Some(b.med <= (a.med * 3.0).max(5.0)),
        _ => None,
    };
    target(
        md,
        "Capacity: probe relay p99 at the first → last step, ms",
        [
            &format!("{} → {}", cell(gf, 1.0), cell(gla, 1.0)),
            &format!("{} → {}", cell(rf, 1.0), cell(rla, 1.0)),
            "",
            "flat",
            met(flat),
        ],
    );
    let (gp, rp) = both(d, |r| Some(r.projected_rss_200k_bytes));
    target(
        md,
        "Memory extrapolated to 200k sockets (linear fit of RSS), GB",
        [
            &cell(gp, 1e-9),
            &cell(rp, 1e-9),
            &format!("{} smaller", fmt_ratio(ratio(gp, rp, true))),
            "≤ 1.6 GB",
            met(gp.map(|s| s.med <= 1.6e9)),
        ],
    );
}

pub fn section(md: &mut String, d: &D) {
    let p = &d.params;
    md.push_str(&format!(
        "## Capacity\n\nSockets are added in steps up to {} in total (the open-files cap is 20,000 per process, for the generator and for the server); at each step: connect the new sockets (256 handshakes in flight), wait 1 s, read the server RSS, then run a probe relay ({} rooms of 2, {} msg/s, {} s) among them. The run stops at the first connect error, dropped socket, probe failure or server death.\n\n",
        p.steps.last().copied().unwrap_or(0),
        p.probe_pairs,
        raw(p.probe_rate),
        raw(p.probe_secs)
    ));
    md.push_str("| | Gateway | Reference | Gateway better by |\n|---|---|---|---|\n");
    row(md, d, "Sockets reached", 1.0, false, |r| {
        Some(r.max_sockets as f64)
    });
    row(md, d, "RSS per socket (fit), bytes", 1.0, true, |r| {
        Some(r.fit_bytes_per_socket)
    });
    row(
        md,
        d,
        "RSS projected for 200k sockets, MB",
        1.0 / 1048576.0,
        true,
        |r| Some(r.projected_rss_200k_bytes),
    );
    row(md, d, "Probe p99 at the first step, ms", 1.0, true, |r| {
        r.probe_p99_first_ms
    });
    row(md, d, "Probe p99 at the last step, ms", 1.0, true, |r| {
        r.probe_p99_last_ms
    });
    row(
        md,
        d,
        "Worst probe p99 over the steps, ms",
        1.0,
        true,
        |r| Some(r.probe_p99_max_ms),
    );
    md.push('\n');
    for srv in [Kind::Gateway, Kind::Reference] {
        let Some(run) = d.results(srv).last() else {
            continue;
        };
        md.push_str(&format!("Steps, {} (last repetition):\n\n", srv.name()));
        md.push_str(
            "| sockets | RSS MB | connects/s | handshake p99 ms | probe p50 ms | probe p99 ms | probe p99.9 ms |\n|---|---|---|---|---|---|---|\n",
        );
        for s in &run.steps {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                s.sockets,
                num(s.rss_kb as f64 / 1024.0),
                raw(s.connect.per_s),
                raw(s.connect.handshake.p99_ms),
                raw(s.probe.latency.p50_ms),
                raw(s.probe.latency.p99_ms),
                raw(s.probe.latency.p999_ms)
            ));
        }
        if let Some(why) = &run.stop_reason {
            md.push_str(&format!(
                "\nStopped: {}\n",
                serde_json::Value::from(why.as_str())
            ));
        }
        md.push('\n');
    }
    failures(md, d);
}
