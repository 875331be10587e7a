//! Delivery in a cluster: the room registry says where a relay's target is
//! connected; a target here gets it in its outbox at once, a target on another
//! node through that node's relay channel ([`super::relay`]), where the node
//! hands it over the same way ([`RelayArrivals`]). Room events travel through
//! the Socket.IO Redis adapter, where every socket also sits in a room named by
//! its own id.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::value::RawValue;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use super::adapter::NodeAdapter;
use super::redis::Subscriptions;
use super::relay::{Arrivals, Dropped, Envelope, Received, RelayLink, SendError};
use crate::delivery::local::{HandOver, LocalDelivery, hand_over};
use crate::delivery::{Delivery, Relay, Undelivered, report};
use crate::metrics::Metrics;
use crate::rooms::Whereabouts;

pub struct ClusterDelivery {
    local: LocalDelivery,
    link: Arc<RelayLink>,
    subscriptions: Subscriptions,
}

impl ClusterDelivery {
    pub fn new(local: LocalDelivery, link: Arc<RelayLink>, subscriptions: Subscriptions) -> Self {
        Self {
            local,
            link,
            subscriptions,
        }
    }
}

#[async_trait]
impl Delivery for ClusterDelivery {
    fn admitted(&self, socket: &SocketRef<NodeAdapter>) {
        // So that news for exactly this socket reaches it from any node: the
        // adapter routes by room.
        socket.join(socket.id.to_string());
    }

    fn relay_now(
        &self,
        from: &SocketRef<NodeAdapter>,
        room_id: &str,
        relay: &Relay<'_>,
    ) -> Option<Result<(), Undelivered>> {
        // Only a store of this process answers at once (the Redis registry never does).
        self.local.relay_now(from, room_id, relay)
    }

    async fn relay(
        &self,
        from: &SocketRef<NodeAdapter>,
        room_id: &str,
        relay: &Relay<'_>,
    ) -> Result<(), Undelivered> {
        match self.local.rooms().locate(room_id, relay.target).await? {
            Whereabouts::Absent => Err(Undelivered::NotFound),
            // The registry has it here: not found here is gone (leaving).
            Whereabouts::Here => self.local.deliver(from, relay, true),
            // Queued to the writer of the target's node, in the sender's
            // order (its inbox handles its relays one at a time): they
            // arrive in order, batched, without waiting for Redis here.
            Whereabouts::Node(route) => {
                if relay.target == relay.from {
                    return Err(Undelivered::NotFound);
                }
                self.link
                    .send(&route, &Envelope(*relay))
                    .map_err(|e| match e {
                        // No node read that channel: the target's node died (its
                        // members are reported gone once it is reaped) or is not
                        // subscribed again yet.
                        SendError::Unheard(_) => Undelivered::NotFound,
                        SendError::Full(_) => Undelivered::Busy,
                        e @ (SendError::Unreachable(_) | SendError::Encode(_)) => {
                            Undelivered::Link(e.to_string())
                        }
                    })
            }
            // A member whose node recorded no route (a node of an older
            // version, during a rolling upgrade): through the adapter to the
            // room named by its id. It reaches the socket's Engine.IO queue
            // without its outbox.
            Whereabouts::Unrouted => from
                .to(relay.target.to_owned())
                .emit(relay.kind.event(), relay)
                .await
                .map_err(|e| Undelivered::Link(e.to_string())),
        }
    }

    async fn to_peers(
        &self,
        from: &SocketRef<NodeAdapter>,
        ids: Vec<String>,
        event: &str,
        payload: &RawValue,
    ) {
        if ids.is_empty() {
            return;
        }
        report(event, from.to(ids).emit(event, payload).await);
    }

    fn ready(&self) -> bool {
        self.subscriptions.ready()
    }
}

/// Where relays from other nodes go: to the target's outbox, as local ones.
pub struct RelayArrivals {
    pub io: SocketIo<NodeAdapter>,
    pub metrics: Arc<Metrics>,
}

impl Arrivals for RelayArrivals {
    /// Its sender was acked once the relay was published: a relay that finds
    /// its target gone or cut off is dropped (and counted); the sender's peers
    /// hear `peer:left` for the target.
    fn arrived(&self, arrived: Received<'_>) {
        let relay = Relay {
            kind: arrived.kind,
            from: &arrived.from,
            target: &arrived.target,
            body: arrived.body,
        };
        // `of` rather than `SocketIo`'s own lookups, which panic while the
        // namespace is gone (shutdown, eviction).
        let outcome = match (self.io.of("/"), Sid::from_str(relay.target)) {
            (Some(namespace), Ok(sid)) => hand_over(&namespace, &self.metrics, sid, &relay),
            _ => HandOver::NotHere,
        };
        let reason = match outcome {
            HandOver::Queued => return,
            HandOver::Full => "full",
            HandOver::NodeFull => "node_full",
            HandOver::NotHere | HandOver::Closed => "gone",
        };
        tracing::debug!(from = %relay.from, target = %relay.target, reason, "relay from another node dropped");
        self.metrics.cluster_relays_dropped(reason, 1);
    }

    fn dropped(&self, reason: Dropped, count: u64) {
        self.metrics.cluster_relays_dropped(reason.as_str(), count);
    }
}
