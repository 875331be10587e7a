//! How many of something one client holds at once (TCP connections and
//! Socket.IO sessions per address, sockets per user), with a cap: a [`Slot`]
//! is taken per item and given back when it is dropped, so the count cannot
//! drift, whatever path ends the item.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The key of a client address: IPv4 as is (also when reached over IPv6),
/// IPv6 by its /64, as every per-address limit counts.
pub fn key(ip: IpAddr) -> IpAddr {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    crate::limits::failures::address_key(ip)
}

/// Counts per key, capped at `limit`.
pub struct PerKey<K> {
    limit: usize,
    counts: Mutex<HashMap<K, usize>>,
}

/// One counted item of a key; dropping it gives the place back.
pub struct Slot<K: Hash + Eq> {
    owner: Arc<PerKey<K>>,
    key: K,
}

impl<K: Hash + Eq + Clone> PerKey<K> {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `key`, or `None` when it already holds `limit`.
    pub fn take(self: &Arc<Self>, key: K) -> Option<Slot<K>> {
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(key.clone()).or_insert(0);
        if *count >= self.limit {
            if *count == 0 {
                counts.remove(&key);
            }
            return None;
        }
        *count += 1;
        Some(Slot {
            owner: self.clone(),
            key,
        })
    }

    /// What `key` holds now.
    pub fn held(&self, key: &K) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(key).copied().unwrap_or(0)
    }
}

impl<K: Hash + Eq> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut counts = self.owner.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            // A key holding nothing costs nothing.
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        key(s.parse().unwrap())
    }

    #[test]
    fn slots_are_capped_per_key_and_given_back_on_drop() {
        let per = PerKey::new(2);
        let a1 = per.take(ip("10.0.0.1")).unwrap();
        let _a2 = per.take(ip("10.0.0.1")).unwrap();
        assert!(per.take(ip("10.0.0.1")).is_none());
        // Another address has its own count.
        let _b = per.take(ip("10.0.0.2")).unwrap();
        drop(a1);
        assert_eq!(per.held(&ip("10.0.0.1")), 1);
        assert!(per.take(ip("10.0.0.1")).is_some());
    }

    #[test]
    fn a_key_holding_nothing_is_forgotten() {
        let per = PerKey::new(1);
        drop(per.take("alice".to_owned()).unwrap());
        assert!(per.counts.lock().unwrap().is_empty());
    }

    #[test]
    fn ipv6_counts_by_its_64_and_mapped_v4_as_v4() {
        let per = PerKey::new(1);
        let _a = per.take(ip("2001:db8:1:2::1")).unwrap();
        assert!(per.take(ip("2001:db8:1:2::ffff")).is_none());
        assert!(per.take(ip("2001:db8:1:3::1")).is_some());
        let _v4 = per.take(ip("192.0.2.1")).unwrap();
        assert!(per.take(ip("::ffff:192.0.2.1")).is_none());
    }
}
