//! A cluster for tests: a `redis-server` of the test's own and real `gateway`
//! processes on it, each on a free loopback port. Nodes can be killed
//! (`kill -9`), frozen (`SIGSTOP`) and resumed; everything is killed on drop.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::redis_server::{RedisServer, free_port};

/// How fast the test nodes notice a dead one (production: 2 s / 6 s).
pub const HEARTBEAT: Duration = Duration::from_millis(300);
pub const TIMEOUT: Duration = Duration::from_millis(1000);
/// How long a Redis command may take on the test nodes.
pub const REDIS_TIMEOUT: Duration = Duration::from_millis(500);
/// How often a node sweeps for dead ones (`sweep_every(HEARTBEAT)`).
pub const SWEEP: Duration = Duration::from_millis(150);

pub struct Node {
    pub addr: SocketAddr,
    child: Option<tokio::process::Child>,
    _data: tempfile::TempDir,
}

impl Node {
    pub fn pid(&self) -> i32 {
        self.child
            .as_ref()
            .and_then(|c| c.id())
            .expect("running node") as i32
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Resident memory now, in bytes.
    pub fn rss(&self) -> u64 {
        super::process::status_kib(self.pid() as u32, "VmRSS:") * 1024
    }

    /// Resident memory the process allocated (heap, stacks; not its code), in bytes.
    pub fn rss_anon(&self) -> u64 {
        super::process::status_kib(self.pid() as u32, "RssAnon:") * 1024
    }

    /// Peak resident memory so far, in bytes.
    pub fn peak_rss(&self) -> u64 {
        super::process::status_kib(self.pid() as u32, "VmHWM:") * 1024
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        match reqwest::get(self.url("/metrics")).await {
            Ok(resp) => resp.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// `kill -9`.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// `kill -TERM`, then waits for the process to exit; true on a clean exit.
    pub async fn terminate(&mut self) -> bool {
        assert!(signal(self.pid(), SIGTERM), "SIGTERM");
        let mut child = self.child.take().expect("running node");
        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(Ok(status)) => status.success(),
            _ => {
                let _ = child.kill().await;
                false
            }
        }
    }

    /// `kill -STOP`: the process stops dead, its sockets stay open.
    pub fn freeze(&self) {
        assert!(signal(self.pid(), SIGSTOP), "SIGSTOP");
    }

    /// `kill -CONT`.
    pub fn resume(&self) {
        assert!(signal(self.pid(), SIGCONT), "SIGCONT");
    }

    /// `GET /readyz`'s status.
    pub async fn ready(&self) -> u16 {
        match reqwest::Client::new()
            .get(self.url("/readyz"))
            .timeout(Duration::from_secs(3))
            .send()
            .await
        {
            Ok(resp) => resp.status().as_u16(),
            Err(_) => 0,
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(pid) = self.child.as_ref().and_then(|c| c.id()) {
            // A frozen process must be resumed to die of SIGKILL promptly.
            signal(pid as i32, SIGCONT);
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
        }
    }
}

const SIGTERM: i32 = 15;
const SIGSTOP: i32 = 19;
const SIGCONT: i32 = 18;

/// Sends `sig` to `pid`; false when the process is gone.
fn signal(pid: i32, sig: i32) -> bool {
    // SAFETY: sends a signal to a child process this test started.
    unsafe { libc_kill(pid, sig) == 0 }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub struct TestCluster {
    pub redis: RedisServer,
    pub nodes: Vec<Node>,
}

impl TestCluster {
    /// `n` nodes with the test timings and `settings` on top.
    pub async fn start(n: usize, settings: &[(&str, &str)]) -> Self {
        let redis = RedisServer::start();
        let mut nodes = Vec::new();
        for _ in 0..n {
            nodes.push(start_node(&redis.url(), settings).await);
        }
        Self { redis, nodes }
    }
}

async fn start_node(redis_url: &str, settings: &[(&str, &str)]) -> Node {
    let data = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let log = std::fs::File::create(data.path().join("gateway.log")).expect("log file");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gateway"));
    command
        .env_clear()
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("JWT_SECRET", super::SECRET)
        .env("DATA_DIR", data.path())
        .env("SHUTDOWN_GRACE", "1s")
        .env("REDIS_URL", redis_url)
        .env("NODE_HEARTBEAT", format!("{}", HEARTBEAT.as_secs_f64()))
        .env("NODE_TIMEOUT", format!("{}", TIMEOUT.as_secs_f64()))
        .env("REDIS_TIMEOUT", format!("{}", REDIS_TIMEOUT.as_secs_f64()))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .kill_on_drop(true);
    for (k, v) in settings {
        command.env(k, v);
    }
    let child = command.spawn().expect("spawn gateway");
    let node = Node {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        child: Some(child),
        _data: data,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while node.ready().await != 200 {
        assert!(
            Instant::now() < deadline,
            "node on port {port} never became ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    node
}
