//! The node-wide byte budget (`MAX_NODE_MEMORY`, issue 23): one count of the
//! bytes the node holds for its clients, whatever holds them. Each kind
//! already has its own bound (`MAX_SEND_BUFFER`, `MAX_NODE_SEND_BUFFER`,
//! `MAX_PAYLOAD`, `MAX_REQUEST_HEAD`, `MAX_PRE_CONNECT_PAYLOAD`); their sum
//! over 20,000 descriptors is gigabytes (a partial WebSocket message of up to
//! `MAX_PAYLOAD` on every connected socket alone). Charging here:
//!
//! - relays queued and not yet written out (`send_buffer::node`): when they
//!   do not fit, the sockets holding the most are cut off, as for
//!   `MAX_NODE_SEND_BUFFER`;
//! - WebSocket frames being received, from their header until their message
//!   is whole (the vendored engineioxide, `node_budget`); a frame that does
//!   not fit closes its connection;
//! - what an HTTP connection has read of its current request (head and
//!   body) until its response is written (`send_buffer::meter`); a read that
//!   does not fit closes the connection.
//!
//! The holder refused is always the one asking for more, never the node:
//! everyone else keeps what they hold.

use std::sync::atomic::Ordering;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;

/// Bytes held for clients on this node, against `MAX_NODE_MEMORY`.
#[derive(Debug)]
pub struct NodeMemory {
    limit: i64,
    /// Exported as `gateway_node_memory_bytes`.
    held: Gauge,
    /// Holders refused for want of room (`gateway_node_memory_refusals_total`).
    refused: Counter,
}

impl NodeMemory {
    pub fn new(limit: u64, held: Gauge, refused: Counter) -> Self {
        Self {
            limit: i64::try_from(limit).unwrap_or(i64::MAX),
            held,
            refused,
        }
    }

    /// Takes `bytes` if the node has them left; counts a refusal if not.
    pub fn take(&self, bytes: usize) -> bool {
        let cost = i64::try_from(bytes).unwrap_or(i64::MAX);
        let limit = self.limit;
        let ok = self
            .held
            .inner()
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held.saturating_add(cost) <= limit).then_some(held + cost)
            })
            .is_ok();
        if !ok {
            self.refused.inc();
        }
        ok
    }

    pub fn give_back(&self, bytes: usize) {
        if bytes > 0 {
            self.held.dec_by(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
    }

    pub fn held(&self) -> usize {
        usize::try_from(self.held.get()).unwrap_or(0)
    }
}

/// The vendored engineioxide charges frames being received here.
impl engineioxide::ByteBudget for NodeMemory {
    fn take(&self, bytes: usize) -> bool {
        NodeMemory::take(self, bytes)
    }

    fn give_back(&self, bytes: usize) {
        NodeMemory::give_back(self, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_what_is_left_and_counts_refusals() {
        let refused = Counter::default();
        let m = NodeMemory::new(100, Gauge::default(), refused.clone());
        assert!(m.take(70));
        assert!(!m.take(31));
        assert_eq!(refused.get(), 1);
        assert!(m.take(30));
        m.give_back(100);
        assert_eq!(m.held(), 0);
        assert!(m.take(100));
    }
}
