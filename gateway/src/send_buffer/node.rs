//! The node-wide byte budget (`MAX_NODE_SEND_BUFFER`): what all of the node's
//! sockets hold together. One socket's budget bounds one slow reader; many of
//! them at once would still take the node's memory (2,016 readers that never
//! read, each under its 2 MiB, held 4 GB). Every outbox takes what it queues
//! from here and gives back what drains; a relay that does not fit makes room
//! by cutting off the sockets holding the most (see `outbox`).
//!
//! What relays take here they also take from the node's byte budget for
//! every kind of client bytes (`MAX_NODE_MEMORY`, `limits::memory`): when
//! that is spent by other holders, relays make room the same way.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::metrics::gauge::Gauge;

use crate::limits::memory::NodeMemory;

/// Bytes of relays queued on this node and not yet written out, against its limit.
pub struct NodeBudget {
    limit: usize,
    /// Exported as `gateway_send_buffer_node_bytes`.
    held: Gauge,
    memory: Arc<NodeMemory>,
}

impl NodeBudget {
    pub fn new(limit: usize, held: Gauge, memory: Arc<NodeMemory>) -> Self {
        Self {
            limit,
            held,
            memory,
        }
    }

    /// Takes `cost` bytes if the node has them left, under both limits.
    pub fn take(&self, cost: usize) -> bool {
        let bytes = i64::try_from(cost).unwrap_or(i64::MAX);
        let limit = i64::try_from(self.limit).unwrap_or(i64::MAX);
        let ok = self
            .held
            .inner()
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held.saturating_add(bytes) <= limit).then_some(held + bytes)
            })
            .is_ok();
        if ok && !self.memory.take(cost) {
            self.held.dec_by(bytes);
            return false;
        }
        ok
    }

    pub fn give_back(&self, bytes: usize) {
        if bytes > 0 {
            self.held.dec_by(i64::try_from(bytes).unwrap_or(i64::MAX));
            self.memory.give_back(bytes);
        }
    }

    pub fn held(&self) -> usize {
        usize::try_from(self.held.get()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use prometheus_client::metrics::counter::Counter;

    fn memory(limit: u64) -> Arc<NodeMemory> {
        Arc::new(NodeMemory::new(limit, Gauge::default(), Counter::default()))
    }

    #[test]
    fn takes_only_what_is_left_and_gets_it_back() {
        let budget = NodeBudget::new(100, Gauge::default(), memory(1000));
        assert!(budget.take(60));
        assert!(!budget.take(41));
        assert!(budget.take(40));
        assert!(!budget.take(1));
        budget.give_back(50);
        assert_eq!(budget.held(), 50);
        assert!(budget.take(50));
        assert_eq!(budget.held(), 100);
    }

    #[test]
    fn what_other_holders_took_from_the_node_is_not_there_for_relays() {
        let memory = memory(100);
        let budget = NodeBudget::new(100, Gauge::default(), memory.clone());
        assert!(memory.take(70));
        assert!(!budget.take(31));
        assert_eq!((budget.held(), memory.held()), (0, 70));
        assert!(budget.take(30));
        budget.give_back(30);
        assert_eq!((budget.held(), memory.held()), (0, 70));
    }
}
