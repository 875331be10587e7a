//! Starting, watching and stopping the processes a run needs: the server under
//! test (the gateway or the reference), several of them with their own
//! environment (cluster nodes), and helpers such as a `redis-server`.

use std::ffi::OsString;
use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::procfs;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// What every server is started with.
pub struct Setup {
    pub root: PathBuf,
    pub gateway_bin: PathBuf,
    /// The port of the one server a plain scenario runs against.
    pub port: u16,
    pub secret: String,
    pub log_dir: PathBuf,
}

impl Setup {
    /// The server of `kind` on the shared port, with the shared environment.
    pub fn server(&self, kind: Kind) -> Spec {
        self.server_on(kind, kind.name(), self.port)
    }

    /// The server of `kind` called `name` (its log file's name) on `port`: one
    /// node of several gets its own port and name, and its own settings with
    /// [`Spec::env`].
    pub fn server_on(&self, kind: Kind, name: &str, port: u16) -> Spec {
        let (program, args, dir) = match kind {
            Kind::Gateway => (self.gateway_bin.clone().into(), vec![], None),
            Kind::Reference => (
                "node".into(),
                vec!["dist/main.js".into()],
                Some(self.root.join("conformance/reference")),
            ),
        };
        let env = [
            ("JWT_SECRET", self.secret.as_str()),
            ("PORT", &port.to_string()),
            ("HOST", "127.0.0.1"),
            ("CLIENT_URL", "http://localhost:5173"),
            ("RATE_LIMIT_BURST", "100000000"),
            ("RATE_LIMIT_PER_SEC", "100000000"),
            ("MAX_ROOM_SIZE", "10"),
            // The load creates rooms far past the defaults' caps.
            ("MAX_ROOMS", "100000000"),
            ("MAX_ROOMS_PER_USER", "100000000"),
            // Thousands of sockets from a few loopback addresses.
            ("MAX_CONNECTIONS_PER_ADDRESS", "100000000"),
            ("MAX_SOCKETS_PER_ADDRESS", "100000000"),
            ("NODE_ENV", "production"),
            // The generator takes one of the two cores; the gateway's runtime
            // gets the other (node runs JavaScript on one thread anyway).
            ("WORKER_THREADS", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        Spec {
            name: name.to_owned(),
            kind: Some(kind),
            program,
            args,
            dir,
            env,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}

/// One process to start.
pub struct Spec {
    /// For logs and messages: `gateway`, `gateway-2`, `redis`.
    pub name: String,
    /// A server under test (its CPU and memory are the run's figures), or
    /// `None` for a helper.
    pub kind: Option<Kind>,
    pub program: OsString,
    pub args: Vec<OsString>,
    pub dir: Option<PathBuf>,
    pub env: Vec<(String, String)>,
    /// Where it accepts connections once ready.
    pub addr: SocketAddr,
}

impl Spec {
    /// Leaves an environment variable unset (the server's default applies).
    pub fn without(mut self, key: &str) -> Self {
        self.env.retain(|(k, _)| k != key);
        self
    }

    /// Sets (or replaces) an environment variable.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.into()));
        self
    }
}

/// A free port on 127.0.0.1 (for a second node or a helper).
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Pids of running processes, killed by the signal handler.
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

/// A started process; dropping it stops it (SIGTERM, then SIGKILL after 3 s).
pub struct Proc {
    pub name: String,
    pub kind: Option<Kind>,
    pub pid: u32,
    pub addr: SocketAddr,
    child: Child,
    pub log: PathBuf,
    _data: tempfile::TempDir,
}

impl Proc {
    /// Spawns the process with its log in `log_dir` (`<name>-<tag>.log`) and a
    /// fresh `DATA_DIR`. Children die with us (PR_SET_PDEATHSIG), even if we
    /// are killed.
    pub fn start(spec: Spec, log_dir: &Path, tag: &str) -> Result<Self> {
        let data = tempfile::Builder::new().prefix("bench-data-").tempdir()?;
        let mut words: Vec<OsString> = Vec::new();
        if let Some(kind) = spec.kind {
            // Profiling aid: BENCH_WRAP_GATEWAY / BENCH_WRAP_REFERENCE, e.g.
            // "perf record -g -o /tmp/gw.perf --", prefix the server command (the
            // pid watched is then the wrapper's: CPU and RSS figures are off).
            let wrap = std::env::var(format!("BENCH_WRAP_{}", kind.name().to_uppercase()))
                .unwrap_or_default();
            words.extend(wrap.split_whitespace().map(OsString::from));
        }
        words.push(spec.program);
        words.extend(spec.args);
        let mut cmd = Command::new(&words[0]);
        cmd.args(&words[1..]);
        if let Some(dir) = &spec.dir {
            cmd.current_dir(dir);
        }
        cmd.env_remove("RUST_LOG").env("DATA_DIR", data.path());
        for (k, v) in &spec.env {
            cmd.env(k, v);
        }
        if spec.kind.is_some() {
            // Debugging aid: BENCH_SERVER_ENV_<NAME>=<value> reaches the servers as NAME.
            for (k, v) in std::env::vars() {
                if let Some(name) = k.strip_prefix("BENCH_SERVER_ENV_") {
                    cmd.env(name, v);
                }
            }
        }
        std::fs::create_dir_all(log_dir)?;
        let log = log_dir.join(format!("{}-{tag}.log", spec.name));
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
            .with_context(|| format!("starting the {}", spec.name))?;
        let pid = child.id();
        CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
        Ok(Proc {
            name: spec.name,
            kind: spec.kind,
            pid,
            addr: spec.addr,
            child,
            log,
            _data: data,
        })
    }

    /// Waits until the port accepts connections (or the process exits).
    pub async fn wait_ready(&mut self) -> Result<Duration> {
        let t0 = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait()? {
                bail!(
                    "{} exited at start-up ({st}); log: {}",
                    self.name,
                    self.log_tail()
                );
            }
            if tokio::net::TcpStream::connect(self.addr).await.is_ok() {
                return Ok(t0.elapsed());
            }
            if t0.elapsed() > Duration::from_secs(60) {
                bail!("{} not listening after 60 s", self.name);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_tail(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = s.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
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

/// The processes of one run: the servers under test (their CPU and memory
/// are summed into the run's figures) and any helpers.
pub struct Target {
    pub procs: Vec<Proc>,
}

impl Target {
    /// Starts every spec in order, each ready before the next starts.
    pub async fn start(specs: Vec<Spec>, log_dir: &Path, tag: &str) -> Result<Target> {
        let mut t = Target { procs: Vec::new() };
        for spec in specs {
            let mut p = Proc::start(spec, log_dir, tag)?;
            let ready = p.wait_ready().await?;
            eprintln!("  {} pid {} ready in {ready:.2?}", p.name, p.pid);
            t.procs.push(p);
        }
        Ok(t)
    }

    /// The servers under test.
    pub fn servers(&self) -> impl Iterator<Item = &Proc> {
        self.procs.iter().filter(|p| p.kind.is_some())
    }

    /// Where a plain scenario connects: the first server.
    pub fn addr(&self) -> SocketAddr {
        self.servers()
            .next()
            .map(|p| p.addr)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn rss_kb(&self) -> u64 {
        self.servers().map(|p| procfs::rss_kb(p.pid)).sum()
    }

    pub fn cpu_secs(&self) -> f64 {
        self.servers().map(|p| procfs::cpu_secs(p.pid)).sum()
    }

    pub fn open_fds(&self) -> u64 {
        self.servers().map(|p| procfs::open_fds(p.pid)).sum()
    }

    /// Whether every process (helpers too) still runs.
    pub fn alive(&mut self) -> bool {
        self.procs.iter_mut().all(Proc::alive)
    }

    /// The log tails of the processes that exited.
    pub fn dead_logs(&mut self) -> String {
        let mut out = String::new();
        for p in self.procs.iter_mut() {
            if !p.alive() {
                out.push_str(&format!("{}: {}\n", p.name, p.log_tail()));
            }
        }
        out
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> Setup {
        Setup {
            root: PathBuf::from("/r"),
            gateway_bin: PathBuf::from("/r/gw"),
            port: 4000,
            secret: "s".into(),
            log_dir: std::env::temp_dir(),
        }
    }

    #[test]
    fn a_node_gets_its_own_port_and_settings_on_top_of_the_shared_ones() {
        let spec = setup()
            .server_on(Kind::Gateway, "gateway-2", 4001)
            .env("REDIS_URL", "redis://127.0.0.1:7000")
            .env("WORKER_THREADS", "2");
        let get = |k: &str| {
            let v: Vec<&str> = spec
                .env
                .iter()
                .filter(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
                .collect();
            v
        };
        assert_eq!(spec.name, "gateway-2");
        assert_eq!(spec.addr.port(), 4001);
        assert_eq!(get("PORT"), ["4001"]);
        assert_eq!(get("REDIS_URL"), ["redis://127.0.0.1:7000"]);
        assert_eq!(get("WORKER_THREADS"), ["2"]);
        assert_eq!(get("JWT_SECRET"), ["s"]);
    }

    #[tokio::test]
    async fn a_target_starts_a_helper_waits_for_its_port_and_stops_it() {
        // A helper that listens: node is what the reference runs on.
        let port = free_port().unwrap();
        let listen = format!(
            "require('net').createServer().listen({port}, '127.0.0.1'); setTimeout(() => {{}}, 60000)"
        );
        let spec = Spec {
            name: "helper".into(),
            kind: None,
            program: "node".into(),
            args: vec!["-e".into(), listen.into()],
            dir: None,
            env: vec![],
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let dir = tempfile::tempdir().unwrap();
        let mut t = Target::start(vec![spec], dir.path(), "t").await.unwrap();
        let pid = t.procs[0].pid;
        assert!(t.alive());
        // A helper is not a server under test: no figures of its own.
        assert_eq!(t.servers().count(), 0);
        assert_eq!(t.cpu_secs(), 0.0);
        drop(t);
        assert_eq!(procfs::rss_kb(pid), 0, "the helper was stopped");
    }
}
