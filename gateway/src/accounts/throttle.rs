//! Slows password guessing: failed logins are counted per username and per
//! client address in a sliding window; over the limit, attempts get 429 until
//! the window has passed. Kept in memory (per node).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub per_username: u32,
    pub per_address: u32,
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            per_username: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

pub struct LoginThrottle {
    policy: ThrottlePolicy,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginThrottle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when either the username or the address is over its limit.
    pub fn check(&self, username: &str, address: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut worst = None;
        for (key, limit) in [
            (user_key(username), self.policy.per_username),
            (addr_key(address), self.policy.per_address),
        ] {
            let Some(times) = failures.get_mut(&key) else {
                continue;
            };
            times.retain(|t| now.duration_since(*t) < self.policy.window);
            if times.len() >= limit as usize {
                let retry = self
                    .policy
                    .window
                    .saturating_sub(now.duration_since(times[0]));
                worst = Some(worst.map_or(retry, |w: Duration| w.max(retry)));
            }
        }
        worst.map_or(Ok(()), Err)
    }

    pub fn record_failure(&self, username: &str, address: &str) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in [user_key(username), addr_key(address)] {
            failures.entry(key).or_default().push(now);
        }
        // Keep the map from growing without bound under a spray of names.
        if failures.len() > 100_000 {
            failures.retain(|_, times| {
                times
                    .last()
                    .is_some_and(|t| now.duration_since(*t) < self.policy.window)
            });
        }
    }

    /// A successful login clears the username's count (not the address's).
    pub fn record_success(&self, username: &str) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&user_key(username));
    }
}

fn user_key(username: &str) -> String {
    format!("u:{}", username.to_ascii_lowercase())
}

fn addr_key(address: &str) -> String {
    format!("a:{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_username_is_locked_after_its_limit_and_success_unlocks_it() {
        let t = LoginThrottle::new(ThrottlePolicy {
            per_username: 2,
            per_address: 100,
            window: Duration::from_secs(60),
        });
        assert!(t.check("alice", "1.1.1.1").is_ok());
        t.record_failure("alice", "1.1.1.1");
        t.record_failure("Alice", "2.2.2.2");
        let retry = t.check("ALICE", "3.3.3.3").unwrap_err();
        assert!(retry > Duration::from_secs(50) && retry <= Duration::from_secs(60));
        assert!(t.check("bob", "1.1.1.1").is_ok());
        t.record_success("alice");
        assert!(t.check("alice", "1.1.1.1").is_ok());
    }

    #[test]
    fn an_address_spraying_names_is_locked() {
        let t = LoginThrottle::new(ThrottlePolicy {
            per_username: 100,
            per_address: 3,
            window: Duration::from_secs(60),
        });
        for name in ["a", "b", "c"] {
            t.record_failure(name, "9.9.9.9");
        }
        assert!(t.check("d", "9.9.9.9").is_err());
        assert!(t.check("d", "8.8.8.8").is_ok());
    }

    #[test]
    fn failures_age_out_of_the_window() {
        let t = LoginThrottle::new(ThrottlePolicy {
            per_username: 1,
            per_address: 1,
            window: Duration::from_millis(30),
        });
        t.record_failure("a", "1");
        assert!(t.check("a", "1").is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(t.check("a", "1").is_ok());
    }
}
