//! Counting failed attempts per key in a sliding window: unknown API keys and
//! room-lookup misses per client address (failed logins have their own
//! throttle, `accounts::throttle`, built from the same pieces).
//!
//! An attempt is *reserved* — counted as a failure — before the work that
//! decides it, in the same locked step as the check, and released when it
//! turns out to have succeeded. So a thousand simultaneous attempts cannot all
//! pass the check before the first one is counted. Kept in memory, per node.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Keys tracked before stale ones are purged (each costs ~100 bytes).
const PURGE_ABOVE: usize = 100_000;

/// The key of a client address: IPv4 as is, IPv6 by its /64 (one subscriber's
/// network), since a single host can pick any address inside its /64.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// The failures of one key inside the window, oldest first.
#[derive(Debug, Default)]
pub struct Recent(VecDeque<Instant>);

impl Recent {
    /// Forgets failures older than `window`; `Some(retry_after)` when `limit`
    /// remain.
    pub fn refused(&mut self, now: Instant, limit: u32, window: Duration) -> Option<Duration> {
        while self
            .0
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.0.pop_front();
        }
        let first = *self.0.front()?;
        (self.0.len() >= limit as usize).then(|| window.saturating_sub(now.duration_since(first)))
    }

    pub fn push(&mut self, at: Instant) {
        self.0.push_back(at);
    }

    /// Takes back the failure counted at `at` (the attempt succeeded).
    pub fn remove(&mut self, at: Instant) {
        if let Some(i) = self.0.iter().rposition(|t| *t == at) {
            self.0.remove(i);
        }
    }

    pub fn is_stale(&self, now: Instant, window: Duration) -> bool {
        self.0
            .back()
            .is_none_or(|t| now.duration_since(*t) >= window)
    }
}

/// A counted attempt; give it back with [`FailureWindow::release`] if it succeeded.
#[must_use]
#[derive(Debug)]
pub struct Reserved<K> {
    key: K,
    at: Instant,
}

/// At most `limit` failures per key within `window`.
pub struct FailureWindow<K> {
    limit: u32,
    window: Duration,
    keys: Mutex<HashMap<K, Recent>>,
}

impl<K: Hash + Eq + Clone> FailureWindow<K> {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            keys: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, Recent>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts an attempt for `key`, or `Err(retry_after)` when the key already
    /// has `limit` failures in the window.
    pub fn reserve(&self, key: K) -> Result<Reserved<K>, Duration> {
        let now = Instant::now();
        let mut keys = self.lock();
        if keys.len() > PURGE_ABOVE {
            keys.retain(|_, recent| !recent.is_stale(now, self.window));
        }
        let recent = keys.entry(key.clone()).or_default();
        if let Some(retry) = recent.refused(now, self.limit, self.window) {
            return Err(retry);
        }
        recent.push(now);
        Ok(Reserved { key, at: now })
    }

    /// The attempt succeeded: it is not a failure.
    pub fn release(&self, reserved: Reserved<K>) {
        let mut keys = self.lock();
        if let Some(recent) = keys.get_mut(&reserved.key) {
            recent.remove(reserved.at);
            if recent.0.is_empty() {
                keys.remove(&reserved.key);
            }
        }
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_counts_reservations_and_releases_give_them_back() {
        let w = FailureWindow::new(2, Duration::from_secs(60));
        let a = w.reserve("k").unwrap();
        let _b = w.reserve("k").unwrap();
        let retry = w.reserve("k").unwrap_err();
        assert!(retry > Duration::from_secs(59) && retry <= Duration::from_secs(60));
        assert!(w.reserve("other").is_ok());
        w.release(a);
        assert!(w.reserve("k").is_ok());
        assert!(w.reserve("k").is_err());
    }

    #[test]
    fn failures_age_out_and_released_keys_are_dropped() {
        let w = FailureWindow::new(1, Duration::from_millis(30));
        let _ = w.reserve(1).unwrap();
        assert!(w.reserve(1).is_err());
        std::thread::sleep(Duration::from_millis(40));
        let r = w.reserve(1).unwrap();
        w.release(r);
        assert!(w.is_empty());
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(address_key(v4), v4);
    }
}
