//! Refused handshakes per client address: past `limit` within `window` of the
//! first, further handshakes from the address are refused at once, without
//! checking their credential (an API key costs a database lookup, an RS256
//! token a signature check), until the window has passed. Kept in memory, per
//! node, for a bounded number of addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses tracked at most; past it, those whose window has passed are
/// forgotten, and if none has, all are (a flood from that many addresses is
/// beyond what a per-address count can stop).
const TRACKED: usize = 65_536;

pub struct HandshakeThrottle {
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

struct Failures {
    since: Instant,
    count: u32,
}

impl HandshakeThrottle {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Whether handshakes from `ip` are refused without being checked.
    pub fn blocked(&self, ip: IpAddr) -> bool {
        self.blocked_at(ip, Instant::now())
    }

    /// Counts a refused handshake from `ip`.
    pub fn failed(&self, ip: IpAddr) {
        self.failed_at(ip, Instant::now());
    }

    fn blocked_at(&self, ip: IpAddr, now: Instant) -> bool {
        let map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&ip)
            .is_some_and(|f| f.count >= self.limit && now.duration_since(f.since) < self.window)
    }

    fn failed_at(&self, ip: IpAddr, now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= TRACKED && !map.contains_key(&ip) {
            let window = self.window;
            map.retain(|_, f| now.duration_since(f.since) < window);
            if map.len() >= TRACKED {
                map.clear();
            }
        }
        let f = map.entry(ip).or_insert(Failures {
            since: now,
            count: 0,
        });
        if now.duration_since(f.since) >= self.window {
            *f = Failures {
                since: now,
                count: 0,
            };
        }
        f.count = f.count.saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_is_blocked_after_its_limit_until_the_window_passes() {
        let t = HandshakeThrottle::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        let a = ip("192.0.2.1");
        for i in 0..3 {
            assert!(!t.blocked_at(a, t0), "after {i} failures");
            t.failed_at(a, t0 + Duration::from_secs(i));
        }
        assert!(t.blocked_at(a, t0 + Duration::from_secs(10)));
        assert!(
            !t.blocked_at(ip("192.0.2.2"), t0),
            "other addresses are not"
        );
        // The window counts from the first failure.
        assert!(!t.blocked_at(a, t0 + Duration::from_secs(60)));
        t.failed_at(a, t0 + Duration::from_secs(61));
        assert!(!t.blocked_at(a, t0 + Duration::from_secs(62)));
    }

    #[test]
    fn the_table_stays_bounded() {
        let t = HandshakeThrottle::new(1, Duration::from_secs(60));
        let now = Instant::now();
        for i in 0..(TRACKED as u32 + 10) {
            t.failed_at(IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(t.failures.lock().unwrap().len() <= TRACKED);
    }
}
