//! Delivery on one node: every member is a socket of this process.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::value::RawValue;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError};
use socketioxide_core::Str;

use super::interface::{Delivery, Relay, SendNow, Undelivered};
use crate::adapter::{Adapter, SocketRef};
use crate::metrics::Metrics;
use crate::rooms::{RoomRegistry, Whereabouts};
use crate::send_buffer::outbox::{Outbox, Refused, Room};

pub struct LocalDelivery {
    rooms: Arc<dyn RoomRegistry>,
    metrics: Arc<Metrics>,
}

impl LocalDelivery {
    pub fn new(rooms: Arc<dyn RoomRegistry>, metrics: Arc<Metrics>) -> Self {
        Self { rooms, metrics }
    }

    /// Hands the relay to the target's socket on this node, when the target
    /// is a member (`member`) other than the sender.
    pub fn deliver(
        &self,
        from: &SocketRef,
        relay: &Relay<'_>,
        member: bool,
    ) -> Result<(), Undelivered> {
        if !member || relay.target == relay.from {
            return Err(Undelivered::NotFound);
        }
        let sid = Sid::from_str(relay.target).map_err(|_| Undelivered::NotFound)?;
        // Looked up through the socket's own namespace handle: `SocketIo`
        // panics once shutdown has removed the namespace.
        match hand_over(&from.broadcast(), &self.metrics, sid, relay) {
            HandOver::Queued => Ok(()),
            // Not here (gone), cut off (the sender is told it is gone, as it
            // will be by `peer:left`), or closing.
            HandOver::NotHere | HandOver::Full | HandOver::Closed => Err(Undelivered::NotFound),
            HandOver::NodeFull => Err(Undelivered::Busy),
        }
    }

    pub fn rooms(&self) -> &dyn RoomRegistry {
        self.rooms.as_ref()
    }
}

#[async_trait]
impl Delivery for LocalDelivery {
    fn relay_now(
        &self,
        from: &SocketRef,
        room_id: &str,
        relay: &Relay<'_>,
    ) -> Option<Result<(), Undelivered>> {
        // A store that answers at once is this process's: every member is local.
        let member = self.rooms.is_member_now(room_id, relay.target)?;
        Some(self.deliver(from, relay, member))
    }

    async fn relay(
        &self,
        from: &SocketRef,
        room_id: &str,
        relay: &Relay<'_>,
    ) -> Result<(), Undelivered> {
        match self.rooms.locate(room_id, relay.target).await? {
            Whereabouts::Here => self.deliver(from, relay, true),
            // One node: no member lives anywhere else.
            Whereabouts::Absent | Whereabouts::Node(_) | Whereabouts::Unrouted => {
                Err(Undelivered::NotFound)
            }
        }
    }

    async fn to_peers(&self, from: &SocketRef, ids: Vec<String>, event: &str, payload: &RawValue) {
        self.send_to(from, &mut ids.iter().map(String::as_str), event, payload);
    }

    fn local(&self) -> Option<&dyn SendNow> {
        Some(self)
    }
}

impl SendNow for LocalDelivery {
    fn send_to(
        &self,
        from: &SocketRef,
        ids: &mut dyn Iterator<Item = &str>,
        event: &str,
        payload: &RawValue,
    ) {
        // Looked up through the socket's own namespace handle, as relays are.
        let local = from.broadcast();
        for id in ids {
            let Some(target) = Sid::from_str(id).ok().and_then(|sid| local.get_socket(sid)) else {
                continue; // gone meanwhile: it leaves the room next
            };
            match target.emit(event, payload) {
                Ok(()) | Err(SendError::Socket(SocketError::Closed)) => {}
                Err(e) => tracing::warn!(event, socket = %id, error = %e, "emit failed"),
            }
        }
    }
}

/// What became of a relay handed to a socket of this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandOver {
    /// In the socket's outbox.
    Queued,
    /// No such socket here.
    NotHere,
    /// The socket held too much: it was cut off, the relay dropped.
    Full,
    /// The socket is closing.
    Closed,
    /// The node holds too much and nothing could be cut to make room: the
    /// relay is dropped, the target stays.
    NodeFull,
}

/// Queues `relay` to socket `sid` of `namespace` through its outbox; a
/// socket the relay would take past its budget is cut off.
pub fn hand_over(
    namespace: &BroadcastOperators<Adapter>,
    metrics: &Metrics,
    sid: Sid,
    relay: &Relay<'_>,
) -> HandOver {
    let Some(socket) = namespace.get_socket(sid) else {
        return HandOver::NotHere;
    };
    let Some(outbox) = socket.extensions.get::<Outbox>() else {
        return HandOver::Closed;
    };
    // Each round cuts one other socket off; a few are enough unless the
    // node's budget is taken by sockets that are already leaving.
    for _ in 0..MAKE_ROOM_ROUNDS {
        let encode = || Str::from(relay.packet(socket.ns()));
        match outbox.relay(&socket, relay.size(), encode) {
            Ok(()) => return HandOver::Queued,
            Err(Refused::Full) => {
                // The target reads too slowly: it goes, and its room hears it.
                tracing::info!(socket = %socket.id, held = outbox.held(), "send buffer full: cutting the socket off");
                metrics.send_buffer_overflows.inc();
                outbox.cut(socket);
                return HandOver::Full;
            }
            Err(Refused::Closed) => return HandOver::Closed,
            Err(Refused::NodeFull) => match outbox.make_room() {
                Room::Mine => {
                    tracing::info!(socket = %socket.id, held = outbox.held(), "node send buffer full: cutting off the socket holding the most");
                    metrics.node_send_buffer_cutoffs.inc();
                    outbox.cut(socket);
                    return HandOver::Full;
                }
                Room::Cut(sid) => {
                    if let Some(other) = namespace.get_socket(sid)
                        && let Some(its) = other.extensions.get::<Outbox>()
                    {
                        tracing::info!(socket = %sid, held = its.held(), "node send buffer full: cutting off the socket holding the most");
                        metrics.node_send_buffer_cutoffs.inc();
                        its.cut(other);
                    }
                }
                Room::None => break,
            },
        }
    }
    metrics.node_send_buffer_refusals.inc();
    HandOver::NodeFull
}

/// Sockets cut off to make room for one relay before it is dropped.
const MAKE_ROOM_ROUNDS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::RelayKind;

    #[test]
    fn a_relay_names_sender_target_and_forwards_the_body_verbatim() {
        let body =
            RawValue::from_string(r#"{"sdp":"v=0\r\n...","type":"offer","x":[1,2]}"#.to_owned())
                .unwrap();
        let out = Relay {
            kind: RelayKind::Offer,
            from: "a",
            target: "b",
            body: &body,
        };
        let text = serde_json::to_string(&out).unwrap();
        assert_eq!(
            text,
            r#"{"fromPeerId":"a","targetPeerId":"b","offer":{"sdp":"v=0\r\n...","type":"offer","x":[1,2]}}"#
        );
        // The size estimate covers the Socket.IO packet around it.
        let packet = format!(r#"42["webrtc:offer",{text}]"#);
        assert_eq!(format!("4{}", out.packet("/")), packet);
        assert!(
            out.size() >= packet.len(),
            "{} < {}",
            out.size(),
            packet.len()
        );
    }

    /// The spliced packet is what socketioxide's `emit` encodes (serde_json's
    /// `[event, data]` after the packet type and namespace), escapes included.
    #[test]
    fn the_spliced_packet_is_the_serialised_one() {
        let body =
            RawValue::from_string(r#" {"candidate":"c \u00e9","x":[1, 2]}"#.to_owned()).unwrap();
        for (from, target) in [
            ("AbCd0123-_xyzXYZ", "ZYXzyx_-3210dCbA"),
            ("a\"b", "tab\there\\ \u{1}é"),
            ("", "\u{7f}"),
        ] {
            for kind in RelayKind::ALL {
                let relay = Relay {
                    kind,
                    from,
                    target,
                    body: &body,
                };
                let data = serde_json::to_string(&(kind.event(), &relay)).unwrap();
                let packet = relay.packet("/");
                assert_eq!(packet, format!("2{data}"));
                if from.starts_with('A') {
                    // Sized exactly: nothing to grow, nothing to shrink.
                    assert_eq!(packet.capacity(), packet.len());
                    let admin = relay.packet("/admin");
                    assert_eq!(admin.capacity(), admin.len());
                }
                assert_eq!(relay.packet("/admin"), format!("2/admin,{data}"));
                assert_eq!(relay.packet("admin"), format!("2/admin,{data}"));
            }
        }
    }
}
