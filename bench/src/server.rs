//! Starting, watching and stopping the two servers under test.

use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gateway,
    Reference,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Gateway => "gateway",
            Kind::Reference => "reference",
        }
    }
}

/// What both servers are started with.
pub struct Setup {
    pub root: PathBuf,
    pub gateway_bin: PathBuf,
    pub port: u16,
    pub secret: String,
    pub log_dir: PathBuf,
}

impl Setup {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }
}

/// Pids of running servers, killed by the signal handler.
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());

pub fn kill_all_children() {
    if let Ok(list) = CHILDREN.lock() {
        for &pid in list.iter() {
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
}

pub struct ServerProc {
    pub kind: Kind,
    pub pid: u32,
    child: Child,
    pub log: PathBuf,
    _data: tempfile::TempDir,
}

impl ServerProc {
    /// Spawns the server with the shared environment. Children die with us
    /// (PR_SET_PDEATHSIG), even if we are killed.
    pub fn start(kind: Kind, setup: &Setup, tag: &str) -> Result<Self> {
        let data = tempfile::Builder::new().prefix("bench-data-").tempdir()?;
        // Profiling aid: BENCH_WRAP_GATEWAY / BENCH_WRAP_REFERENCE, e.g.
        // "perf record -g -o /tmp/gw.perf --", prefix the server command (the
        // pid watched is then the wrapper's: CPU and RSS figures are off).
        let (prog, args): (std::ffi::OsString, Vec<std::ffi::OsString>) = match kind {
            Kind::Gateway => (setup.gateway_bin.clone().into(), vec![]),
            Kind::Reference => ("node".into(), vec!["dist/main.js".into()]),
        };
        let wrap =
            std::env::var(format!("BENCH_WRAP_{}", kind.name().to_uppercase())).unwrap_or_default();
        let mut words: Vec<std::ffi::OsString> = wrap.split_whitespace().map(Into::into).collect();
        words.push(prog);
        words.extend(args);
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..]);
        if kind == Kind::Reference {
            cmd.current_dir(setup.root.join("conformance/reference"));
        }
        cmd.env("JWT_SECRET", &setup.secret)
            .env("PORT", setup.port.to_string())
            .env("HOST", "127.0.0.1")
            .env("CLIENT_URL", "http://localhost:5173")
            .env("RATE_LIMIT_BURST", "100000000")
            .env("RATE_LIMIT_PER_SEC", "100000000")
            // The load creates rooms far past the defaults' caps.
            .env("MAX_ROOMS", "100000000")
            .env("MAX_ROOMS_PER_USER", "100000000")
            .env("MAX_ROOM_SIZE", "10")
            .env("DATA_DIR", data.path())
            .env("NODE_ENV", "production")
            // The generator takes one of the two cores; the gateway's runtime
            // gets the other (node runs JavaScript on one thread anyway).
            .env("WORKER_THREADS", "1")
            .env_remove("RUST_LOG");
        // Debugging aid: BENCH_SERVER_ENV_<NAME>=<value> reaches both servers as NAME.
        for (k, v) in std::env::vars() {
            if let Some(name) = k.strip_prefix("BENCH_SERVER_ENV_") {
                cmd.env(name, v);
            }
        }
        std::fs::create_dir_all(&setup.log_dir)?;
        let log = setup.log_dir.join(format!("{}-{tag}.log", kind.name()));
        let f = File::create(&log)?;
        cmd.stdout(f.try_clone()?).stderr(f).stdin(Stdio::null());
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("starting the {}", kind.name()))?;
        let pid = child.id();
        CHILDREN.lock().unwrap().push(pid);
        Ok(ServerProc {
            kind,
            pid,
            child,
            log,
            _data: data,
        })
    }

    /// Waits until the port accepts connections (or the process exits).
    pub async fn wait_ready(&mut self, addr: SocketAddr) -> Result<Duration> {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait()? {
                bail!(
                    "{} exited at start-up ({st}); log: {}",
                    self.kind.name(),
                    self.log_tail()
                );
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                return Ok(t0.elapsed());
            }
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("{} not listening after 60 s", self.kind.name());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn rss_kb(&self) -> u64 {
        proc_status_kb(self.pid, "VmRSS:")
    }

    pub fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(&format!("/proc/{}/stat", self.pid))
    }

    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }

    fn stop_inner(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            unsafe {
                libc::kill(self.pid as i32, libc::SIGTERM);
            }
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(3) {
                if !matches!(self.child.try_wait(), Ok(None)) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if let Ok(mut list) = CHILDREN.lock() {
            list.retain(|&p| p != self.pid);
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

pub fn proc_status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// utime + stime (all threads) of a /proc/.../stat file, in seconds.
pub fn proc_cpu_secs(path: &str) -> f64 {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let Some(p) = s.rfind(')') else { return 0.0 };
    let f: Vec<&str> = s[p + 1..].split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / hz
}

pub fn self_cpu_secs() -> f64 {
    proc_cpu_secs("/proc/self/stat")
}

pub fn self_rss_kb() -> u64 {
    proc_status_kb(std::process::id(), "VmRSS:")
}

/// Builds both servers: the release gateway (cargo) and the reference (npm ci
/// when node_modules is missing, then `npm run build`). With `skip`, only
/// checks that the artefacts exist.
pub fn build(
    root: &Path,
    gateway_bin: &Path,
    gateway: bool,
    reference: bool,
    skip: bool,
) -> Result<()> {
    if gateway {
        if !skip {
            eprintln!("building: cargo build --release -p gateway");
            let st = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "--release", "-p", "gateway"])
                .current_dir(root)
                .status()?;
            if !st.success() {
                bail!("cargo build --release -p gateway failed");
            }
        }
        if !gateway_bin.exists() {
            bail!(
                "{} is missing (cargo build --release -p gateway)",
                gateway_bin.display()
            );
        }
    }
    if reference {
        let dir = root.join("conformance/reference");
        if !skip {
            if !dir.join("node_modules").exists() {
                eprintln!("building: npm ci (conformance/reference)");
                let st = Command::new("npm").arg("ci").current_dir(&dir).status()?;
                if !st.success() {
                    bail!("npm ci failed in conformance/reference");
                }
            }
            eprintln!("building: npm run build (conformance/reference)");
            let st = Command::new("npm")
                .args(["run", "build"])
                .current_dir(&dir)
                .stdout(Stdio::null())
                .status()?;
            if !st.success() {
                bail!("npm run build failed in conformance/reference");
            }
        }
        if !dir.join("dist/main.js").exists() {
            bail!("conformance/reference/dist/main.js is missing (npm ci && npm run build)");
        }
    }
    Ok(())
}
