//! Relay: rooms of 2 whose peers send `webrtc:ice` to each other, at a fixed
//! offered rate, then at saturation (a window of messages in flight per
//! sender). Every message is checked on arrival (sender, target, sequence).

use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, timeout};

use super::{Ctx, Scenario, connect_many};
use crate::procfs::self_cpu_secs;
use crate::results::{Latency, Outcome};
use crate::server::{Kind, Setup, Spec, Target};
use crate::stats::round3;
use crate::ws::{Conn, extract_str, find, parse_u64};

#[derive(Clone, Debug, clap::Args, Serialize, Deserialize)]
#[group(id = "relay")]
#[command(next_help_heading = "Relay")]
pub struct Params {
    #[arg(id = "relay_pairs", long = "relay-pairs", default_value_t = 200)]
    pub pairs: usize,
    /// Offered relay rate, messages per second (all senders together).
    #[arg(id = "relay_rate", long = "relay-rate", default_value_t = 5_000.0)]
    pub rate: f64,
    /// Messages in flight per sender at saturation.
    #[arg(long, default_value_t = 16)]
    pub window: u64,
    #[arg(id = "relay_secs", long = "relay-secs", default_value_t = 5.0)]
    pub secs: f64,
}

/// One relay phase over a set of pairs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RelayPhase {
    pub mode: String,
    pub offered_per_s: Option<f64>,
    pub window: Option<u64>,
    pub pairs: usize,
    pub secs: f64,
    pub sent: u64,
    pub sent_per_s: f64,
    pub delivered: u64,
    pub delivered_in_window: u64,
    pub throughput_per_s: f64,
    pub lost: u64,
    pub misrouted: u64,
    pub out_of_order: u64,
    pub error_events: u64,
    pub other_events: u64,
    pub failed_pairs: usize,
    pub first_error: Option<String>,
    pub server_alive: bool,
    pub latency: Latency,
    pub server_cpu_s: f64,
    pub server_cpu_util: f64,
    pub server_cpu_us_per_msg: f64,
    pub msgs_per_server_cpu_s: f64,
    pub bench_cpu_s: f64,
    pub bench_cpu_us_per_msg: f64,
    pub ok: bool,
}

impl RelayPhase {
    /// Messages lost, misrouted or out of order.
    pub fn bad(&self) -> u64 {
        self.lost + self.misrouted + self.out_of_order
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Relay {
    pub fixed: RelayPhase,
    pub saturation: RelayPhase,
}

impl Outcome for Relay {
    fn ok(&self) -> bool {
        self.fixed.ok && self.saturation.ok
    }
}

pub struct Scen;

impl Scenario for Scen {
    const NAME: &'static str = "relay";
    type Params = Params;
    type Outcome = Relay;

    fn tokens(p: &Params) -> usize {
        2 * p.pairs
    }

    /// Pairs, a 1 s warm-up, then a fixed offered rate, then saturation.
    async fn run(ctx: &Ctx, target: &mut Target, p: &Params) -> Result<Relay> {
        let dur = Duration::from_secs_f64(p.secs);
        let pairs = make_pairs(ctx, 0, p.pairs, "relay").await?;
        // A short warm-up (JIT, buffers) that is not measured.
        let (_, pairs) = relay(
            ctx,
            target,
            pairs,
            RelayMode::Rate(p.rate),
            Duration::from_secs(1),
        )
        .await?;
        let (fixed, pairs) = relay(ctx, target, pairs, RelayMode::Rate(p.rate), dur).await?;
        sleep(Duration::from_millis(300)).await;
        let (saturation, _) = relay(ctx, target, pairs, RelayMode::Window(p.window), dur).await?;
        Ok(Relay { fixed, saturation })
    }
}

/// The relay scenario against the gateway with its default runtime (a worker
/// per core, `WORKER_THREADS` unset): what a deployment runs. On a 2-core
/// machine the generator shares the cores with both workers, so this shows
/// what the defaults cost per message, not what more cores would carry.
pub struct DefaultScen;

impl Scenario for DefaultScen {
    const NAME: &'static str = "relay-default";
    type Params = Params;
    type Outcome = Relay;

    fn tokens(p: &Params) -> usize {
        Scen::tokens(p)
    }

    fn processes(setup: &Setup, kind: Kind, _p: &Params) -> Result<Vec<Spec>> {
        Ok(match kind {
            Kind::Gateway => vec![setup.server(kind).without("WORKER_THREADS")],
            Kind::Reference => vec![],
        })
    }

    async fn run(ctx: &Ctx, target: &mut Target, p: &Params) -> Result<Relay> {
        Scen::run(ctx, target, p).await
    }
}

pub type Pair = (Conn, Conn);

/// Connects `2 * n` sockets (tokens from `from`) and puts each two in a room of 2.
pub async fn make_pairs(ctx: &Ctx, from: usize, n: usize, tag: &str) -> Result<Vec<Pair>> {
    let conns = connect_many(ctx, from, 2 * n, 256).await.all()?;
    let mut js = JoinSet::new();
    let mut it = conns.into_iter();
    let mut i = 0;
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        let code = format!("{tag}{i}");
        i += 1;
        js.spawn(timeout(Duration::from_secs(30), setup_pair(a, b, code)));
    }
    let mut pairs = Vec::with_capacity(n);
    while let Some(r) = js.join_next().await {
        let inner = r?.map_err(|_| anyhow!("room set-up timed out"))?;
        pairs.push(inner?);
    }
    Ok(pairs)
}

/// Puts `a` and `b` in a room of 2 named `code` (`a` creates it and joins first).
pub async fn setup_pair(mut a: Conn, mut b: Conn, code: String) -> Result<Pair> {
    let mut e = 0;
    a.push_fmt(format_args!(
        r#"42["create:room",{{"roomCode":"{code}","maxPeers":2}}]"#
    ));
    a.flush().await?;
    a.wait_event(b"42[\"room:created\"", &mut e).await?;
    let join = format!(r#"42["join:room",{{"roomCode":"{code}"}}]"#);
    a.push_text(join.as_bytes());
    a.flush().await?;
    a.wait_event(b"42[\"room:joined\"", &mut e).await?;
    b.push_text(join.as_bytes());
    b.flush().await?;
    b.wait_event(b"42[\"room:joined\"", &mut e).await?;
    a.wait_event(b"42[\"peer:joined\"", &mut e).await?;
    Ok((a, b))
}

#[derive(Clone, Copy, Debug)]
pub enum RelayMode {
    /// Total messages per second offered, spread evenly over all senders.
    Rate(f64),
    /// Each sender keeps this many messages in flight (closed loop): saturation.
    Window(u64),
}

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
struct Rx {
    seen: u64,
    delivered: u64,
    in_window: u64,
    next_seq: u64,
    misrouted: u64,
    out_of_order: u64,
    errors: u64,
    other: u64,
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
    fn absorb(&mut self, o: &Rx) {
        self.seen += o.seen;
        self.delivered += o.delivered;
        self.in_window += o.in_window;
        self.misrouted += o.misrouted;
        self.out_of_order += o.out_of_order;
        self.errors += o.errors;
        self.other += o.other;
    }
}

struct PairOut {
    pair: Pair,
    sent: u64,
    rx: Rx,
    lat: Vec<u64>,
}

#[derive(Clone, Copy)]
enum PairMode {
    Interval(Duration, Duration),
    Window(u64),
}

async fn pair_task(
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

/// Runs the relay on established pairs; gives back the pairs that survived.
pub async fn relay(
    ctx: &Ctx,
    target: &mut Target,
    pairs: Vec<Pair>,
    mode: RelayMode,
    dur: Duration,
) -> Result<(RelayPhase, Vec<Pair>)> {
    let n = pairs.len();
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + dur;
    let drain = Duration::from_secs(5);
    let mut js = JoinSet::new();
    for (i, p) in pairs.into_iter().enumerate() {
        let pm = match mode {
            RelayMode::Rate(total) => {
                let iv = Duration::from_secs_f64(2.0 * n as f64 / total);
                PairMode::Interval(iv, iv.mul_f64(i as f64 / n as f64))
            }
            RelayMode::Window(w) => PairMode::Window(w),
        };
        js.spawn(pair_task(p, pm, ctx.base, start, end, drain));
    }
    sleep_until(start.into()).await;
    let (c0, b0) = (target.cpu_secs(), self_cpu_secs());
    sleep_until(end.into()).await;
    let (c1, b1) = (target.cpu_secs(), self_cpu_secs());
    let mut out = Vec::with_capacity(n);
    let (mut sent, mut rx, mut lat, mut failed, mut first_err) =
        (0, Rx::default(), Vec::new(), 0, None);
    while let Some(r) = js.join_next().await {
        match r {
            Ok(Ok(p)) => {
                sent += p.sent;
                rx.absorb(&p.rx);
                lat.extend_from_slice(&p.lat);
                out.push(p.pair);
            }
            Ok(Err(e)) => {
                failed += 1;
                first_err.get_or_insert_with(|| format!("{e:#}"));
            }
            Err(e) => {
                failed += 1;
                first_err.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let secs = dur.as_secs_f64();
    let server_cpu = c1 - c0;
    let bench_cpu = b1 - b0;
    let lost = sent.saturating_sub(rx.delivered + rx.misrouted);
    let alive = target.alive();
    let ok = failed == 0
        && lost == 0
        && rx.misrouted == 0
        && rx.out_of_order == 0
        && rx.errors == 0
        && alive;
    let per_msg = |cpu: f64| round3(cpu * 1e6 / rx.in_window.max(1) as f64);
    let phase = RelayPhase {
        mode: match mode {
            RelayMode::Rate(r) => format!("rate {r}/s"),
            RelayMode::Window(w) => format!("window {w}"),
        },
        offered_per_s: match mode {
            RelayMode::Rate(r) => Some(r),
            RelayMode::Window(_) => None,
        },
        window: match mode {
            RelayMode::Window(w) => Some(w),
            RelayMode::Rate(_) => None,
        },
        pairs: n,
        secs,
        sent,
        sent_per_s: (sent as f64 / secs).round(),
        delivered: rx.delivered,
        delivered_in_window: rx.in_window,
        throughput_per_s: (rx.in_window as f64 / secs).round(),
        lost,
        misrouted: rx.misrouted,
        out_of_order: rx.out_of_order,
        error_events: rx.errors,
        other_events: rx.other,
        failed_pairs: failed,
        first_error: first_err,
        server_alive: alive,
        latency: Latency::from_ns(lat),
        server_cpu_s: round3(server_cpu),
        server_cpu_util: round3(server_cpu / secs),
        server_cpu_us_per_msg: per_msg(server_cpu),
        msgs_per_server_cpu_s: if server_cpu > 0.0 {
            (rx.in_window as f64 / server_cpu).round()
        } else {
            0.0
        },
        bench_cpu_s: round3(bench_cpu),
        bench_cpu_us_per_msg: per_msg(bench_cpu),
        ok,
    };
    Ok((phase, out))
}
