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
//! One sender's relays are handled one after another (the socket's inbox),
//! each published and acknowledged by Redis before the next; Redis delivers a
//! channel's messages in order on the one subscriber connection of the
//! target's node, and [`listen`] hands them over in that order: one sender's
//! relays to one target arrive in order. They are not ordered with room events,
//! which travel on the adapter's connections.

use std::borrow::Cow;
use std::fmt;

use fred::clients::{Client, SubscriberClient};
use fred::interfaces::PubsubInterface;
use fred::types::Message;
use serde::Deserialize;
use serde::ser::{Serialize, SerializeTuple, Serializer};
use serde_json::value::RawValue;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::redis::RedisError;
use crate::delivery::Relay;
use crate::protocol::RelayKind;

/// The channel on which the node of `route` reads its relays. Not hash-tagged:
/// in a Redis Cluster the nodes' channels spread over the shards.
pub fn channel(prefix: &str, route: &str) -> String {
    format!("{prefix}-relay:{route}")
}

/// One relay between nodes, as published: the JSON array
/// `["webrtc:offer", fromPeerId, targetPeerId, <offer>]`, the value forwarded
/// byte for byte.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a>(pub Relay<'a>);

impl Serialize for Envelope<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let relay = &self.0;
        let mut t = s.serialize_tuple(4)?;
        t.serialize_element(relay.kind.event())?;
        t.serialize_element(relay.from)?;
        t.serialize_element(relay.target)?;
        t.serialize_element(relay.body)?;
        t.end()
    }
}

/// Why a message on the relay channel was dropped.
#[derive(Debug, thiserror::Error)]
pub enum Malformed {
    #[error("not a relay envelope: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown relay event {0:?}")]
    Kind(String),
    #[error("not a byte string")]
    NotBytes,
}

impl Envelope<'_> {
    pub fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

/// Why a relay could not be published.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error(transparent)]
    Redis(#[from] RedisError),
    #[error("relay envelope: {0}")]
    Encode(#[from] serde_json::Error),
}

/// An envelope as received: ids are socket ids (no escapes) in practice, but
/// any JSON string is read.
pub struct Received<'a> {
    pub kind: RelayKind,
    pub from: Cow<'a, str>,
    pub target: Cow<'a, str>,
    pub body: &'a RawValue,
}

impl<'a> Received<'a> {
    /// Reads an envelope; the body is checked to be one JSON value.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, Malformed> {
        #[derive(Deserialize)]
        struct Wire<'a>(
            #[serde(borrow)] Cow<'a, str>,
            #[serde(borrow)] Cow<'a, str>,
            #[serde(borrow)] Cow<'a, str>,
            #[serde(borrow)] &'a RawValue,
        );
        let Wire(event, from, target, body) = serde_json::from_slice(bytes)?;
        let kind = RelayKind::from_event(&event).ok_or_else(|| Malformed::Kind(event.into()))?;
        Ok(Self {
            kind,
            from,
            target,
            body,
        })
    }
}

impl fmt::Debug for Received<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Received")
            .field("kind", &self.kind)
            .field("from", &self.from)
            .field("target", &self.target)
            .field("bytes", &self.body.get().len())
            .finish()
    }
}

/// Publishes relays to other nodes' channels (on the registry's command
/// client: one connection, so a sender's relays reach Redis in order).
pub struct RelayLink {
    client: Client,
    prefix: String,
}

impl RelayLink {
    pub fn new(client: Client, prefix: &str) -> Self {
        Self {
            client,
            prefix: prefix.to_owned(),
        }
    }

    /// Publishes `envelope` to the node of `route`; false when no node reads
    /// that channel (the node is gone, or not subscribed again yet after
    /// Redis came back): the relay reached nobody.
    pub async fn send(&self, route: &str, envelope: &Envelope<'_>) -> Result<bool, SendError> {
        let bytes = envelope.encode()?;
        let receivers: i64 = self
            .client
            .spublish(channel(&self.prefix, route), bytes)
            .await
            .map_err(RedisError::from)?;
        Ok(receivers > 0)
    }
}

/// What the rest of the gateway does with relays that arrive from other nodes.
pub trait Arrivals: Send + Sync + 'static {
    /// A relay for a socket of this node, in its sender's order. Runs on the
    /// channel's one reader: it must not wait.
    fn arrived(&self, relay: Received<'_>);
    /// Messages dropped before they could be handed over: `lagged` of them
    /// because the reader fell behind, or one that was not a relay.
    fn dropped(&self, reason: Dropped, count: u64);
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    Lagged,
    Malformed,
}

impl Dropped {
    pub fn as_str(self) -> &'static str {
        match self {
            Dropped::Lagged => "lagged",
            Dropped::Malformed => "malformed",
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
                match message
                    .value
                    .as_bytes()
                    .ok_or(Malformed::NotBytes)
                    .and_then(Received::decode)
                {
                    Ok(relay) => arrivals.arrived(relay),
                    Err(e) => {
                        tracing::warn!(error = %e, "dropped a message on the relay channel");
                        arrivals.dropped(Dropped::Malformed, 1);
                    }
                }
            }
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(
                    lost = n,
                    "relays from other nodes lagged: the oldest were dropped"
                );
                arrivals.dropped(Dropped::Lagged, n);
            }
            Err(RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_travels_whole() {
        let body =
            RawValue::from_string(r#"{"type":"offer","sdp":"v=0\r\n","x":[1,{"y":"é"}]}"#.into())
                .unwrap();
        let sent = Envelope(Relay {
            kind: RelayKind::Offer,
            from: "abc",
            target: "def",
            body: &body,
        });
        let bytes = sent.encode().unwrap();
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"["webrtc:offer","abc","def",{"type":"offer","sdp":"v=0\r\n","x":[1,{"y":"é"}]}]"#
        );
        let got = Received::decode(&bytes).unwrap();
        assert_eq!(got.kind, RelayKind::Offer);
        assert_eq!((&*got.from, &*got.target), ("abc", "def"));
        assert_eq!(got.body.get(), body.get());
        assert!(matches!(got.from, Cow::Borrowed(_)), "ids are not copied");
    }

    #[test]
    fn anything_else_is_malformed_not_a_panic() {
        for bad in [
            &b""[..],
            b"[]",
            b"null",
            b"[\"webrtc:offer\",\"a\",\"b\"]",
            b"[\"webrtc:offer\",\"a\",\"b\",{\"x\":]",
            b"[\"peer:joined\",\"a\",\"b\",{}]",
            b"[\"webrtc:ice\",1,\"b\",\"c\"]",
            b"[\"webrtc:ice\",\"a\",\"b\",\"c\",\"extra\"]",
            b"\xff\xfe",
        ] {
            assert!(
                Received::decode(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
