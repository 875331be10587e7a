//! System calls a set of processes makes over a window, counted by the
//! kernel's `raw_syscalls:sys_enter` tracepoint through `perf stat` (counting
//! only, nothing recorded: the servers' cost barely moves). Unlike CPU time,
//! the count does not move with the noise of a shared machine. Where `perf`
//! is missing or not allowed, there is no figure.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `perf stat` attached to the processes for a fixed time.
pub struct SyscallCount(Child);

impl SyscallCount {
    /// Starts counting the system calls of `pids` (all their threads) for `dur`.
    pub fn start(pids: &[u32], dur: Duration) -> Option<SyscallCount> {
        if pids.is_empty() {
            return None;
        }
        let list: Vec<String> = pids.iter().map(u32::to_string).collect();
        Command::new("perf")
            .args(["stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p"])
            .arg(list.join(","))
            .arg("--")
            .arg("sleep")
            .arg(format!("{:.3}", dur.as_secs_f64()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .ok()
            .map(SyscallCount)
    }

    /// Waits for the count (it ends with the window).
    pub async fn finish(self) -> Option<u64> {
        let out = tokio::task::spawn_blocking(move || self.0.wait_with_output())
            .await
            .ok()?
            .ok()?;
        if !out.status.success() {
            return None;
        }
        parse(&String::from_utf8_lossy(&out.stderr))
    }
}

/// The count in `perf stat -x,` output: `<count>,<unit>,<event>,…`;
/// `<not counted>` (no system call at all) is 0.
fn parse(csv: &str) -> Option<u64> {
    let line = csv.lines().find(|l| l.contains("raw_syscalls:sys_enter"))?;
    match line.split(',').next()? {
        "<not counted>" => Some(0),
        n => n.trim().parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_system_calls_of_a_process_are_counted() {
        let perf_runs = Command::new("perf").arg("--version").output().is_ok();
        let count = SyscallCount::start(&[std::process::id()], Duration::from_millis(1500));
        // perf needs a moment to attach; then 2,000 system calls of our own.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for _ in 0..2000 {
            let _ = std::fs::metadata("/");
        }
        let n = match count {
            Some(c) => c.finish().await,
            None => None,
        };
        if perf_runs {
            assert!(n.is_some_and(|n| n >= 2000), "counted {n:?}");
        } else {
            assert_eq!(n, None);
        }
    }

    #[test]
    fn the_count_is_read_from_perf_stat_csv() {
        assert_eq!(
            parse("12345,,raw_syscalls:sys_enter,1000,100.00,,\n"),
            Some(12345)
        );
        assert_eq!(
            parse("<not counted>,,raw_syscalls:sys_enter,0,100.00,,"),
            Some(0)
        );
        assert_eq!(
            parse("<not supported>,,raw_syscalls:sys_enter,0,100.00,,"),
            None
        );
        assert_eq!(parse("perf: command not found"), None);
    }
}
