//! The real gateway binary as a child process: for memory (its RSS is read
//! from `/proc`), file-descriptor limits and settings given as environment
//! variables. Killed on drop.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

pub struct GatewayProcess {
    pub addr: SocketAddr,
    child: tokio::process::Child,
    _data: tempfile::TempDir,
}

impl GatewayProcess {
    /// Starts the gateway on a free loopback port with the test secret and
    /// `env`, and waits until `/healthz` answers.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        Self::start_with(env, None).await
    }

    /// The same, with the open-files limit lowered to `nofile` (via the shell's
    /// `ulimit`).
    pub async fn start_with(env: &[(&str, &str)], nofile: Option<u32>) -> Self {
        let data = tempfile::tempdir().expect("temp dir");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let bin = env!("CARGO_BIN_EXE_gateway");
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = tokio::process::Command::new("sh");
                c.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\""))
                    .arg(bin);
                c
            }
            None => tokio::process::Command::new(bin),
        };
        cmd.env_clear()
            .env("HOST", "127.0.0.1")
            .env("PORT", port.to_string())
            .env("JWT_SECRET", super::SECRET)
            .env("DATA_DIR", data.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Ok(path) = std::env::var("PATH") {
            cmd.env("PATH", path);
        }
        // Measuring aid: the allocator's options (`MIMALLOC_PURGE_DELAY=…`)
        // reach the gateway, to compare them on the same test.
        for (k, v) in std::env::vars() {
            if k.starts_with("MIMALLOC_") {
                cmd.env(k, v);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn gateway");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let gw = Self {
            addr,
            child,
            _data: data,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(gw.url("/healthz")).await.is_err() {
            assert!(Instant::now() < deadline, "the gateway never came up");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        gw
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id().expect("running")
    }

    /// Resident memory now, in bytes.
    pub fn rss(&self) -> u64 {
        self.status_kib("VmRSS:") * 1024
    }

    /// Peak resident memory, in bytes.
    pub fn peak_rss(&self) -> u64 {
        self.status_kib("VmHWM:") * 1024
    }

    fn status_kib(&self, field: &str) -> u64 {
        status_kib(self.pid(), field)
    }

    /// CPU time used so far (user + system), from `/proc/PID/stat`.
    pub fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        // Fields after the parenthesised command name; utime and stime are
        // the 14th and 15th fields overall.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0);
        // Linux reports clock ticks of 1/100 s.
        Duration::from_millis(ticks * 10)
    }

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }
}

/// A field of `/proc/PID/status` counted in KiB (`VmRSS:`, `VmHWM:`).
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("a VmRSS/VmHWM line")
}
