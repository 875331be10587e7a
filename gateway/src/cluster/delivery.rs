//! Delivery in a cluster: the room registry says where a relay's target is
//! connected; a target here gets it in its outbox at once, a target on another
//! node through that node's relay channel ([`super::relay`]), where the node
//! hands it over the same way ([`RelayArrivals`]). Room events for members on
//! other nodes go on the same channels, queued with the relays, so that they
//! keep their place among them; the view ([`View`](crate::rooms::redis::View))
//! says which nodes have members of a room.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::value::RawValue;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use super::redis::Subscriptions;
use super::relay::{
    Arrivals, Dropped, Envelope, News, Received, ReceivedNews, RelayLink, SendError,
};
use crate::adapter::Adapter;
use crate::delivery::local::{HandOver, LocalDelivery, hand_over};
use crate::delivery::{Delivery, Later, Relay, Undelivered};
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
    fn relay_now(
        &self,
        from: &SocketRef<Adapter>,
        room_id: &str,
        relay: &Relay<'_>,
    ) -> Option<Result<(), Undelivered>> {
        // A target here, in the view: as on one node, without the inbox's
        // task. Anything else (on another node, or a view miss that asks
        // Redis) waits.
        if self.link.view().is_here(room_id, relay.target) {
            return Some(self.local.deliver(from, relay, true));
        }
        self.local.relay_now(from, room_id, relay)
    }

    async fn relay(
        &self,
        from: &SocketRef<Adapter>,
        room_id: &str,
        relay: &Relay<'_>,
    ) -> Result<(), Undelivered> {
        match self.relay_queued(from, room_id, relay).await? {
            Some(later) => later.await,
            None => Ok(()),
        }
    }

    async fn relay_queued(
        &self,
        from: &SocketRef<Adapter>,
        room_id: &str,
        relay: &Relay<'_>,
    ) -> Result<Option<Later>, Undelivered> {
        match self.local.rooms().locate(room_id, relay.target).await? {
            Whereabouts::Absent => Err(Undelivered::NotFound),
            // The registry has it here: not found here is gone (leaving).
            Whereabouts::Here => self.local.deliver(from, relay, true).map(|()| None),
            // Queued to the writer of the target's node, in the sender's
            // order (its inbox handles its events one at a time), after any
            // room event queued before; acked once that node's receipt says
            // it handed the batch over (relays of other senders share it).
            // The sender's next event does not wait for that receipt.
            Whereabouts::Node(route) => {
                if relay.target == relay.from {
                    return Err(Undelivered::NotFound);
                }
                let receipt = self
                    .link
                    .send(&route, &Envelope(*relay))
                    .map_err(undelivered)?;
                Ok(Some(Box::pin(async move {
                    receipt.wait().await.map_err(undelivered)
                })))
            }
            // A member whose node recorded no route: joined through a node of
            // a version that read the Socket.IO adapter, which this one has
            // not. Nothing reaches it (README "Cluster": no rolling upgrade
            // from that version): refused rather than acked and lost.
            Whereabouts::Unrouted => Err(Undelivered::NotFound),
        }
    }

    async fn to_peers(
        &self,
        from: &SocketRef<Adapter>,
        ids: Vec<String>,
        event: &str,
        payload: &RawValue,
    ) {
        if ids.is_empty() {
            return;
        }
        let view = self.link.view();
        let me = from.id.to_string();
        // A member is in the view (filled by its join); not after an eviction
        // emptied it, and then its peers were told it left: the members here
        // alone.
        let room = view.room_of(&me);
        let mut local = Vec::new();
        let mut remote: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for id in ids {
            match room.as_deref().map(|room| view.locate(room, &id)) {
                Some(Seen::Member(route)) if route == view.route() => local.push(id),
                Some(Seen::Member(route)) if !route.is_empty() => {
                    remote.entry(route).or_default().push(id)
                }
                // Unrouted (see `relay`), or not a member any more.
                Some(_) => {}
                None => local.push(id),
            }
        }
        // Queued before anything the sender relays next: its node hears it first.
        if let Some(room) = &room {
            for (route, ids) in &remote {
                self.tell(route, event, room, &me, Some(ids), payload);
            }
        }
        self.local.to_peers(from, local, event, payload).await;
    }

    async fn to_room(
        &self,
        from: &SocketRef<Adapter>,
        room_id: &str,
        event: &str,
        payload: &RawValue,
    ) {
        let view = self.link.view();
        let me = from.id.to_string();
        // A room the view does not hold (this node was evicted, its members
        // reported gone): the routes are empty, the members here alone hear it.
        for route in &view.other_nodes(room_id) {
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
        if event == event::PEER_LEFT {
            view.remove(room_id, &me);
        }
    }

    fn ready(&self) -> bool {
        self.subscriptions.ready()
    }
}

/// What a relay that did not reach the target's node answers.
fn undelivered(e: SendError) -> Undelivered {
    match e {
        // No node read that channel: the target's node died (its members are
        // reported gone once it is reaped) or is not subscribed again yet; or
        // it missed its heartbeats, or handed nothing over within
        // NODE_TIMEOUT (frozen), or dropped it unread (fell behind).
        SendError::Unheard(_)
        | SendError::Dead(_)
        | SendError::NoReceipt(_)
        | SendError::Lost(_) => Undelivered::NotFound,
        SendError::Full(_) => Undelivered::Busy,
        e @ (SendError::Unreachable(_) | SendError::Encode(_)) => Undelivered::Link(e.to_string()),
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
#[derive(Clone)]
pub struct RelayArrivals {
    pub io: SocketIo<Adapter>,
    pub metrics: Arc<Metrics>,
}

impl Arrivals for RelayArrivals {
    /// Its sender is acked once the batch is handed over (the receipt): a
    /// relay that finds its target gone or cut off is dropped (and counted);
    /// the sender's peers hear `peer:left` for the target.
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
        let targets: Vec<SocketRef<Adapter>> = match &news.to {
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
