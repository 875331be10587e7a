//! Relays between nodes, on channels of the gateway's own: a node reads the
//! relays for its sockets on one Redis shard channel, `<REDIS_PREFIX>-relay:<route>`,
//! named by a route drawn at start-up that the room registry records with
//! each of the node's members (so the membership check that every relay makes
//! also answers where the target is). The receiving node hands each relay to
//! the target's outbox as it would a local one, so `MAX_SEND_BUFFER` bounds
//! what any sender anywhere can make a node hold for a socket. Room events
//! (`peer:joined`, `peer:left`, `media:state_changed`) stay on the Socket.IO
//! adapter.
//!
//! A sender's relays for another node are queued, in its order, to the one
//! writer of that node ([`super::link`]), which publishes them in batches
//! ([`super::wire`]); Redis delivers a channel's messages in order on the one
//! subscriber connection of the target's node, and [`listen`] hands them over
//! in that order: one sender's relays to one target arrive in order. Each
//! batch is numbered per pair of nodes: [`listen`] counts the ones missed.
//! Relays are not ordered with room events, which travel on the adapter's
//! connections.

use std::collections::HashMap;
use std::sync::Arc;

use fred::clients::SubscriberClient;
use fred::types::Message;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

pub use super::link::{RelayLink, SendError, channel};
pub use super::wire::{Batch, Envelope, Item, Malformed, News, Received, ReceivedNews};
use crate::protocol::event;
use crate::rooms::redis::View;

/// What the rest of the gateway does with relays that arrive from other nodes.
pub trait Arrivals: Send + Sync + 'static {
    /// A relay for a socket of this node, in its sender's order. Runs on the
    /// channel's one reader: it must not wait.
    fn arrived(&self, relay: Received<'_>);
    /// A room event for members of this node, in its place among the relays
    /// (the view already updated). Must not wait either.
    fn news(&self, news: ReceivedNews<'_>);
    /// Messages dropped before they could be handed over: `lagged` of them
    /// because the reader fell behind, or one that was not a relay.
    fn dropped(&self, reason: Dropped, count: u64);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    Lagged,
    Malformed,
    /// Batches from one node that never arrived (seen by their numbers).
    Gap,
}

impl Dropped {
    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::Lagged => "lagged",
            Dropped::Malformed => "malformed",
            Dropped::Gap => "gap",
        }
    }
}

/// This node's relay channel, subscribed: the subscriber (kept alive and
/// subscribed again after reconnections by `redis::subscriber`) and its
/// messages.
pub struct Inbound {
    pub client: SubscriberClient,
    pub channel: String,
    pub messages: broadcast::Receiver<Message>,
    /// Kept current by the room events that arrive.
    pub view: Arc<View>,
}

/// Hands every relay on this node's channel over, as it comes, until `stop`.
///
/// The bound on this side is fred's ring between its reader and this loop
/// (`RELAY_RING` messages, `cluster::redis`): the loop never waits (a hand-over
/// queues to the target's outbox or refuses), so the ring fills only when
/// this node is starved of CPU while others send it relays. When it is full
/// the oldest message is overwritten: those relays are lost (their senders were
/// acked, as for a relay lost with a dead node), counted as `lagged` and
/// logged; the ones after them still arrive in order.
pub async fn listen(mut inbound: Inbound, arrivals: impl Arrivals, stop: CancellationToken) {
    // The last batch number seen from each sending node.
    let mut last: HashMap<String, u64> = HashMap::new();
    loop {
        let message = tokio::select! {
            _ = stop.cancelled() => return,
            message = inbound.messages.recv() => message,
        };
        match message {
            Ok(message) => {
                if *message.channel != *inbound.channel {
                    continue;
                }
                let batch = match message
                    .value
                    .as_bytes()
                    .ok_or(Malformed::NotBytes)
                    .and_then(Batch::decode)
                {
                    Ok(batch) => batch,
                    Err(e) => {
                        tracing::warn!(error = %e, "dropped a message on the relay channel");
                        arrivals.dropped(Dropped::Malformed, 1);
                        continue;
                    }
                };
                let missed = match last.get_mut(&*batch.from) {
                    Some(seen) => {
                        let missed = batch.seq.saturating_sub(*seen + 1);
                        *seen = (*seen).max(batch.seq);
                        missed
                    }
                    // A node heard from for the first time: whatever it sent
                    // before reached no subscriber here and was refused there.
                    None => {
                        last.insert(batch.from.clone().into_owned(), batch.seq);
                        0
                    }
                };
                if missed > 0 {
                    tracing::warn!(from = %batch.from, missed, "batches from a node were missed");
                    arrivals.dropped(Dropped::Gap, missed);
                }
                for msg in &batch.msgs {
                    match Item::decode(msg.get().as_bytes()) {
                        Ok(Item::Relay(relay)) => arrivals.arrived(relay),
                        Ok(Item::News(news)) => {
                            match &*news.event {
                                event::PEER_JOINED => {
                                    inbound.view.add(&news.room, &news.peer, &batch.from)
                                }
                                event::PEER_LEFT => inbound.view.remove(&news.room, &news.peer),
                                _ => {}
                            }
                            arrivals.news(news);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "dropped a message on the relay channel");
                            arrivals.dropped(Dropped::Malformed, 1);
                        }
                    }
                }
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    lost = n,
                    "batches from other nodes lagged: the oldest were dropped"
                );
                arrivals.dropped(Dropped::Lagged, n);
            }
            Err(RecvError::Closed) => return,
        }
    }
}
