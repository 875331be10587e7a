//! The well-behaved client: a pair of sockets on an address no case uses, in
//! a room of their own. Every 500 ms, A pings (acked `ping`: the round trip)
//! and relays an offer to B, which must arrive; each round is booked to the
//! case under way.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow, bail};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio::time::timeout;

use crate::stats::round3;
use crate::ws::{Answer, Conn, parse_ack};

/// Where the probe connects from: outside every case's addresses.
pub const PROBE_SRC: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);

/// The probe's rounds during one case.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Served {
    pub rounds: usize,
    pub failures: usize,
    pub first_failure: Option<String>,
    pub ping_p50_ms: f64,
    pub ping_max_ms: f64,
    /// Relays that reached B (one per good round).
    pub relays_delivered: usize,
    #[serde(skip)]
    rtt_ms: Vec<f64>,
}

impl Served {
    fn book(&mut self, r: Result<f64>) {
        self.rounds += 1;
        match r {
            Ok(ms) => {
                self.relays_delivered += 1;
                self.rtt_ms.push(ms);
            }
            Err(e) => {
                self.failures += 1;
                self.first_failure.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }

    fn close(mut self) -> Served {
        self.rtt_ms.sort_by(f64::total_cmp);
        if let Some(&max) = self.rtt_ms.last() {
            self.ping_max_ms = round3(max);
            self.ping_p50_ms = round3(self.rtt_ms[self.rtt_ms.len() / 2]);
        }
        self
    }
}

pub struct Probe {
    case: Arc<AtomicUsize>,
    served: Arc<Mutex<Vec<Served>>>,
    task: JoinHandle<()>,
}

impl Probe {
    /// Connects the pair (tokens `a`, `b`) and starts its rounds for `cases`
    /// cases.
    pub async fn start(server: SocketAddr, a: &str, b: &str, cases: usize) -> Result<Probe> {
        let (mut a, mut b) = pair(server, a, b).await?;
        let case = Arc::new(AtomicUsize::new(0));
        let served = Arc::new(Mutex::new(vec![Served::default(); cases]));
        let task = tokio::spawn({
            let (case, served) = (case.clone(), served.clone());
            async move {
                let mut n = 0u64;
                loop {
                    n += 1;
                    let r = timeout(Duration::from_secs(10), round(&mut a, &mut b, n))
                        .await
                        .unwrap_or_else(|_| Err(anyhow!("round {n} took over 10 s")));
                    let broken = r.is_err();
                    let at = case.load(Ordering::Relaxed);
                    if let Some(s) = served.lock().expect("probe stats").get_mut(at) {
                        s.book(r);
                    }
                    if broken {
                        // A failed round may leave a half-read stream: start over.
                        match pair(server, &a.token, &b.token).await {
                            Ok(p) => (a, b) = p,
                            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        });
        Ok(Probe { case, served, task })
    }

    /// Rounds from now on are booked to case `i`.
    pub fn case(&self, i: usize) {
        self.case.store(i, Ordering::Relaxed);
    }

    /// What the rounds of case `i` found.
    pub fn served(&self, i: usize) -> Served {
        let s = self.served.lock().expect("probe stats");
        s.get(i).cloned().unwrap_or_default().close()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One of the probe's sockets, with the token it reconnects with.
struct Sock {
    conn: Conn,
    token: String,
}

async fn pair(server: SocketAddr, a: &str, b: &str) -> Result<(Sock, Sock)> {
    let connect = |token: &str| {
        let token = token.to_owned();
        async move {
            let conn = timeout(
                Duration::from_secs(15),
                Conn::connect(server, PROBE_SRC, &token),
            )
            .await
            .map_err(|_| anyhow!("probe handshake timed out"))??;
            Ok::<_, anyhow::Error>(Sock { conn, token })
        }
    };
    let (mut a, mut b) = (connect(a).await?, connect(b).await?);
    let code = format!("mprobe{}", ROOMS.fetch_add(1, Ordering::Relaxed));
    let mut e = 0;
    a.conn.push_fmt(format_args!(
        r#"42["create:room",{{"roomCode":"{code}","maxPeers":2}}]"#
    ));
    a.conn.flush().await?;
    a.conn.wait_event(b"42[\"room:created\"", &mut e).await?;
    let join = format!(r#"42["join:room",{{"roomCode":"{code}"}}]"#);
    for s in [&mut a, &mut b] {
        s.conn.push_text(join.as_bytes());
        s.conn.flush().await?;
        s.conn.wait_event(b"42[\"room:joined\"", &mut e).await?;
    }
    Ok((a, b))
}

/// A room code of its own for each (re)connection.
static ROOMS: AtomicUsize = AtomicUsize::new(0);

/// A ping round trip (ms), then a relay A → B delivered.
async fn round(a: &mut Sock, b: &mut Sock, n: u64) -> Result<f64> {
    let t = Instant::now();
    a.conn.push_fmt(format_args!(r#"42{n}["ping",{{}}]"#));
    a.conn.flush().await?;
    let answer = ack(&mut a.conn, n).await?;
    let rtt = t.elapsed().as_secs_f64() * 1e3;
    if answer != "other" {
        bail!("ping answered {answer}");
    }
    let id = n + 1_000_000_000;
    let sdp = format!("v=0 probe {n}");
    a.conn.push_fmt(format_args!(
        r#"42{id}["webrtc:offer",{{"targetPeerId":"{}","offer":{{"type":"offer","sdp":"{sdp}"}}}}]"#,
        b.conn.sid
    ));
    a.conn.flush().await?;
    let answer = ack(&mut a.conn, id).await?;
    if answer != "ok" {
        bail!("relay answered {answer}");
    }
    let mut e = 0;
    loop {
        let r = b.conn.wait_event(b"42[\"webrtc:offer\"", &mut e).await?;
        if crate::ws::find(b.conn.text(r), sdp.as_bytes()).is_some() {
            return Ok(rtt);
        }
    }
}

/// Waits for the answer to ack `id`: "ok", "other" or the refusal's code.
pub async fn ack(c: &mut Conn, id: u64) -> Result<String> {
    loop {
        let r = c.next_text_wait().await?;
        if let Some((got, answer)) = parse_ack(c.text(r))
            && got == id
        {
            return Ok(match answer {
                Answer::Ok => "ok".into(),
                Answer::Other => "other".into(),
                Answer::Refused(code) => String::from_utf8_lossy(code).into_owned(),
            });
        }
    }
}
