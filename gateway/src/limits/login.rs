//! Slows password guessing without handing anyone a way to lock an account.
//!
//! Failures are counted per (username, client address): after
//! `per_pair` of them the pair must wait `backoff`, doubled by each further
//! failure up to `window`, so a guesser gets a handful of tries an hour while
//! the owner, from their own address, is not slowed at all. A client address
//! also has `per_address` failures per `window` across every username (a
//! spray of names). A success clears its pair.
//!
//! [`LoginThrottle::reserve`] checks and counts in one locked step, *before*
//! the slow argon2 verification: simultaneous attempts cannot all pass the
//! check before the first is counted. Kept in memory, per node.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::limits::failures::{Recent, address_key};

/// Pairs and addresses tracked before stale ones are purged.
const PURGE_ABOVE: usize = 100_000;

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures of one (username, address) before backoff starts.
    pub per_pair: u32,
    /// The first wait; doubled by each further failure, capped at `window`.
    pub backoff: Duration,
    /// Failures of one address (any username) within `window`.
    pub per_address: u32,
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            per_pair: 5,
            backoff: Duration::from_secs(30),
            per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pair {
    failures: u32,
    last: Instant,
}

#[derive(Default)]
struct Counts {
    pairs: HashMap<(String, IpAddr), Pair>,
    addresses: HashMap<IpAddr, Recent>,
}

/// A login attempt counted as a failure until it is reported otherwise.
#[must_use]
#[derive(Debug)]
pub struct Attempt {
    pair: (String, IpAddr),
    at: Instant,
}

pub struct LoginThrottle {
    policy: ThrottlePolicy,
    counts: Mutex<Counts>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            counts: Mutex::new(Counts::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long a pair with `failures` must wait after its last one.
    fn wait(&self, failures: u32) -> Duration {
        let Some(over) = failures.checked_sub(self.policy.per_pair) else {
            return Duration::ZERO;
        };
        let doubled = self
            .policy
            .backoff
            .saturating_mul(2u32.saturating_pow(over.min(31)));
        doubled.min(self.policy.window)
    }

    /// Counts a login attempt as a failure, or `Err(retry_after)` when the
    /// pair is backing off or the address is over its limit.
    pub fn reserve(&self, username: &str, address: IpAddr) -> Result<Attempt, Duration> {
        let now = Instant::now();
        let address = address_key(address);
        let pair_key = (username.to_ascii_lowercase(), address);
        let window = self.policy.window;
        let mut counts = self.lock();
        if counts.pairs.len() + counts.addresses.len() > PURGE_ABOVE {
            counts
                .pairs
                .retain(|_, p| now.duration_since(p.last) < window);
            counts.addresses.retain(|_, r| !r.is_stale(now, window));
        }
        let pair = counts
            .pairs
            .get(&pair_key)
            .copied()
            // A pair quiet for a whole window starts over.
            .filter(|p| now.duration_since(p.last) < window);
        let pair_wait = pair.map_or(Duration::ZERO, |p| {
            self.wait(p.failures)
                .saturating_sub(now.duration_since(p.last))
        });
        let address_wait = counts.addresses.entry(address).or_default().refused(
            now,
            self.policy.per_address,
            window,
        );
        let retry = pair_wait.max(address_wait.unwrap_or_default());
        if !retry.is_zero() {
            return Err(retry);
        }
        counts.pairs.insert(
            pair_key.clone(),
            Pair {
                failures: pair.map_or(0, |p| p.failures) + 1,
                last: now,
            },
        );
        if let Some(recent) = counts.addresses.get_mut(&address) {
            recent.push(now);
        }
        Ok(Attempt {
            pair: pair_key,
            at: now,
        })
    }

    /// The password was right: the pair starts over, and the attempt is not
    /// an address failure.
    pub fn succeeded(&self, attempt: Attempt) {
        let mut counts = self.lock();
        counts.pairs.remove(&attempt.pair);
        Self::forget_address(&mut counts, &attempt);
    }

    /// The attempt was not decided (the server was busy or failed): it counts
    /// for nothing.
    pub fn undecided(&self, attempt: Attempt) {
        let mut counts = self.lock();
        if let Some(pair) = counts.pairs.get_mut(&attempt.pair) {
            pair.failures = pair.failures.saturating_sub(1);
            if pair.failures == 0 {
                counts.pairs.remove(&attempt.pair);
            }
        }
        Self::forget_address(&mut counts, &attempt);
    }

    fn forget_address(counts: &mut Counts, attempt: &Attempt) {
        if let Some(recent) = counts.addresses.get_mut(&attempt.pair.1) {
            recent.remove(attempt.at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn throttle(per_pair: u32, backoff_ms: u64, per_address: u32) -> LoginThrottle {
        LoginThrottle::new(ThrottlePolicy {
            per_pair,
            backoff: Duration::from_millis(backoff_ms),
            per_address,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn a_pair_backs_off_but_the_same_user_elsewhere_does_not() {
        let t = throttle(2, 60_000, 100);
        let _ = t.reserve("alice", ip("1.1.1.1")).unwrap();
        let _ = t.reserve("Alice", ip("1.1.1.1")).unwrap();
        let retry = t.reserve("ALICE", ip("1.1.1.1")).unwrap_err();
        assert!(retry > Duration::from_secs(59) && retry <= Duration::from_secs(60));
        // The owner, from another address, is not slowed.
        let own = t.reserve("alice", ip("2.2.2.2")).unwrap();
        t.succeeded(own);
        assert!(t.reserve("bob", ip("1.1.1.1")).is_ok());
    }

    #[test]
    fn the_wait_doubles_with_each_failure_up_to_the_window() {
        let t = throttle(2, 1_000, 100);
        assert_eq!(t.wait(1), Duration::ZERO);
        assert_eq!(t.wait(2), Duration::from_secs(1));
        assert_eq!(t.wait(3), Duration::from_secs(2));
        assert_eq!(t.wait(5), Duration::from_secs(8));
        assert_eq!(t.wait(40), Duration::from_secs(60));
    }

    #[test]
    fn after_the_backoff_one_more_try_is_allowed_and_a_success_clears_the_pair() {
        let t = throttle(1, 30, 100);
        let _ = t.reserve("a", ip("1.1.1.1")).unwrap();
        assert!(t.reserve("a", ip("1.1.1.1")).is_err());
        std::thread::sleep(Duration::from_millis(40));
        let attempt = t.reserve("a", ip("1.1.1.1")).unwrap();
        // Two failures now: the wait is 60 ms.
        assert!(t.reserve("a", ip("1.1.1.1")).unwrap_err() > Duration::from_millis(30));
        t.succeeded(attempt);
        assert!(t.reserve("a", ip("1.1.1.1")).is_ok());
    }

    #[test]
    fn an_address_spraying_names_is_limited() {
        let t = throttle(100, 1_000, 3);
        for name in ["a", "b", "c"] {
            let _ = t.reserve(name, ip("9.9.9.9")).unwrap();
        }
        assert!(t.reserve("d", ip("9.9.9.9")).is_err());
        assert!(t.reserve("d", ip("8.8.8.8")).is_ok());
    }

    #[test]
    fn undecided_attempts_count_for_nothing() {
        let t = throttle(1, 60_000, 1);
        let attempt = t.reserve("a", ip("1.1.1.1")).unwrap();
        t.undecided(attempt);
        let _ = t.reserve("a", ip("1.1.1.1")).unwrap();
        assert!(t.reserve("a", ip("1.1.1.1")).is_err());
    }

    #[test]
    fn simultaneous_reservations_pass_exactly_the_limit() {
        let t = std::sync::Arc::new(throttle(5, 60_000, 1_000));
        let passed: usize = (0..8)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .filter(|_| t.reserve("victim", ip("6.6.6.6")).is_ok())
                        .count()
                })
            })
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(passed, 5);
    }
}
