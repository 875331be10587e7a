//! The instructions scenario in BENCHMARKS.md.

use super::table::{Part, cell, failures, num, raw};
use crate::results::Doc;
use crate::scen::instructions::{Counted, Instructions, Params};
use crate::server::Kind;

type D = Doc<Params, Instructions>;

pub fn section(md: &mut String, d: &D) {
    let p = &d.params;
    md.push_str(&format!(
        "## Instructions per relayed message\n\nThe relay's two phases ({} rooms of 2, `webrtc:ice`; {} msg/s offered, then {} messages in flight per sender; {} s each) against the gateway running under valgrind's callgrind (`-- instructions`), which counts the instructions the gateway executes in user space: its code and its libraries, not the kernel. The count is the same from run to run whatever else the machine does, so it shows what one change does where CPU time is noise. Under callgrind the gateway runs some 50× slower, so its batches differ from a native run's: compare counts with counts. Counters are reset before each phase and dumped after its drain, so wake-ups and timers are in. System calls (`perf stat`, `raw_syscalls:sys_enter`) and wake-ups (voluntary context switches) are over the phase's window. Gateway only (callgrind would count the reference's JIT compiler too).\n\n| phase | delivered msg/s | instructions per message | system calls per message | wake-ups per message | lost + misrouted + out of order |\n|---|---|---|---|---|---|\n",
        p.pairs,
        num(p.rate),
        p.window,
        raw(p.secs)
    ));
    let phases: [(&str, Part<Instructions, Counted>); 2] = [
        ("fixed rate", |r| &r.fixed),
        ("saturation", |r| &r.saturation),
    ];
    for (name, part) in phases {
        let s = |f: fn(&Counted) -> Option<f64>| cell(d.stat(Kind::Gateway, |r| f(part(r))), 1.0);
        let bad = d.total(Kind::Gateway, |r| part(r).phase.bad() as f64);
        md.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} |\n",
            s(|c| Some(c.phase.throughput_per_s)),
            s(|c| Some(c.instructions_per_msg)),
            s(|c| c.phase.server_syscalls_per_msg),
            s(|c| c.phase.server_wakeups_per_msg),
            num(bad)
        ));
    }
    md.push('\n');
    failures(md, d);
}
