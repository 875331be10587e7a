//! Opening many sockets: a batch of handshakes, and idle sockets kept alive
//! in the background.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::ctx::{Clients, Failures};
use crate::results::{Connect, Latency};
use crate::stats::round3;
use crate::ws::Conn;

pub struct Connected {
    pub conns: Vec<Conn>,
    pub lat_ns: Vec<u64>,
    pub failed: Failures,
    pub elapsed: Duration,
}

impl Connected {
    pub fn summary(&self) -> Connect {
        Connect {
            connected: self.conns.len(),
            errors: self.failed.count,
            first_error: self.failed.first.clone(),
            secs: round3(self.elapsed.as_secs_f64()),
            per_s: (self.conns.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)).round(),
            handshake: Latency::from_ns(self.lat_ns.clone()),
        }
    }

    /// Fails unless every socket connected.
    pub fn all(self) -> Result<Vec<Conn>> {
        if self.failed.count > 0 {
            anyhow::bail!(
                "{} of {} sockets failed to connect: {}",
                self.failed.count,
                self.failed.count + self.conns.len(),
                self.failed.first.unwrap_or_default()
            );
        }
        Ok(self.conns)
    }
}

/// Opens `n` authenticated sockets (tokens `from..from+n`), at most `par`
/// handshakes in flight.
pub async fn connect_many(clients: &Clients, from: usize, n: usize, par: usize) -> Connected {
    let t0 = Instant::now();
    let sem = Arc::new(Semaphore::new(par));
    let mut js = JoinSet::new();
    let mut out = Connected {
        conns: Vec::with_capacity(n),
        lat_ns: Vec::with_capacity(n),
        failed: Failures::default(),
        elapsed: Duration::ZERO,
    };
    let collect =
        |r: Result<(Result<Conn>, u64), tokio::task::JoinError>, out: &mut Connected| match r {
            Ok((Ok(c), ns)) => {
                out.conns.push(c);
                out.lat_ns.push(ns);
            }
            Ok((Err(e), _)) => out.failed.add(format_args!("{e:#}")),
            Err(e) => out.failed.add(e),
        };
    for i in from..from + n {
        let Ok(permit) = sem.clone().acquire_owned().await else {
            break; // never closed
        };
        let clients = clients.clone();
        js.spawn(async move {
            let t = Instant::now();
            let r = clients.connect(i).await;
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

/// Idle sockets kept alive in the background; dropping the set closes them.
#[derive(Default)]
pub struct IdleSockets {
    js: JoinSet<Result<()>>,
    /// Sockets whose loop ended (closed by the server or failed).
    pub dropped: usize,
    pub first_error: Option<String>,
}

impl IdleSockets {
    pub fn add(&mut self, conns: Vec<Conn>) {
        for c in conns {
            self.js.spawn(idle_loop(c));
        }
    }

    /// Counts the sockets that ended since the last call.
    pub fn reap(&mut self) {
        while let Some(r) = self.js.try_join_next() {
            self.dropped += 1;
            if let Ok(Err(e)) = r {
                self.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
}
