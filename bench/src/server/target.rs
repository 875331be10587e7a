//! The processes of one run together: the figures of the servers under
//! test, and whether everything still runs.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Result;

use super::process::Proc;
use super::spec::Spec;
use crate::procfs;

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

    pub fn system_cpu_secs(&self) -> f64 {
        self.servers().map(|p| procfs::system_cpu_secs(p.pid)).sum()
    }

    pub fn wakeups(&self) -> u64 {
        self.servers().map(|p| procfs::wakeups(p.pid)).sum()
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

#[cfg(test)]
mod tests {
    use super::super::spec::free_port;
    use super::*;

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
