//! The gateway's peak resident memory over one case: the kernel's own
//! high-water mark (`VmHWM`, reset at the case's start through
//! `/proc/PID/clear_refs`), and, should the reset not be allowed, the
//! highest `VmRSS` sampled every 10 ms.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::procfs::{rss_kb, status_kb};

pub struct Peak {
    pid: u32,
    /// Whether the kernel's mark was reset (else it counts from the start).
    pub reset: bool,
    sampled: Arc<AtomicU64>,
    sampler: JoinHandle<()>,
}

impl Peak {
    pub fn start(pid: u32) -> Peak {
        // "5" resets the peak RSS (Linux 4.0+): the owner may write it.
        let reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
        let sampled = Arc::new(AtomicU64::new(rss_kb(pid)));
        let sampler = tokio::spawn({
            let sampled = sampled.clone();
            async move {
                loop {
                    sampled.fetch_max(rss_kb(pid), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        });
        Peak {
            pid,
            reset,
            sampled,
            sampler,
        }
    }

    /// (the kernel's mark when reset, else 0; the highest sample), in KiB.
    pub fn finish(self) -> (u64, u64) {
        self.sampler.abort();
        let sampled = self.sampled.load(Ordering::Relaxed).max(rss_kb(self.pid));
        let hwm = if self.reset {
            status_kb(self.pid, "VmHWM:")
        } else {
            0
        };
        (hwm, sampled)
    }
}
