//! Bounds argon2 work. Each hash or verification takes ~19 MiB and a core for
//! tens of milliseconds; unbounded, a burst of logins takes gigabytes and
//! every core (400 at once: 2.2 GB, 146 threads, pings delayed by seconds).
//! At most `slots` run at once on the blocking pool; up to `queue` more wait
//! their turn; beyond that the caller is told to come back ([`Busy`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

/// Every hashing slot is taken and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is saturated")]
pub struct Busy;

pub struct HashPool {
    slots: Arc<Semaphore>,
    queue: usize,
    waiting: AtomicUsize,
}

/// Leaves the queue however the wait ends (the request may be dropped).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl HashPool {
    pub fn new(slots: usize, queue: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            queue,
            waiting: AtomicUsize::new(0),
        }
    }

    /// One slot per core.
    pub fn per_core(queue: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(cores, queue)
    }

    /// Runs `work` on the blocking pool once a slot is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<Result<T, tokio::task::JoinError>, Busy> {
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(Busy);
                }
                let _waiting = Waiting(&self.waiting);
                self.slots.clone().acquire_owned().await.map_err(|_| Busy)?
            }
        };
        // The permit moves into the task: a dropped request does not free the
        // slot before the hash is really done.
        Ok(tokio::task::spawn_blocking(move || {
            let out = work();
            drop(permit);
            out
        })
        .await)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn at_most_slots_run_and_the_queue_overflows_into_busy() {
        let pool = Arc::new(HashPool::new(2, 3));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..10)
            .map(|_| {
                let (pool, running, peak) = (pool.clone(), running.clone(), peak.clone());
                tokio::spawn(async move {
                    pool.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(50));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                    .is_ok()
                })
            })
            .collect();
        let mut done = 0;
        for job in jobs {
            done += usize::from(job.await.unwrap());
        }
        assert_eq!(done, 5, "2 running + 3 queued");
        assert_eq!(peak.load(Ordering::SeqCst), 2);
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 0);
    }
}
