//! Delivery in a cluster: the room registry says where a relay's target is
//! connected; a target here gets it in its outbox at once, a target on another
//! node through that node's relay channel ([`super::relay`]), where the node
//! hands it over the same way ([`RelayArrivals`]). Room events travel through
//! the Socket.IO Redis adapter, where every socket also sits in a room named by
//! its own id.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::value::RawValue;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use super::adapter::NodeAdapter;
use super::redis::Subscriptions;
use super::relay::{
    Arrivals, Dropped, Envelope, News, Received, ReceivedNews, RelayLink, SendError,
};
use crate::delivery::local::{HandOver, LocalDelivery, hand_over};
use crate::delivery::{Delivery, Relay, Undelivered, report};
use crate::metrics::Metrics;
use crate::protocol::event;
use crate::rooms::Whereabouts;
use crate::rooms::redis::Seen;
use socketioxide::{SendError as EmitError, SocketError};

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
            // order (its inbox handles its relays one at a time), after any
            // room event queued before; acked once its batch reached that
            // node (relays of other senders share the publish).
            Whereabouts::Node(route) => {
                if relay.target == relay.from {
                    return Err(Undelivered::NotFound);
                }
                self.link
                    .send(&route, &Envelope(*relay))
                    .await
                    .map_err(|e| match e {
                        // No node read that channel: the target's node died (its
                        // members are reported gone once it is reaped) or is not
                        // subscribed again yet.
                        SendError::Unheard(_) | SendError::Dead(_) => Undelivered::NotFound,
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
        let view = self.link.view();
        let me = from.id.to_string();
        let Some(room) = view.room_of(&me) else {
            // Not in the view (it cannot be, for a member): the adapter.
            report(event, from.to(ids).emit(event, payload).await);
            return;
        };
        let mut local = Vec::new();
        let mut remote: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut adapter = Vec::new();
        for id in ids {
            match view.locate(&room, &id) {
                Seen::Member(route) if route == view.route() => local.push(id),
                Seen::Member(route) if !route.is_empty() => {
                    remote.entry(route).or_default().push(id)
                }
                _ => adapter.push(id),
            }
        }
        // Queued before anything the sender relays next: its node hears it first.
        for (route, ids) in &remote {
            self.tell(route, event, &room, &me, Some(ids), payload);
        }
        self.local.to_peers(from, local, event, payload).await;
        if !adapter.is_empty() {
            report(event, from.to(adapter).emit(event, payload).await);
        }
    }

    async fn to_room(
        &self,
        from: &SocketRef<NodeAdapter>,
        room_id: &str,
        event: &str,
        payload: &RawValue,
    ) {
        let view = self.link.view();
        let me = from.id.to_string();
        let routes = view.other_nodes(room_id);
        if view.has_unrouted(room_id) || (routes.is_empty() && view.room_of(&me).is_none()) {
            // A member only the adapter reaches, or a room the view does not
            // hold: through the adapter to everyone, as before.
            report(
                event,
                from.to(room_id.to_owned()).emit(event, payload).await,
            );
        } else {
            for route in &routes {
                self.tell(route, event, room_id, &me, None, payload);
            }
            let here: Vec<String> = from
                .local()
                .to(room_id.to_owned())
                .sockets()
                .into_iter()
                .map(|s| s.id.to_string())
                .filter(|id| *id != me)
                .collect();
            self.local.to_peers(from, here, event, payload).await;
        }
        if event == event::PEER_LEFT {
            view.remove(room_id, &me);
        }
    }

    fn ready(&self) -> bool {
        self.subscriptions.ready()
    }
}

impl ClusterDelivery {
    /// Queues a room event for the members on the node of `route`.
    fn tell(
        &self,
        route: &str,
        event: &str,
        room: &str,
        peer: &str,
        to: Option<&[String]>,
        payload: &RawValue,
    ) {
        let news = News {
            event,
            room,
            peer,
            to,
            payload,
        };
        if let Err(e) = news
            .encode()
            .map_err(SendError::from)
            .and_then(|b| self.link.push(route, b))
        {
            tracing::warn!(event, room, route, error = %e, "room event for another node not sent");
        }
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

    /// Emitted to the members here, as the sending node did to its own.
    fn news(&self, news: ReceivedNews<'_>) {
        let Some(namespace) = self.io.of("/") else {
            return;
        };
        let targets: Vec<SocketRef<NodeAdapter>> = match &news.to {
            Some(ids) => ids
                .iter()
                .filter_map(|id| Sid::from_str(id).ok())
                .filter_map(|sid| namespace.get_socket(sid))
                .collect(),
            None => namespace
                .local()
                .to(news.room.to_string())
                .sockets()
                .into_iter()
                .filter(|s| s.id.as_str() != news.peer)
                .collect(),
        };
        for target in targets {
            match target.emit(&*news.event, news.payload) {
                Ok(()) | Err(EmitError::Socket(SocketError::Closed)) => {}
                Err(e) => {
                    tracing::warn!(event = %news.event, socket = %target.id, error = %e, "emit failed")
                }
            }
        }
    }

    fn dropped(&self, reason: Dropped, count: u64) {
        self.metrics.cluster_relays_dropped(reason.as_str(), count);
    }
}
