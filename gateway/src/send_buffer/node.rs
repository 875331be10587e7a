//! The node-wide byte budget (`MAX_NODE_SEND_BUFFER`): what all of the node's
//! sockets hold together. One socket's budget bounds one slow reader; many of
//! them at once would still take the node's memory (2,016 readers that never
//! read, each under its 2 MiB, held 4 GB). Every outbox takes what it queues
//! from here and gives back what drains; a relay that does not fit makes room
//! by cutting off the sockets holding the most (see `outbox`).

use std::sync::atomic::Ordering;

use prometheus_client::metrics::gauge::Gauge;

/// Bytes of relays queued on this node and not yet written out, against its limit.
pub struct NodeBudget {
    limit: usize,
    /// Exported as `gateway_send_buffer_node_bytes`.
    held: Gauge,
}

impl NodeBudget {
    pub fn new(limit: usize, held: Gauge) -> Self {
        Self { limit, held }
    }

    /// Takes `cost` bytes if the node has them left.
    pub fn take(&self, cost: usize) -> bool {
        let cost = i64::try_from(cost).unwrap_or(i64::MAX);
        let limit = i64::try_from(self.limit).unwrap_or(i64::MAX);
        self.held
            .inner()
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held.saturating_add(cost) <= limit).then_some(held + cost)
            })
            .is_ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_only_what_is_left_and_gets_it_back() {
        let budget = NodeBudget::new(100, Gauge::default());
        assert!(budget.take(60));
        assert!(!budget.take(41));
        assert!(budget.take(40));
        assert!(!budget.take(1));
        budget.give_back(50);
        assert_eq!(budget.held(), 50);
        assert!(budget.take(50));
        assert_eq!(budget.held(), 100);
    }
}
