//! What a scenario runs with: the processes under test ([`Ctx::target`]),
//! the clients' side ([`Clients`], cheap to clone into every task), the
//! window a phase is measured over, and the first failure of many tasks.

use std::fmt::Display;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use tokio::time::{sleep_until, timeout};

use crate::procfs::self_cpu_secs;
use crate::server::Target;
use crate::syscalls::SyscallCount;
use crate::ws::Conn;

/// One run's context: the servers under test and the clients that load them.
pub struct Ctx {
    pub clients: Clients,
    pub target: Target,
}

/// How the generator's sockets reach a server.
#[derive(Clone)]
pub struct Clients {
    /// The server connected to (the first server under test, or one node).
    pub addr: SocketAddr,
    pub tokens: Arc<Vec<String>>,
    /// Sockets are spread over 127.0.0.1..=127.0.0.<srcs> (ephemeral ports
    /// are per source address).
    pub srcs: usize,
    /// The clock relayed timestamps count from.
    pub base: Instant,
}

impl Clients {
    pub fn src(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(127, 0, 0, 1 + (i % self.srcs) as u8)
    }

    pub fn token(&self, i: usize) -> &str {
        &self.tokens[i % self.tokens.len()]
    }

    /// The same clients, connecting to `addr` (another node).
    pub fn at(&self, addr: SocketAddr) -> Clients {
        Clients {
            addr,
            ..self.clone()
        }
    }

    /// Opens one authenticated socket with token `i`, within 15 s.
    pub async fn connect(&self, i: usize) -> Result<Conn> {
        match timeout(
            Duration::from_secs(15),
            Conn::connect(self.addr, self.src(i), self.token(i)),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(anyhow!("handshake timed out (15 s)")),
        }
    }
}

/// What the servers and the generator spent over a measurement window.
pub struct Spent {
    pub server_cpu_s: f64,
    /// The part of `server_cpu_s` spent in the kernel.
    pub server_system_cpu_s: f64,
    pub bench_cpu_s: f64,
    /// The servers' threads woken up from sleep.
    pub server_wakeups: u64,
    /// The servers' system calls (`None` without `perf`).
    pub server_syscalls: Option<u64>,
}

impl Ctx {
    /// Waits for `start`, then for `end`: the CPU the servers under test and
    /// the generator spent between the two (the phase's tasks run meanwhile).
    pub async fn window(&self, start: Instant, end: Instant) -> Spent {
        sleep_until(start.into()).await;
        let pids: Vec<u32> = self.target.servers().map(|p| p.pid).collect();
        let syscalls = SyscallCount::start(&pids, end.saturating_duration_since(start));
        let (c0, b0, w0) = (
            self.target.cpu_secs(),
            self_cpu_secs(),
            self.target.wakeups(),
        );
        let k0 = self.target.system_cpu_secs();
        sleep_until(end.into()).await;
        let (c1, b1, w1) = (
            self.target.cpu_secs(),
            self_cpu_secs(),
            self.target.wakeups(),
        );
        let k1 = self.target.system_cpu_secs();
        let server_syscalls = match syscalls {
            Some(count) => count.finish().await,
            None => None,
        };
        Spent {
            server_cpu_s: c1 - c0,
            server_system_cpu_s: k1 - k0,
            bench_cpu_s: b1 - b0,
            server_wakeups: w1.saturating_sub(w0),
            server_syscalls,
        }
    }
}

/// How many of a phase's tasks failed, and why the first did.
#[derive(Default)]
pub struct Failures {
    pub count: usize,
    pub first: Option<String>,
}

impl Failures {
    pub fn add(&mut self, why: impl Display) {
        self.count += 1;
        self.first.get_or_insert_with(|| why.to_string());
    }
}
