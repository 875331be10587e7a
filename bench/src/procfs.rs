//! What a process costs, read from `/proc`: resident memory, CPU time, open
//! files. Figures for a process that is gone read as 0.

/// A `kB` field of `/proc/PID/status` (e.g. `VmRSS:`).
pub fn status_kb(pid: u32, key: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub fn rss_kb(pid: u32) -> u64 {
    status_kb(pid, "VmRSS:")
}

/// (utime, stime) (all threads) of a `/proc/.../stat` file, in seconds.
fn stat_cpu(path: &str) -> (f64, f64) {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    // The command name (field 2) may hold spaces; the fields after it do not.
    let Some(p) = s.rfind(')') else {
        return (0.0, 0.0);
    };
    let f: Vec<&str> = s[p + 1..].split_whitespace().collect();
    let ticks = |i: usize| -> u64 { f.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) };
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks(11) as f64 / hz, ticks(12) as f64 / hz)
}

fn stat_cpu_secs(path: &str) -> f64 {
    let (user, system) = stat_cpu(path);
    user + system
}

pub fn cpu_secs(pid: u32) -> f64 {
    stat_cpu_secs(&format!("/proc/{pid}/stat"))
}

/// The part of [`cpu_secs`] spent in the kernel (system calls, the network
/// stack, scheduling).
pub fn system_cpu_secs(pid: u32) -> f64 {
    stat_cpu(&format!("/proc/{pid}/stat")).1
}

/// Open file descriptors (sockets included) of a process.
pub fn open_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0)
}

/// The generator's own CPU time.
pub fn self_cpu_secs() -> f64 {
    stat_cpu_secs("/proc/self/stat")
}

pub fn self_rss_kb() -> u64 {
    rss_kb(std::process::id())
}

/// Times the threads of a process went to sleep and were woken up again
/// (`voluntary_ctxt_switches`, summed over `/proc/PID/task/*`): what a
/// lightly loaded server pays for beside the work itself.
pub fn wakeups(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .map(|t| voluntary_switches(&t.path().join("status")))
        .sum()
}

/// `voluntary_ctxt_switches` of one task's `status` file (0 if unreadable).
fn voluntary_switches(status: &std::path::Path) -> u64 {
    let s = std::fs::read_to_string(status).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_has_memory_files_and_cpu_time() {
        let me = std::process::id();
        assert!(rss_kb(me) > 0);
        assert!(open_fds(me) >= 3);
        let t0 = self_cpu_secs();
        let mut x = 0u64;
        while self_cpu_secs() - t0 < 0.02 {
            x = x.wrapping_add(1);
        }
        assert!(x > 0);
        assert!(system_cpu_secs(me) <= self_cpu_secs());
    }

    #[test]
    fn a_thread_that_sleeps_counts_as_woken_up() {
        // This thread's own counter: the process-wide sum can fall while
        // the test runner's other threads end.
        let me = std::path::Path::new("/proc/thread-self/status");
        let before = voluntary_switches(me);
        for _ in 0..5 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(voluntary_switches(me) >= before + 5);
        let mine = voluntary_switches(me);
        assert!(wakeups(std::process::id()) >= mine);
    }

    #[test]
    fn a_process_that_does_not_exist_reads_as_zero() {
        // Above the kernel's pid_max (at most 2^22).
        let gone = 1 << 23;
        assert_eq!(rss_kb(gone), 0);
        assert_eq!(cpu_secs(gone), 0.0);
        assert_eq!(open_fds(gone), 0);
        assert_eq!(wakeups(gone), 0);
    }
}
