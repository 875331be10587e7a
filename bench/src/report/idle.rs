//! The idle scenario in BENCHMARKS.md.

use super::table::{both, cell, failures, fmt_ratio, met, ratio, row, section_head, target};
use crate::results::Doc;
use crate::scen::idle::{Idle, Params};

type D = Doc<Params, Idle>;

pub fn targets(md: &mut String, d: &D) {
    let (gm, rm) = both(d, |r| Some(r.per_socket_bytes));
    let x = ratio(gm, rm, true);
    let ok = gm.map(|s| s.med <= 8192.0 && x.is_some_and(|x| x >= 6.0));
    target(
        md,
        &format!(
            "Resident memory per idle authenticated socket ({} sockets), KB",
            d.params.sockets
        ),
        [
            &cell(gm, 1.0 / 1024.0),
            &cell(rm, 1.0 / 1024.0),
            &format!("{} smaller", fmt_ratio(x)),
            "≤ 8 KB and ≤ 1/6",
            met(ok),
        ],
    );
}

pub fn section(md: &mut String, d: &D) {
    section_head(
        md,
        "Idle sockets",
        &format!(
            "{} authenticated sockets connect (256 handshakes in flight) and stay idle (answering engine pings); server RSS (`VmRSS`) is read after a 100-socket warm-up, 3 s after the last connect, and 5 s after all of them closed.",
            d.params.sockets
        ),
    );
    let mb = 1.0 / 1024.0;
    row(md, d, "RSS per socket, bytes", 1.0, true, |r| {
        Some(r.per_socket_bytes)
    });
    row(md, d, "RSS before, MB", mb, true, |r| {
        Some(r.rss_before_kb as f64)
    });
    row(md, d, "RSS after, MB", mb, true, |r| {
        Some(r.rss_after_kb as f64)
    });
    // Only where recorded (older files lack it).
    let closed = |r: &Idle| r.rss_closed_kb.map(|kb| kb as f64);
    if let (Some(_), _) | (_, Some(_)) = both(d, closed) {
        row(md, d, "RSS 5 s after all closed, MB", mb, true, closed);
    }
    row(
        md,
        d,
        "Connects/s (handshake incl. JWT check)",
        1.0,
        false,
        |r| Some(r.connect.per_s),
    );
    row(md, d, "Handshake p50, ms", 1.0, true, |r| {
        Some(r.connect.handshake.p50_ms)
    });
    row(md, d, "Handshake p99, ms", 1.0, true, |r| {
        Some(r.connect.handshake.p99_ms)
    });
    row(md, d, "Server CPU per connect, ms", 1.0, true, |r| {
        Some(r.server_cpu_ms_per_connect)
    });
    md.push('\n');
    failures(md, d);
}
