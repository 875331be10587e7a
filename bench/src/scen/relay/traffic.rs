//! The traffic of one pair during a phase: both peers send `webrtc:ice` to
//! each other (paced or windowed) and check every message on arrival
//! (sender, target, sequence).

use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::time::sleep_until;

use super::pairs::Pair;
use crate::ws::{Conn, extract_str, find, parse_u64};

const ICE_SUFFIX: &str =
    r#" 1 udp 2122260223 127.0.0.1 50000 typ host generation 0","sdpMid":"0","sdpMLineIndex":0}}]"#;

struct Tx {
    prefix: String,
    sent: u64,
    next: Instant,
}

impl Tx {
    fn new(target: &str, next: Instant) -> Tx {
        Tx {
            prefix: format!(
                r#"42["webrtc:ice",{{"targetPeerId":"{target}","candidate":{{"candidate":"candidate:bench "#
            ),
            sent: 0,
            next,
        }
    }
    fn send(&mut self, c: &mut Conn, base: Instant) {
        let ts = base.elapsed().as_nanos() as u64;
        c.push_fmt(format_args!(
            "{}{} {}{}",
            self.prefix, self.sent, ts, ICE_SUFFIX
        ));
        self.sent += 1;
    }
}

/// What one receiver saw (or, summed, a whole phase).
#[derive(Default)]
pub(super) struct Rx {
    pub(super) seen: u64,
    pub(super) delivered: u64,
    pub(super) in_window: u64,
    pub(super) next_seq: u64,
    pub(super) misrouted: u64,
    pub(super) out_of_order: u64,
    pub(super) errors: u64,
    pub(super) other: u64,
}

impl Rx {
    fn on_text(
        &mut self,
        t: &[u8],
        from: &[u8],
        me: &[u8],
        now_ns: u64,
        end_ns: u64,
        lat: &mut Vec<u64>,
    ) {
        if !t.starts_with(b"42[\"webrtc:ice\",") {
            if t.starts_with(b"42[\"error\"") {
                self.errors += 1;
                if self.errors == 1 {
                    eprintln!("  relay error: {}", String::from_utf8_lossy(t));
                }
            } else {
                self.other += 1;
            }
            return;
        }
        self.seen += 1;
        if extract_str(t, b"\"fromPeerId\":\"") != Some(from)
            || extract_str(t, b"\"targetPeerId\":\"") != Some(me)
        {
            self.misrouted += 1;
            return;
        }
        let Some(p) = find(t, b"candidate:bench ") else {
            self.misrouted += 1;
            return;
        };
        let rest = &t[p + 16..];
        let mut it = rest.splitn(3, |&b| b == b' ');
        let (Some(seq), Some(ts)) = (it.next().and_then(parse_u64), it.next().and_then(parse_u64))
        else {
            self.misrouted += 1;
            return;
        };
        if seq != self.next_seq {
            self.out_of_order += 1;
        }
        self.next_seq = seq + 1;
        self.delivered += 1;
        if now_ns <= end_ns {
            self.in_window += 1;
        }
        lat.push(now_ns.saturating_sub(ts));
    }

    /// Adds another receiver's counts (not its sequence).
    pub(super) fn absorb(&mut self, o: &Rx) {
        self.seen += o.seen;
        self.delivered += o.delivered;
        self.in_window += o.in_window;
        self.misrouted += o.misrouted;
        self.out_of_order += o.out_of_order;
        self.errors += o.errors;
        self.other += o.other;
    }
}

pub(super) struct PairOut {
    pub(super) pair: Pair,
    pub(super) sent: u64,
    pub(super) rx: Rx,
    pub(super) lat: Vec<u64>,
}

#[derive(Clone, Copy)]
pub(super) enum PairMode {
    Interval(Duration, Duration),
    Window(u64),
}

pub(super) async fn pair_task(
    pair: Pair,
    mode: PairMode,
    base: Instant,
    start: Instant,
    end: Instant,
    drain: Duration,
) -> Result<PairOut> {
    let (mut a, mut b) = pair;
    let (off, iv) = match mode {
        PairMode::Interval(iv, off) => (off, iv),
        PairMode::Window(_) => (Duration::ZERO, Duration::ZERO),
    };
    let mut ta = Tx::new(&b.sid, start + off);
    let mut tb = Tx::new(&a.sid, start + off + iv / 2);
    let (sa, sb) = (a.sid.clone().into_bytes(), b.sid.clone().into_bytes());
    let mut ra = Rx::default(); // at a, from b
    let mut rb = Rx::default(); // at b, from a
    let mut lat = Vec::new();
    let end_ns = (end - base).as_nanos() as u64;
    let hard_end = end + drain;
    sleep_until(start.into()).await;
    // Messages already buffered (pings) are answered before the first read.
    while let Some(rg) = a.next_text()? {
        ra.on_text(a.text(rg), &sb, &sa, 0, 0, &mut lat);
    }
    while let Some(rg) = b.next_text()? {
        rb.on_text(b.text(rg), &sa, &sb, 0, 0, &mut lat);
    }
    loop {
        let now = Instant::now();
        let sending = now < end;
        if sending {
            match mode {
                PairMode::Interval(iv, _) => {
                    while ta.next <= now {
                        ta.send(&mut a, base);
                        ta.next += iv;
                    }
                    while tb.next <= now {
                        tb.send(&mut b, base);
                        tb.next += iv;
                    }
                }
                PairMode::Window(w) => {
                    while ta.sent - rb.seen < w {
                        ta.send(&mut a, base);
                    }
                    while tb.sent - ra.seen < w {
                        tb.send(&mut b, base);
                    }
                }
            }
        }
        a.flush().await?;
        b.flush().await?;
        if !sending && rb.seen >= ta.sent && ra.seen >= tb.sent {
            break;
        }
        if now >= hard_end {
            break;
        }
        let wake = if sending {
            match mode {
                PairMode::Interval(..) => ta.next.min(tb.next).min(end),
                PairMode::Window(_) => end,
            }
        } else {
            hard_end
        };
        tokio::select! {
            r = a.read_more() => {
                r?;
                let now_ns = base.elapsed().as_nanos() as u64;
                while let Some(rg) = a.next_text()? {
                    ra.on_text(a.text(rg), &sb, &sa, now_ns, end_ns, &mut lat);
                }
            }
            r = b.read_more() => {
                r?;
                let now_ns = base.elapsed().as_nanos() as u64;
                while let Some(rg) = b.next_text()? {
                    rb.on_text(b.text(rg), &sa, &sb, now_ns, end_ns, &mut lat);
                }
            }
            _ = sleep_until(wake.into()) => {}
        }
    }
    ra.absorb(&rb);
    Ok(PairOut {
        pair: (a, b),
        sent: ta.sent + tb.sent,
        rx: ra,
        lat,
    })
}
