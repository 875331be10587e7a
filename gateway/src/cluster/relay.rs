//! Relays between nodes, on channels of the gateway's own: a node reads the
//! relays for its sockets on one Redis shard channel, `<REDIS_PREFIX>-relay:<route>`,
//! named by a route drawn at start-up that the room registry records with
//! each of the node's members (so the membership check that every relay makes
//! also answers where the target is). The receiving node hands each relay to
//! the target's outbox as it would a local one, so `MAX_SEND_BUFFER` bounds
//! what any sender anywhere can make a node hold for a socket. Room events
//! for the node's members (`peer:joined`, `peer:left`, `media:state_changed`)
//! travel on the same channel, among the relays.
//!
//! A sender's relays for another node are queued, in its order, to the one
//! writer of that node ([`super::link`]), which publishes them in batches
//! ([`super::wire`]); Redis delivers a channel's messages in order on the one
//! subscriber connection of the target's node, and [`listen`] hands them over
//! in that order: one sender's relays and room events arrive in the order it
//! queued them. Each batch is numbered per pair of nodes: [`listen`] counts
//! the ones missed.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use fred::interfaces::EventInterface;

use fred::clients::SubscriberClient;
use fred::types::Message;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::arrived::Arrived;
pub use super::link::{Handed, RelayLink, SendError, channel};
pub use super::wire::{Batch, Envelope, Item, Malformed, News, Received, ReceivedNews};
use crate::protocol::event;
use crate::rooms::redis::{RedisRooms, ViewChange};

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
    /// Its view is kept current by the room events that arrive, and made
    /// Redis's again ([`RESYNC_EVERY`], after a reconnection or a loss).
    pub rooms: Arc<RedisRooms>,
    /// Told each batch handed over, for the receipts ([`RelayLink::heard`]).
    pub link: Arc<RelayLink>,
}

/// Bytes of batches read from Redis and not handed over yet, beyond which
/// the newest are dropped (counted as `lagged`): a node starved of CPU, or
/// resuming from a freeze with its socket full, holds at most this much.
pub const INBOUND_BYTES: usize = 64 * 1024 * 1024;

/// What [`forward`] hands [`listen`].
enum Heard {
    Batch(Message, usize),
    Lost(u64),
}

/// Moves the channel's messages out of fred's ring (fixed, and overwritten
/// when full) into a queue bounded by [`INBOUND_BYTES`], doing nothing else,
/// so that the ring only has to cover this task's wake-ups, not the
/// hand-overs: after a freeze fred's reader reads the backlog faster than
/// [`listen`] can hand it over.
async fn forward(
    mut messages: broadcast::Receiver<Message>,
    channel: String,
    out: mpsc::UnboundedSender<Heard>,
    held: Arc<AtomicUsize>,
    stop: CancellationToken,
) {
    loop {
        let message = tokio::select! {
            _ = stop.cancelled() => return,
            message = messages.recv() => message,
        };
        let heard = match message {
            Ok(m) if *m.channel == *channel => {
                let len = m.value.as_bytes().map_or(0, <[u8]>::len);
                if held.fetch_add(len, Ordering::AcqRel) + len > INBOUND_BYTES {
                    held.fetch_sub(len, Ordering::AcqRel);
                    Heard::Lost(1)
                } else {
                    Heard::Batch(m, len)
                }
            }
            Ok(_) => continue,
            Err(RecvError::Lagged(n)) => Heard::Lost(n),
            Err(RecvError::Closed) => return,
        };
        if out.send(heard).is_err() {
            return;
        }
    }
}

/// Hands every relay on this node's channel over, as it comes, until `stop`.
///
/// The bound on this side is [`INBOUND_BYTES`] of batches read and not
/// handed over yet (a hand-over queues to the target's outbox or refuses, it
/// never waits), which fills only when this node is starved of CPU while
/// others send it relays, or resumes from a freeze. Beyond it (or when fred's
/// ring, `RELAY_RING`, overflows before [`forward`] runs) batches are dropped:
/// those relays are lost, counted as `lagged` and logged, and the view
/// resynchronised; the ones after them still arrive in order. A batch's
/// number tells the ones missed before it from its sender, which the
/// receipts name: the senders refuse those relays, not ack them.
pub async fn listen(inbound: Inbound, arrivals: impl Arrivals, stop: CancellationToken) {
    let arrivals = Arc::new(arrivals);
    let (tx, mut heard) = mpsc::unbounded_channel();
    let held = Arc::new(AtomicUsize::new(0));
    tokio::spawn(forward(
        inbound.messages,
        inbound.channel.clone(),
        tx,
        held.clone(),
        stop.clone(),
    ));
    // The last batch number seen from each sending node.
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut every = tokio::time::interval(RESYNC_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reconnects = inbound.client.reconnect_rx();
    let resync = Resync::default();
    loop {
        let message = tokio::select! {
            _ = stop.cancelled() => return,
            message = heard.recv() => message,
            _ = every.tick() => {
                resync.start(&inbound.rooms, &arrivals, false);
                continue;
            }
            event = reconnects.recv() => {
                if let Err(RecvError::Closed) = event {
                    reconnects = broadcast::channel(1).1;
                }
                // Whatever was lost meanwhile shows as a gap once batches
                // flow again; this catches up on what the view holds.
                resync.start(&inbound.rooms, &arrivals, false);
                continue;
            }
        };
        match message {
            Some(Heard::Batch(message, len)) => {
                held.fetch_sub(len, Ordering::AcqRel);
                let batch = match message
                    .value
                    .as_bytes()
                    .ok_or(Malformed::NotBytes)
                    .and_then(Arrived::decode)
                {
                    Ok(batch) => batch,
                    Err(e) => {
                        tracing::warn!(error = %e, "dropped a message on the relay channel");
                        arrivals.dropped(Dropped::Malformed, 1);
                        continue;
                    }
                };
                let (missed, gap) = match last.get_mut(&*batch.from) {
                    Some(seen) => {
                        let missed = (batch.seq > *seen + 1).then(|| (*seen + 1, batch.seq - 1));
                        *seen = (*seen).max(batch.seq);
                        (missed, missed.is_some())
                    }
                    // A node heard from for the first time: whatever it sent
                    // before reached no subscriber here and was refused
                    // there, or was dropped unread; named lost all the same.
                    None => {
                        last.insert(batch.from.clone().into_owned(), batch.seq);
                        ((batch.seq > 1).then(|| (1, batch.seq - 1)), false)
                    }
                };
                if let Some((a, b)) = missed.filter(|_| gap) {
                    let missed = b - a + 1;
                    tracing::warn!(from = %batch.from, missed, "batches from a node were missed");
                    arrivals.dropped(Dropped::Gap, missed);
                    resync.start(&inbound.rooms, &arrivals, true);
                }
                let carried = !batch.items.is_empty();
                for item in batch.items {
                    match item {
                        Ok(Item::Relay(relay)) => arrivals.arrived(relay),
                        Ok(Item::News(news)) => {
                            match &*news.event {
                                event::PEER_JOINED => {
                                    inbound
                                        .rooms
                                        .view()
                                        .add(&news.room, &news.peer, &batch.from)
                                }
                                event::PEER_LEFT => {
                                    inbound.rooms.view().remove(&news.room, &news.peer)
                                }
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
                // Handed over: the sender's acks wait for this receipt (and
                // the missed ones are named in it); the one it carries
                // answers ours.
                let handed = Handed {
                    seq: batch.seq,
                    ack: batch.ack,
                    lost: &batch.lost,
                    missed,
                    carried,
                };
                inbound.link.heard(&batch.from, handed);
            }
            Some(Heard::Lost(n)) => {
                tracing::warn!(
                    lost = n,
                    "batches from other nodes lagged: some were dropped"
                );
                arrivals.dropped(Dropped::Lagged, n);
                resync.start(&inbound.rooms, &arrivals, true);
            }
            None => return,
        }
    }
}

/// How often a node makes its view Redis's again when nothing else made it:
/// news that did not reach it (a reaper's `peer:left` lost while Redis went
/// away) is made good in the view within this, untold.
pub const RESYNC_EVERY: Duration = Duration::from_secs(5);

/// At most one resynchronisation at a time of each kind: a quiet one (the
/// view alone) and one that also tells the members here what changed.
#[derive(Default)]
struct Resync {
    quiet: Arc<AtomicBool>,
    telling: Arc<AtomicBool>,
}

impl Resync {
    fn start<A: Arrivals>(&self, rooms: &Arc<RedisRooms>, arrivals: &Arc<A>, tell: bool) {
        let busy = if tell { &self.telling } else { &self.quiet };
        if busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let (busy, rooms, arrivals) = (busy.clone(), rooms.clone(), arrivals.clone());
        tokio::spawn(async move {
            match rooms.resync_view().await {
                Ok(changes) if tell => changes.iter().for_each(|c| announce(&*arrivals, c)),
                Ok(changes) if !changes.is_empty() => {
                    tracing::debug!(rooms = changes.len(), "view resynchronised with Redis");
                }
                Ok(_) => {}
                Err(e) => tracing::debug!(error = %e, "resynchronising the view must wait"),
            }
            busy.store(false, Ordering::Release);
        });
    }
}

/// Tells the members here of a room what they missed.
fn announce(arrivals: &impl Arrivals, change: &ViewChange) {
    let tell = |event: &str, peer: &str, to: Option<Vec<String>>, payload: serde_json::Value| {
        let Ok(payload) = serde_json::value::to_raw_value(&payload) else {
            return;
        };
        arrivals.news(ReceivedNews {
            event: event.into(),
            room: change.room_id.as_str().into(),
            peer: peer.into(),
            to,
            payload: &payload,
        });
    };
    for peer in &change.left {
        tell(
            event::PEER_LEFT,
            peer,
            None,
            serde_json::json!({ "peerId": peer }),
        );
    }
    for (peer, info) in &change.joined {
        let info = serde_json::from_str::<serde_json::Value>(info).unwrap_or_default();
        let payload = serde_json::json!({ "peerId": peer, "userInfo": info });
        tell(event::PEER_JOINED, peer, Some(change.here.clone()), payload);
    }
}
