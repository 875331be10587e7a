//! The delivery interface and what travels through it.

use async_trait::async_trait;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use socketioxide::{BroadcastError, SocketError};

use crate::adapter::SocketRef;
use crate::protocol::RelayKind;
use crate::rooms::RoomError;

/// A relay on its way: what the target receives ([`Relay::packet`]) is
/// `{ fromPeerId, targetPeerId, <field> }`, the field's JSON forwarded byte
/// for byte.
#[derive(Debug, Clone, Copy)]
pub struct Relay<'a> {
    pub kind: RelayKind,
    pub from: &'a str,
    pub target: &'a str,
    pub body: &'a RawValue,
}

impl Relay<'_> {
    /// About the bytes of the packet Socket.IO makes of it:
    /// `42["<event>",{"fromPeerId":"…","targetPeerId":"…","<field>":…}]`.
    pub fn size(&self) -> usize {
        48 + self.kind.event().len()
            + self.kind.field().len()
            + self.from.len()
            + self.target.len()
            + self.body.get().len()
    }

    /// The Socket.IO packet its target receives, for namespace `ns` and the
    /// common parser: `2["<event>",{"fromPeerId":…,"targetPeerId":…,"<field>":…}]`,
    /// spliced in one buffer of its exact size (no escapes). Byte for byte
    /// what socketioxide's `emit` makes of the [`Serialize`] form below,
    /// without its serialisation into a growing buffer and the copy after it.
    pub fn packet(&self, ns: &str) -> String {
        // `2` `["` `",{"fromPeerId":"` `","targetPeerId":"` `","` `":` `}]`, the
        // namespace's `/` and `,`.
        let len = 45
            + self.kind.event().len()
            + self.kind.field().len()
            + self.from.len()
            + self.target.len()
            + self.body.get().len()
            + match ns {
                "" | "/" => 0,
                _ if ns.starts_with('/') => ns.len() + 1,
                _ => ns.len() + 2,
            };
        let mut out = String::with_capacity(len);
        out.push('2');
        // socketioxide's `serialize_nsp`: only a namespace other than `/`.
        if !ns.is_empty() && ns != "/" {
            if !ns.starts_with('/') {
                out.push('/');
            }
            out.push_str(ns);
            out.push(',');
        }
        out.push('[');
        // The protocol's own names need no escape (tested): not scanned.
        push_quoted(&mut out, self.kind.event());
        out.push_str(r#",{"fromPeerId":"#);
        push_json_str(&mut out, self.from);
        out.push_str(r#","targetPeerId":"#);
        push_json_str(&mut out, self.target);
        out.push(',');
        push_quoted(&mut out, self.kind.field());
        out.push(':');
        out.push_str(self.body.get());
        out.push_str("}]");
        out
    }
}

/// `text`, which needs no escape, as a JSON string.
fn push_quoted(out: &mut String, text: &str) {
    out.push('"');
    out.push_str(text);
    out.push('"');
}

/// `text` as a JSON string, escaped as serde_json escapes it. Socket ids need
/// no escape: they are copied.
fn push_json_str(out: &mut String, text: &str) {
    // Folded without an early exit, so the compiler checks many bytes at a
    // time: ids are short, and they are clean.
    let escaped = text.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !escaped {
        push_quoted(out, text);
    } else {
        // Serialising a string cannot fail.
        out.push_str(&serde_json::to_string(text).unwrap_or_default());
    }
}

impl Serialize for Relay<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("fromPeerId", self.from)?;
        map.serialize_entry("targetPeerId", self.target)?;
        map.serialize_entry(self.kind.field(), self.body)?;
        map.end()
    }
}

/// A relay's outcome that comes after the relay was queued, in its place: in
/// a cluster, the receipt of the target's node ([`Delivery::relay_queued`]).
pub type Later = std::pin::Pin<Box<dyn Future<Output = Result<(), Undelivered>> + Send>>;

/// Why a relay reached nobody.
#[derive(Debug, thiserror::Error)]
pub enum Undelivered {
    /// The target is not a member of the sender's room, is the sender, is
    /// gone, or was cut off for reading too slowly.
    #[error("peer not found")]
    NotFound,
    #[error(transparent)]
    Rooms(#[from] RoomError),
    /// The way to the target's node failed.
    #[error("relay link: {0}")]
    Link(String),
    /// The node holds all it may for slow readers and could not make room
    /// (`MAX_NODE_SEND_BUFFER`); the target stays, the sender may retry.
    #[error("the node's send buffers are full")]
    Busy,
}

/// Delivery to a peer, to a room, or to a set of peers, wherever they are
/// connected.
#[async_trait]
pub trait Delivery: Send + Sync + 'static {
    /// Hands `relay` (from `from`, a member of `room_id`) to its target when
    /// that can be decided without waiting; `None` otherwise (then call
    /// [`Delivery::relay`]).
    fn relay_now(
        &self,
        from: &SocketRef,
        room_id: &str,
        relay: &Relay<'_>,
    ) -> Option<Result<(), Undelivered>>;

    /// Hands `relay` to its target if the target is another member of
    /// `room_id`. `Ok` means it is in the target's outbox or on its way to
    /// the target's node.
    async fn relay(
        &self,
        from: &SocketRef,
        room_id: &str,
        relay: &Relay<'_>,
    ) -> Result<(), Undelivered>;

    /// [`Delivery::relay`] without waiting for what takes a round trip once
    /// the relay's order is fixed: `Ok(Some(later))` when the relay is queued
    /// (its place among the sender's relays taken) and `later` tells its
    /// outcome, so the sender's next event need not wait for it.
    async fn relay_queued(
        &self,
        from: &SocketRef,
        room_id: &str,
        relay: &Relay<'_>,
    ) -> Result<Option<Later>, Undelivered> {
        self.relay(from, room_id, relay).await.map(|()| None)
    }

    /// `event` to every member of `room_id` but `from`.
    async fn to_room(&self, from: &SocketRef, room_id: &str, event: &str, payload: &RawValue) {
        // `socket.to` excludes the socket and, unlike `SocketIo`, still works
        // while the server shuts down.
        report(
            event,
            from.to(room_id.to_owned()).emit(event, payload).await,
        );
    }

    /// `event` to exactly the sockets of `ids`: for news that must reach a
    /// set of members, not whoever is in the room when it goes out (a socket
    /// that joined meanwhile already knows, from its own `room:joined`).
    async fn to_peers(&self, from: &SocketRef, ids: Vec<String>, event: &str, payload: &RawValue);

    /// This delivery's way of sending news without waiting, when every
    /// member is a socket of this process (one node).
    fn local(&self) -> Option<&dyn SendNow> {
        None
    }

    /// Whether this node can reach its peers (in a cluster: its channels are subscribed).
    fn ready(&self) -> bool {
        true
    }
}

/// News sent without waiting: a delivery whose every member is a socket of
/// this process.
pub trait SendNow {
    /// `event` to the sockets of `ids`, at once: what [`Delivery::to_peers`]
    /// does on one node.
    fn send_to(
        &self,
        from: &SocketRef,
        ids: &mut dyn Iterator<Item = &str>,
        event: &str,
        payload: &RawValue,
    );
}

/// Logs a broadcast that failed. Members that are closing are skipped
/// quietly (they leave the room next); any other failure is a lost message
/// and worth a warning.
pub fn report(event: &str, result: Result<(), BroadcastError>) {
    match result {
        Ok(()) => {}
        Err(BroadcastError::Socket(errors))
            if errors.iter().all(|e| matches!(e, SocketError::Closed)) =>
        {
            tracing::debug!(event, closed = errors.len(), "peers already closing");
        }
        Err(e) => tracing::warn!(event, error = %e, "broadcast failed"),
    }
}
