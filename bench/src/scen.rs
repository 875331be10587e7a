//! The scenarios: idle, join storm, relay (fixed rate and saturation), capacity.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, timeout};

use crate::server::{ServerProc, self_cpu_secs, self_rss_kb};
use crate::ws::{Conn, extract_str, find, parse_u64};

pub struct Ctx {
    pub addr: SocketAddr,
    pub tokens: Arc<Vec<String>>,
    pub srcs: usize,
    pub base: Instant,
}

impl Ctx {
    pub fn src(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, 0, 1 + (i % self.srcs) as u8)
    }
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

// ---------------------------------------------------------------- helpers

pub fn pct(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1e6
}

/// Latency summary in milliseconds from nanosecond samples.
pub fn lat_summary(mut v: Vec<u64>) -> Value {
    v.sort_unstable();
    let mean = if v.is_empty() {
        0.0
    } else {
        v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64 / 1e6
    };
    json!({
        "count": v.len(),
        "mean_ms": round3(mean),
        "p50_ms": round3(pct(&v, 0.50)),
        "p90_ms": round3(pct(&v, 0.90)),
        "p99_ms": round3(pct(&v, 0.99)),
        "p999_ms": round3(pct(&v, 0.999)),
        "max_ms": round3(v.last().map(|&x| x as f64 / 1e6).unwrap_or(0.0)),
    })
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub struct Connected {
    pub conns: Vec<Conn>,
    pub lat_ns: Vec<u64>,
    pub errors: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
}

impl Connected {
    fn summary(&self) -> Value {
        json!({
            "connected": self.conns.len(),
            "errors": self.errors,
            "first_error": self.first_error,
            "secs": round3(self.elapsed.as_secs_f64()),
            "per_s": (self.conns.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)).round(),
            "handshake": lat_summary(self.lat_ns.clone()),
        })
    }
}

/// Opens `n` authenticated sockets (tokens `from..from+n`), at most `par`
/// handshakes in flight.
pub async fn connect_many(ctx: &Ctx, from: usize, n: usize, par: usize) -> Connected {
    let t0 = Instant::now();
    let sem = Arc::new(Semaphore::new(par));
    let mut js = JoinSet::new();
    let mut out = Connected {
        conns: Vec::with_capacity(n),
        lat_ns: Vec::with_capacity(n),
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
    };
    let collect =
        |r: Result<(Result<Conn>, u64), tokio::task::JoinError>, out: &mut Connected| match r {
            Ok((Ok(c), ns)) => {
                out.conns.push(c);
                out.lat_ns.push(ns);
            }
            Ok((Err(e), _)) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| e.to_string());
            }
        };
    for i in from..from + n {
        let permit = sem.clone().acquire_owned().await.expect("semaphore");
        let token = ctx.tokens[i % ctx.tokens.len()].clone();
        let (addr, src) = (ctx.addr, ctx.src(i));
        js.spawn(async move {
            let t = Instant::now();
            let r = match timeout(Duration::from_secs(15), Conn::connect(addr, src, &token)).await {
                Ok(r) => r,
                Err(_) => Err(anyhow!("handshake timed out (15 s)")),
            };
            drop(permit);
            (r, t.elapsed().as_nanos() as u64)
        });
        while let Some(r) = js.try_join_next() {
            collect(r, &mut out);
        }
    }
    while let Some(r) = js.join_next().await {
        collect(r, &mut out);
    }
    out.elapsed = t0.elapsed();
    out
}

/// Keeps an idle socket alive: answers engine pings until the server closes.
async fn idle_loop(mut c: Conn) -> Result<()> {
    loop {
        // Handle what is already buffered first (a ping may have come with the
        // CONNECT answer), then read.
        while c.next_text()?.is_some() {}
        if c.pending_write() {
            c.flush().await?;
        }
        c.read_more().await?;
    }
}

fn spawn_idle(js: &mut JoinSet<Result<()>>, conns: Vec<Conn>) {
    for c in conns {
        js.spawn(idle_loop(c));
    }
}

/// Sockets whose idle loop ended (closed by the server or failed).
fn reap(js: &mut JoinSet<Result<()>>, dropped: &mut usize, first: &mut Option<String>) {
    while let Some(r) = js.try_join_next() {
        *dropped += 1;
        if let Ok(Err(e)) = r {
            first.get_or_insert_with(|| format!("{e:#}"));
        }
    }
}

// ---------------------------------------------------------------- idle

pub async fn idle(ctx: &Ctx, srv: &mut ServerProc, n: usize, settle: Duration) -> Result<Value> {
    // Warm-up: the first connections pay for lazy initialisation (JIT, pools).
    let warm = connect_many(ctx, 0, n.min(100), 64).await;
    drop(warm.conns);
    sleep(Duration::from_millis(1500)).await;
    let rss0 = srv.rss_kb();
    let bench_rss0 = self_rss_kb();
    let cpu0 = srv.cpu_secs();
    let c = connect_many(ctx, 0, n, 256).await;
    let cpu1 = srv.cpu_secs();
    let connected = c.conns.len();
    let summary = c.summary();
    let mut js = JoinSet::new();
    spawn_idle(&mut js, c.conns);
    sleep(settle).await;
    let rss1 = srv.rss_kb();
    let bench_rss1 = self_rss_kb();
    let (mut dropped, mut first) = (0, None);
    reap(&mut js, &mut dropped, &mut first);
    let alive = srv.alive();
    drop(js);
    let per = if connected > 0 {
        (rss1 as f64 - rss0 as f64) * 1024.0 / connected as f64
    } else {
        0.0
    };
    Ok(json!({
        "sockets": n,
        "connected": connected,
        "dropped": dropped,
        "drop_error": first,
        "server_alive": alive,
        "connect": summary,
        "server_cpu_ms_per_connect": round3((cpu1 - cpu0) * 1000.0 / connected.max(1) as f64),
        "rss_before_kb": rss0,
        "rss_after_kb": rss1,
        "per_socket_bytes": per.round(),
        "bench_per_socket_bytes": ((bench_rss1 as f64 - bench_rss0 as f64) * 1024.0 / connected.max(1) as f64).round(),
        "ok": connected == n && dropped == 0 && alive,
    }))
}

// ---------------------------------------------------------------- relay

pub type Pair = (Conn, Conn);

/// Connects `2 * n` sockets (tokens from `from`) and puts each two in a room of 2.
pub async fn make_pairs(ctx: &Ctx, from: usize, n: usize, tag: &str) -> Result<Vec<Pair>> {
    let c = connect_many(ctx, from, 2 * n, 256).await;
    if c.errors > 0 {
        bail!(
            "{} of {} sockets failed to connect: {}",
            c.errors,
            2 * n,
            c.first_error.unwrap_or_default()
        );
    }
    let mut js = JoinSet::new();
    let mut it = c.conns.into_iter();
    let mut i = 0;
    while let (Some(a), Some(b)) = (it.next(), it.next()) {
        let code = format!("{tag}{i}");
        i += 1;
        js.spawn(timeout(Duration::from_secs(30), setup_pair(a, b, code)));
    }
    let mut pairs = Vec::with_capacity(n);
    while let Some(r) = js.join_next().await {
        let inner = r?.map_err(|_| anyhow!("room set-up timed out"))?;
        pairs.push(inner??);
    }
    Ok(pairs)
}

async fn setup_pair(mut a: Conn, mut b: Conn, code: String) -> Result<Result<Pair>> {
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
    Ok(Ok((a, b)))
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
    let sent = ta.sent + tb.sent;
    let rx = Rx {
        seen: ra.seen + rb.seen,
        delivered: ra.delivered + rb.delivered,
        in_window: ra.in_window + rb.in_window,
        next_seq: 0,
        misrouted: ra.misrouted + rb.misrouted,
        out_of_order: ra.out_of_order + rb.out_of_order,
        errors: ra.errors + rb.errors,
        other: ra.other + rb.other,
    };
    Ok(PairOut {
        pair: (a, b),
        sent,
        rx,
        lat,
    })
}

/// Runs the relay on established pairs; gives back the pairs that survived.
pub async fn relay(
    ctx: &Ctx,
    srv: &mut ServerProc,
    pairs: Vec<Pair>,
    mode: RelayMode,
    dur: Duration,
) -> Result<(Value, Vec<Pair>)> {
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
    let (c0, b0) = (srv.cpu_secs(), self_cpu_secs());
    sleep_until(end.into()).await;
    let (c1, b1) = (srv.cpu_secs(), self_cpu_secs());
    let mut out = Vec::with_capacity(n);
    let (mut sent, mut rx, mut lat, mut failed, mut first_err) =
        (0, Rx::default(), Vec::new(), 0, None);
    while let Some(r) = js.join_next().await {
        match r {
            Ok(Ok(p)) => {
                sent += p.sent;
                rx.seen += p.rx.seen;
                rx.delivered += p.rx.delivered;
                rx.in_window += p.rx.in_window;
                rx.misrouted += p.rx.misrouted;
                rx.out_of_order += p.rx.out_of_order;
                rx.errors += p.rx.errors;
                rx.other += p.rx.other;
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
    let tput = rx.in_window as f64 / secs;
    let alive = srv.alive();
    let ok = failed == 0
        && lost == 0
        && rx.misrouted == 0
        && rx.out_of_order == 0
        && rx.errors == 0
        && alive;
    let v = json!({
        "mode": match mode { RelayMode::Rate(r) => format!("rate {r}/s"), RelayMode::Window(w) => format!("window {w}") },
        "offered_per_s": match mode { RelayMode::Rate(r) => json!(r), RelayMode::Window(_) => Value::Null },
        "window": match mode { RelayMode::Window(w) => json!(w), RelayMode::Rate(_) => Value::Null },
        "pairs": n,
        "secs": secs,
        "sent": sent,
        "sent_per_s": (sent as f64 / secs).round(),
        "delivered": rx.delivered,
        "delivered_in_window": rx.in_window,
        "throughput_per_s": tput.round(),
        "lost": lost,
        "misrouted": rx.misrouted,
        "out_of_order": rx.out_of_order,
        "error_events": rx.errors,
        "other_events": rx.other,
        "failed_pairs": failed,
        "first_error": first_err,
        "server_alive": alive,
        "latency": lat_summary(lat),
        "server_cpu_s": round3(server_cpu),
        "server_cpu_util": round3(server_cpu / secs),
        "server_cpu_us_per_msg": round3(server_cpu * 1e6 / rx.in_window.max(1) as f64),
        "msgs_per_server_cpu_s": if server_cpu > 0.0 { (rx.in_window as f64 / server_cpu).round() } else { 0.0 },
        "bench_cpu_s": round3(bench_cpu),
        "bench_cpu_us_per_msg": round3(bench_cpu * 1e6 / rx.in_window.max(1) as f64),
        "ok": ok,
    });
    Ok((v, out))
}

/// The relay scenario: pairs, then a fixed offered rate, then saturation.
pub async fn relay_scenario(
    ctx: &Ctx,
    srv: &mut ServerProc,
    pairs: usize,
    rate: f64,
    window: u64,
    dur: Duration,
) -> Result<Value> {
    let p = make_pairs(ctx, 0, pairs, "relay").await?;
    // A short warm-up (JIT, buffers) that is not measured.
    let (_, p) = relay(ctx, srv, p, RelayMode::Rate(rate), Duration::from_secs(1)).await?;
    let (fixed, p) = relay(ctx, srv, p, RelayMode::Rate(rate), dur).await?;
    sleep(Duration::from_millis(300)).await;
    let (sat, p) = relay(ctx, srv, p, RelayMode::Window(window), dur).await?;
    drop(p);
    let ok = fixed["ok"].as_bool() == Some(true) && sat["ok"].as_bool() == Some(true);
    Ok(json!({ "fixed": fixed, "saturation": sat, "ok": ok }))
}

// ---------------------------------------------------------------- join storm

/// How each socket of a join phase paces its `join:room` → `leave:room` cycles.
#[derive(Clone, Copy, Debug)]
pub enum Pace {
    /// The next join as soon as the previous leave is answered.
    Closed,
    /// Open loop: `rate` joins per second over all sockets, evenly spread.
    /// When a server falls behind, latency counts from the scheduled send
    /// time, so it is charged for the queue it builds (no coordinated omission).
    Rate(f64),
}

#[derive(Default)]
struct JoinOut {
    /// Latency of every join answered in the window but the burst's.
    lat: Vec<u64>,
    /// Closed loop: the first join, sent by every socket at the same instant.
    burst: Option<u64>,
    joins: u64,
    errors: u64,
}

async fn join_task(
    mut c: Conn,
    code: String,
    start: Instant,
    end: Instant,
    period: Option<Duration>,
) -> Result<JoinOut> {
    let mut due = start;
    sleep_until(due.into()).await;
    let join = format!(r#"42["join:room",{{"roomCode":"{code}"}}]"#);
    let mut out = JoinOut::default();
    let mut done = start;
    while due < end {
        // Paced: a cycle that starts late because the previous one was still
        // waiting for the server counts from its scheduled time; one that is
        // late only by the generator's timer granularity counts from the send.
        let t0 = match period {
            Some(_) if done > due => due,
            _ => Instant::now(),
        };
        c.push_text(join.as_bytes());
        c.flush().await?;
        c.wait_event(b"42[\"room:joined\"", &mut out.errors).await?;
        let now = Instant::now();
        if now <= end {
            out.joins += 1;
            let ns = (now - t0).as_nanos() as u64;
            if period.is_none() && out.joins == 1 {
                out.burst = Some(ns);
            } else {
                out.lat.push(ns);
            }
        }
        c.push_text(b"42[\"leave:room\"]");
        c.flush().await?;
        c.wait_event(b"42[\"room:left\"", &mut out.errors).await?;
        done = Instant::now();
        match period {
            Some(p) => {
                due += p;
                sleep_until(due.into()).await;
            }
            None => due = Instant::now(),
        }
    }
    Ok(out)
}

pub async fn join_storm(
    ctx: &Ctx,
    srv: &mut ServerProc,
    sockets: usize,
    dur: Duration,
    tag: &str,
    pace: Pace,
) -> Result<Value> {
    let c = connect_many(ctx, 0, sockets, 256).await;
    if c.errors > 0 {
        bail!(
            "{} sockets failed to connect: {}",
            c.errors,
            c.first_error.unwrap_or_default()
        );
    }
    // Groups of 2, 3, ... 10, 2, 3, ...
    let mut conns = c.conns;
    let mut groups: Vec<Vec<Conn>> = Vec::new();
    let mut k = 2;
    while !conns.is_empty() {
        let take = k.min(conns.len());
        groups.push(conns.drain(..take).collect());
        k = if k == 10 { 2 } else { k + 1 };
    }
    // Room creation by each group's first socket (pipelined, timed).
    let t0 = Instant::now();
    let c0 = srv.cpu_secs();
    for (g, grp) in groups.iter_mut().enumerate() {
        let n = grp.len();
        grp[0].push_fmt(format_args!(
            r#"42["create:room",{{"roomCode":"{tag}{g}","maxPeers":{n}}}]"#
        ));
        grp[0].flush().await?;
    }
    let mut e = 0;
    for grp in groups.iter_mut() {
        timeout(
            Duration::from_secs(30),
            grp[0].wait_event(b"42[\"room:created\"", &mut e),
        )
        .await
        .map_err(|_| anyhow!("room creation timed out"))??;
    }
    let create_secs = t0.elapsed().as_secs_f64();
    let create_cpu = srv.cpu_secs() - c0;
    let rooms = groups.len();

    let start = Instant::now() + Duration::from_millis(200);
    let end = start + dur;
    // Paced: socket i first joins at start + i/rate, then every sockets/rate.
    let period = match pace {
        Pace::Closed => None,
        Pace::Rate(rate) => Some(Duration::from_secs_f64(sockets as f64 / rate)),
    };
    let offset = |i: usize| match pace {
        Pace::Closed => Duration::ZERO,
        Pace::Rate(rate) => Duration::from_secs_f64(i as f64 / rate),
    };
    let mut js = JoinSet::new();
    let mut i = 0;
    for (g, grp) in groups.into_iter().enumerate() {
        for c in grp {
            js.spawn(timeout(
                dur + Duration::from_secs(20),
                join_task(c, format!("{tag}{g}"), start + offset(i), end, period),
            ));
            i += 1;
        }
    }
    sleep_until(start.into()).await;
    let (c0, b0) = (srv.cpu_secs(), self_cpu_secs());
    sleep_until(end.into()).await;
    let (c1, b1) = (srv.cpu_secs(), self_cpu_secs());
    let (mut lat, mut burst, mut joins, mut errors, mut failed, mut first) =
        (Vec::new(), Vec::new(), 0, 0, 0, None);
    while let Some(r) = js.join_next().await {
        match r {
            Ok(Ok(Ok(out))) => {
                lat.extend_from_slice(&out.lat);
                burst.extend(out.burst);
                joins += out.joins;
                errors += out.errors;
            }
            Ok(Ok(Err(e))) => {
                failed += 1;
                first.get_or_insert_with(|| format!("{e:#}"));
            }
            Ok(Err(_)) => {
                failed += 1;
                first.get_or_insert_with(|| "join loop timed out".to_owned());
            }
            Err(e) => {
                failed += 1;
                first.get_or_insert_with(|| e.to_string());
            }
        }
    }
    let secs = dur.as_secs_f64();
    let alive = srv.alive();
    Ok(json!({
        "sockets": sockets,
        "rooms": rooms,
        "room_sizes": "2..10 cycling",
        "offered_joins_per_s": match pace {
            Pace::Closed => Value::Null,
            Pace::Rate(rate) => json!(rate),
        },
        "creates_per_s": (rooms as f64 / create_secs).round(),
        "server_cpu_ms_per_create": round3(create_cpu * 1000.0 / rooms as f64),
        "secs": secs,
        "joins": joins,
        "joins_per_s": (joins as f64 / secs).round(),
        "latency": lat_summary(lat),
        "burst_latency": match pace {
            Pace::Closed => lat_summary(burst),
            Pace::Rate(_) => Value::Null,
        },
        "error_events": errors,
        "failed_sockets": failed,
        "first_error": first,
        "server_cpu_s": round3(c1 - c0),
        "server_cpu_util": round3((c1 - c0) / secs),
        "server_cpu_us_per_join_leave": round3((c1 - c0) * 1e6 / joins.max(1) as f64),
        "bench_cpu_s": round3(b1 - b0),
        "server_alive": alive,
        "ok": failed == 0 && errors == 0 && joins > 0 && alive,
    }))
}

/// The join scenario: a storm that saturates the server (`sockets`, closed
/// loop), a light phase (`light` sockets, closed loop) and the same number of
/// sockets as the storm offering `rate` joins per second (open loop), for
/// latency at a load both servers are asked to carry.
pub async fn join_scenario(
    ctx: &Ctx,
    srv: &mut ServerProc,
    sockets: usize,
    light: usize,
    rate: f64,
    dur: Duration,
) -> Result<Value> {
    let storm = join_storm(ctx, srv, sockets, dur, "storm", Pace::Closed).await?;
    sleep(Duration::from_millis(500)).await;
    let light = join_storm(ctx, srv, light, dur, "light", Pace::Closed).await?;
    sleep(Duration::from_millis(500)).await;
    let paced = join_storm(ctx, srv, sockets, dur, "paced", Pace::Rate(rate)).await?;
    let ok = [&storm, &light, &paced]
        .iter()
        .all(|p| p["ok"].as_bool() == Some(true));
    Ok(json!({ "storm": storm, "light": light, "paced": paced, "ok": ok }))
}

// ---------------------------------------------------------------- capacity

pub async fn capacity(
    ctx: &Ctx,
    srv: &mut ServerProc,
    steps: &[usize],
    probe_pairs: usize,
    probe_rate: f64,
    probe_dur: Duration,
) -> Result<Value> {
    let mut pairs = make_pairs(ctx, 0, probe_pairs, "cap").await?;
    let mut total = 2 * probe_pairs;
    let mut idle = JoinSet::new();
    let (mut dropped, mut drop_err) = (0usize, None);
    let mut rows = Vec::new();
    let mut stop_reason = Value::Null;
    let rss_start = srv.rss_kb();
    for &step in steps {
        if step <= total {
            continue;
        }
        let c = connect_many(ctx, total, step - total, 256).await;
        let csum = c.summary();
        let errors = c.errors;
        total += c.conns.len();
        spawn_idle(&mut idle, c.conns);
        sleep(Duration::from_millis(1000)).await;
        let rss = srv.rss_kb();
        let (r, p) = match relay(ctx, srv, pairs, RelayMode::Rate(probe_rate), probe_dur).await {
            Ok(x) => x,
            Err(e) => {
                stop_reason = json!(format!("probe failed: {e:#}"));
                pairs = Vec::new();
                break;
            }
        };
        pairs = p;
        reap(&mut idle, &mut dropped, &mut drop_err);
        let alive = srv.alive();
        eprintln!(
            "  {} sockets: rss {} MB, probe p50 {} p99 {} ms, connect errors {errors}, dropped {dropped}",
            total,
            rss / 1024,
            r["latency"]["p50_ms"],
            r["latency"]["p99_ms"]
        );
        rows.push(json!({
            "sockets": total,
            "connect": csum,
            "rss_kb": rss,
            "bench_rss_kb": self_rss_kb(),
            "dropped_so_far": dropped,
            "probe": r,
        }));
        if errors > 0
            || !alive
            || dropped > 0
            || r["ok"].as_bool() != Some(true)
            || pairs.len() < probe_pairs
        {
            stop_reason = json!(format!(
                "at {total} sockets: connect errors {errors}, server alive {alive}, dropped {dropped} ({}), probe ok {}",
                drop_err.clone().unwrap_or_default(),
                r["ok"]
            ));
            break;
        }
    }
    drop(idle);
    drop(pairs);
    // Linear fit of RSS against sockets.
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .map(|r| {
            (
                r["sockets"].as_f64().unwrap_or(0.0),
                r["rss_kb"].as_f64().unwrap_or(0.0) * 1024.0,
            )
        })
        .collect();
    let (slope, icpt) = linfit(&pts);
    let max_sockets = rows
        .last()
        .map(|r| r["sockets"].clone())
        .unwrap_or(json!(0));
    let p99s: Vec<f64> = rows
        .iter()
        .filter_map(|r| r["probe"]["latency"]["p99_ms"].as_f64())
        .collect();
    Ok(json!({
        "steps": rows,
        "max_sockets": max_sockets,
        "stop_reason": stop_reason,
        "rss_start_kb": rss_start,
        "fit_bytes_per_socket": slope.round(),
        "fit_intercept_bytes": icpt.round(),
        "projected_rss_200k_bytes": (icpt + slope * 200_000.0).round(),
        "probe_p99_first_ms": p99s.first(),
        "probe_p99_last_ms": p99s.last(),
        "probe_p99_max_ms": p99s.iter().cloned().fold(0.0, f64::max),
        "ok": stop_reason.is_null(),
    }))
}

pub fn linfit(p: &[(f64, f64)]) -> (f64, f64) {
    let n = p.len() as f64;
    if p.len() < 2 {
        return (0.0, p.first().map(|x| x.1).unwrap_or(0.0));
    }
    let mx = p.iter().map(|x| x.0).sum::<f64>() / n;
    let my = p.iter().map(|x| x.1).sum::<f64>() / n;
    let sxy: f64 = p.iter().map(|x| (x.0 - mx) * (x.1 - my)).sum();
    let sxx: f64 = p.iter().map(|x| (x.0 - mx) * (x.0 - mx)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (slope, my - slope * mx)
}

// ---------------------------------------------------------------- smoke

pub async fn smoke(ctx: &Ctx, srv: &mut ServerProc) -> Result<Value> {
    let idle = idle(ctx, srv, 50, Duration::from_millis(500)).await?;
    let join = join_storm(
        ctx,
        srv,
        50,
        Duration::from_secs(1),
        "smokejoin",
        Pace::Closed,
    )
    .await?;
    let p = make_pairs(ctx, 0, 25, "smoke").await?;
    let (fixed, p) = relay(ctx, srv, p, RelayMode::Rate(1000.0), Duration::from_secs(2)).await?;
    let (sat, p) = relay(ctx, srv, p, RelayMode::Window(8), Duration::from_secs(1)).await?;
    drop(p);
    let ok = [&idle, &join, &fixed, &sat]
        .iter()
        .all(|v| v["ok"].as_bool() == Some(true));
    let _ = ctx.now_ns();
    Ok(json!({ "idle": idle, "join": join, "fixed": fixed, "saturation": sat, "ok": ok }))
}
