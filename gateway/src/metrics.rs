//! Prometheus metrics, in one registry owned by the gateway (no globals, so
//! several gateways can run in one test process).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::protocol::{ErrorCode, RelayKind};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabel {
    pub event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub sockets: Gauge,
    pub rooms: Gauge,
    pub joins: Counter,
    pub relays: Family<EventLabel, Counter>,
    pub errors: Family<CodeLabel, Counter>,
    pub auth_failures: Counter,
    /// Sockets cut off because they held `MAX_SEND_BUFFER` of relays.
    pub send_buffer_overflows: Counter,
    /// Sockets cut off because they held the most when the node's sockets
    /// together held `MAX_NODE_SEND_BUFFER`.
    pub node_send_buffer_cutoffs: Counter,
    /// Relays dropped because the node could not make room for them.
    pub node_send_buffer_refusals: Counter,
    /// Bytes of relays all sockets of the node hold (`MAX_NODE_SEND_BUFFER`).
    pub node_send_buffer_bytes: Gauge,
    /// Bytes held for clients of every kind (`MAX_NODE_MEMORY`).
    pub node_memory_bytes: Gauge,
    /// Holders refused or cut off because `MAX_NODE_MEMORY` was spent.
    pub node_memory_refusals: Counter,
    /// Connections and handshakes refused by a per-address or per-user cap,
    /// or by the handshake throttle.
    pub refused: Family<ReasonLabel, Counter>,
    /// Seconds from a relay's arrival to its hand-off to the target's socket.
    pub relay_latency: Histogram,
    /// Relays from other nodes (their senders acked) not handed to a socket
    /// here, by reason: `gone`, `full` (the relay that cut its target off),
    /// `lagged`, `malformed`.
    pub cluster_relays_dropped: Family<ReasonLabel, Counter>,
    relay_counters: [Counter; 3],
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gateway");
        let m = Metrics {
            sockets: Gauge::default(),
            rooms: Gauge::default(),
            joins: Counter::default(),
            relays: Family::default(),
            errors: Family::default(),
            auth_failures: Counter::default(),
            send_buffer_overflows: Counter::default(),
            node_send_buffer_cutoffs: Counter::default(),
            node_send_buffer_refusals: Counter::default(),
            node_send_buffer_bytes: Gauge::default(),
            node_memory_bytes: Gauge::default(),
            node_memory_refusals: Counter::default(),
            refused: Family::default(),
            relay_latency: Histogram::new([
                0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.1,
            ]),
            cluster_relays_dropped: Family::default(),
            registry: Registry::default(),
            relay_counters: Default::default(),
        };
        registry.register("sockets", "Connected Socket.IO sockets", m.sockets.clone());
        registry.register("rooms", "Live rooms", m.rooms.clone());
        registry.register("joins", "Successful room joins", m.joins.clone());
        registry.register(
            "relays",
            "Relayed WebRTC signaling messages",
            m.relays.clone(),
        );
        registry.register("errors", "Error events sent, by code", m.errors.clone());
        registry.register(
            "auth_failures",
            "Refused handshakes",
            m.auth_failures.clone(),
        );
        registry.register(
            "send_buffer_overflows",
            "Sockets cut off for holding too many bytes of relays",
            m.send_buffer_overflows.clone(),
        );
        registry.register(
            "node_send_buffer_cutoffs",
            "Sockets cut off for holding the most when the node's send buffers were full",
            m.node_send_buffer_cutoffs.clone(),
        );
        registry.register(
            "node_send_buffer_refusals",
            "Relays dropped because the node's send buffers were full",
            m.node_send_buffer_refusals.clone(),
        );
        registry.register(
            "node_send_buffer_bytes",
            "Bytes of relays queued for all sockets of the node",
            m.node_send_buffer_bytes.clone(),
        );
        registry.register(
            "node_memory_bytes",
            "Bytes held for clients of every kind (MAX_NODE_MEMORY)",
            m.node_memory_bytes.clone(),
        );
        registry.register(
            "node_memory_refusals",
            "Holders refused or cut off because MAX_NODE_MEMORY was spent",
            m.node_memory_refusals.clone(),
        );
        registry.register(
            "refused",
            "Connections and handshakes refused by a cap, by reason",
            m.refused.clone(),
        );
        registry.register(
            "relay_latency_seconds",
            "Relay hand-off latency",
            m.relay_latency.clone(),
        );
        registry.register(
            "cluster_relays_dropped",
            "Relays from other nodes not handed to a socket here, by reason",
            m.cluster_relays_dropped.clone(),
        );
        let relay_counters = RelayKind::ALL.map(|kind| {
            m.relays
                .get_or_create(&EventLabel {
                    event: kind.event(),
                })
                .clone()
        });
        Metrics {
            registry,
            relay_counters,
            ..m
        }
    }
}

impl Metrics {
    /// Counts an error event by its code.
    pub fn error(&self, code: ErrorCode) {
        self.errors
            .get_or_create(&CodeLabel {
                code: code.as_str(),
            })
            .inc();
    }

    /// Counts a refusal by a cap: `connections_per_address`,
    /// `sockets_per_address`, `sockets_per_user`, `handshake_throttle`,
    /// `polling_unread`.
    pub fn refusal(&self, reason: &'static str) -> Counter {
        self.refused.get_or_create(&ReasonLabel { reason }).clone()
    }

    /// Counts `n` relays from other nodes dropped here for `reason`.
    pub fn cluster_relays_dropped(&self, reason: &'static str, n: u64) {
        self.cluster_relays_dropped
            .get_or_create(&ReasonLabel { reason })
            .inc_by(n);
    }

    /// Counts a relay; the counters' handles are kept so the hot path neither
    /// hashes a label nor locks the family.
    pub fn relayed(&self, kind: RelayKind) {
        self.relay_counters[kind as usize].inc();
    }

    /// The registry in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
