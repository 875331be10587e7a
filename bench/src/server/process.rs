//! One started process: its log, its data directory, waiting until it
//! listens, stopping it (and every child when the bench is interrupted).

use std::ffi::OsString;
use std::fs::File;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::spec::{Kind, Spec};

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
