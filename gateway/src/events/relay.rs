//! `webrtc:offer`, `webrtc:answer`, `webrtc:ice`: forwarded to exactly one
//! target, and only when the target is in the sender's room. The gateway checks
//! shape and size, never SDP content, and forwards the value as received: keys
//! it does not know included, so the value as a whole is bounded and must be
//! strict JSON (no lone surrogate, nesting within serde_json's limit), since
//! the target's own parser has to read it.
//!
//! Every relay reaches its target through the target's outbox on the
//! target's own node (`MAX_SEND_BUFFER`): at once when the target is here, on
//! the target node's relay channel otherwise ([`crate::cluster::relay`]),
//! where that node hands it over ([`arrived`]) the same way.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Instant;

use serde::Deserialize;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;
use socketioxide::SocketIo;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;

use crate::cluster::adapter::NodeAdapter;
use crate::cluster::relay::{Envelope, Received};
use crate::metrics::Metrics;
use crate::protocol::RelayKind;
use crate::rooms::{RoomInfo, Whereabouts};
use crate::send_buffer::outbox::{Outbox, Refused};
use crate::socket::error::EventError;
use crate::socket::packet::Packet;
use crate::socket::reply::Ack;
use crate::socket::session::Session;

pub const MAX_SDP_BYTES: usize = 64 * 1024;
pub const MAX_CANDIDATE_BYTES: usize = 4 * 1024;
/// The whole `offer`/`answer` value as JSON text: twice the SDP's limit,
/// room for a full SDP's escapes (`\r\n` is four bytes, short lines make it
/// 1.4 times longer) and keys of the client's own.
pub const MAX_DESCRIPTION_JSON: usize = 2 * MAX_SDP_BYTES;
/// The whole `candidate` value as JSON text, by the same rule.
pub const MAX_CANDIDATE_JSON: usize = 2 * MAX_CANDIDATE_BYTES;
/// Socket ids are 16 characters; this leaves room for any id scheme.
pub const MAX_TARGET_BYTES: usize = 128;

/// What the target receives: `{ fromPeerId, targetPeerId, <field> }`, the
/// field's JSON forwarded byte for byte.
struct Relayed<'a> {
    kind: RelayKind,
    from: &'a str,
    target: &'a str,
    body: &'a RawValue,
}

impl Relayed<'_> {
    /// About the bytes of the packet Socket.IO makes of it:
    /// `42["<event>",{"fromPeerId":"…","targetPeerId":"…","<field>":…}]`.
    fn size(&self) -> usize {
        48 + self.kind.event().len()
            + self.kind.field().len()
            + self.from.len()
            + self.target.len()
            + self.body.get().len()
    }
}

impl Serialize for Relayed<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(3))?;
        map.serialize_entry("fromPeerId", self.from)?;
        map.serialize_entry("targetPeerId", self.target)?;
        map.serialize_entry(self.kind.field(), self.body)?;
        map.end()
    }
}

/// A relay handled from the socket's queue: the membership check may wait on
/// the room store.
pub async fn relay(
    session: &Session,
    kind: RelayKind,
    packet: &Packet,
    received: Instant,
) -> Result<Ack, EventError> {
    let (relay, room) = check(session, kind, packet)?;
    let at = session
        .state
        .rooms
        .locate(&room.room_id, &relay.target)
        .await?;
    match at {
        Whereabouts::Absent => Err(relay.not_found()),
        // The registry has it here: not found here is gone (leaving).
        Whereabouts::Here => match deliver(session, kind, &relay, true, received)? {
            Delivery::Done => Ok(Ack::Ok),
            Delivery::Elsewhere => Err(relay.not_found()),
        },
        Whereabouts::Node(route) => deliver_to_node(session, kind, &relay, &route, received).await,
        Whereabouts::Unrouted => deliver_elsewhere(session, kind, relay, received).await,
    }
}

/// The same relay without waiting, for the hot path: `None` when the room
/// store cannot answer at once (then [`relay`] runs from the socket's queue).
pub fn relay_now(
    session: &Session,
    kind: RelayKind,
    packet: &Packet,
    received: Instant,
) -> Option<Result<Ack, EventError>> {
    let (relay, room) = match check(session, kind, packet) {
        Ok(checked) => checked,
        Err(e) => return Some(Err(e)),
    };
    let member = session
        .state
        .rooms
        .is_member_now(&room.room_id, &relay.target)?;
    // A store that answers at once is this process's: every member is local.
    Some(
        deliver(session, kind, &relay, member, received).and_then(|delivery| match delivery {
            Delivery::Done => Ok(Ack::Ok),
            Delivery::Elsewhere => Err(relay.not_found()),
        }),
    )
}

/// The checks before the target's membership, in the contract's order: the
/// payload's shape, then `NOT_IN_ROOM`.
fn check<'s>(
    session: &'s Session,
    kind: RelayKind,
    packet: &Packet,
) -> Result<(RelayIn, &'s RoomInfo), EventError> {
    let relay = parse(kind, packet)?;
    let room = session.room.as_ref().ok_or(EventError::NotInRoom)?;
    Ok((relay, room))
}

/// Where a relay went.
enum Delivery {
    /// To the target's socket on this node.
    Done,
    /// The target is a member connected to another node.
    Elsewhere,
}

/// Hands the relay to the target's socket, when the target is another member
/// of the sender's room and is connected here.
fn deliver(
    session: &Session,
    kind: RelayKind,
    relay: &RelayIn,
    member: bool,
    received: Instant,
) -> Result<Delivery, EventError> {
    let from = session.id();
    if !member || relay.target == from {
        return Err(relay.not_found());
    }
    let sid = Sid::from_str(&relay.target).map_err(|_| relay.not_found())?;
    // Looked up through the socket's own namespace handle: `SocketIo` panics
    // once shutdown has removed the namespace.
    let namespace = session.socket.broadcast();
    let message = relay.message(kind, &from);
    match hand_over(&namespace, &session.state.metrics, sid, &message) {
        HandOver::Queued => {}
        HandOver::NotHere => return Ok(Delivery::Elsewhere),
        // Cut off (the sender is told it is gone, as it will be by
        // `peer:left`), or closing.
        HandOver::Full | HandOver::Closed => return Err(relay.not_found()),
    }
    relayed(session, kind, received);
    Ok(Delivery::Done)
}

/// What became of a relay handed to a socket of this node.
enum HandOver {
    /// In the socket's outbox.
    Queued,
    /// No such socket here.
    NotHere,
    /// The socket held too much: it was cut off, the relay dropped.
    Full,
    /// The socket is closing.
    Closed,
}

/// Queues `message` to socket `sid` of `namespace` through its outbox; a
/// socket the relay would take past its budget is cut off.
fn hand_over(
    namespace: &BroadcastOperators<NodeAdapter>,
    metrics: &Metrics,
    sid: Sid,
    message: &Relayed<'_>,
) -> HandOver {
    let Some(socket) = namespace.get_socket(sid) else {
        return HandOver::NotHere;
    };
    let Some(outbox) = socket.extensions.get::<Outbox>() else {
        return HandOver::Closed;
    };
    match outbox.relay(&socket, message.kind.event(), message, message.size()) {
        Ok(()) => HandOver::Queued,
        Err(Refused::Full) => {
            // The target reads too slowly: it goes, and its room hears it.
            tracing::info!(socket = %socket.id, held = outbox.held(), "send buffer full: cutting the socket off");
            metrics.send_buffer_overflows.inc();
            outbox.cut(socket);
            HandOver::Full
        }
        Err(Refused::Closed) => HandOver::Closed,
    }
}

/// A relay from another node for a socket of this one, handed over as a
/// local relay is. Its sender was acked once the relay was published: a
/// relay that finds its target gone or cut off is dropped (and counted); the
/// sender's peers hear `peer:left` for the target.
pub fn arrived(io: &SocketIo<NodeAdapter>, metrics: &Metrics, relay: &Received<'_>) {
    let message = Relayed {
        kind: relay.kind,
        from: &relay.from,
        target: &relay.target,
        body: relay.body,
    };
    // `of` rather than `SocketIo`'s own lookups, which panic while the
    // namespace is gone (shutdown, eviction).
    let outcome = match (io.of("/"), Sid::from_str(&relay.target)) {
        (Some(namespace), Ok(sid)) => hand_over(&namespace, metrics, sid, &message),
        _ => HandOver::NotHere,
    };
    let reason = match outcome {
        HandOver::Queued => return,
        HandOver::Full => "full",
        HandOver::NotHere | HandOver::Closed => "gone",
    };
    tracing::debug!(from = %relay.from, target = %relay.target, reason, "relay from another node dropped");
    metrics.cluster_relays_dropped(reason, 1);
}

/// Publishes the relay on the channel of the target's node, which hands it
/// to the target's outbox ([`arrived`]). The sender's relays are published
/// one after another, each acknowledged by Redis before the next, so they
/// arrive in order.
async fn deliver_to_node(
    session: &Session,
    kind: RelayKind,
    relay: &RelayIn,
    route: &str,
    received: Instant,
) -> Result<Ack, EventError> {
    let link = session
        .state
        .relay_link
        .as_ref()
        .ok_or_else(|| EventError::internal("a member on another node, but no cluster"))?;
    let from = session.id();
    let envelope = Envelope {
        kind,
        from: &from,
        target: &relay.target,
        body: &relay.body,
    };
    let heard = link
        .send(route, &envelope)
        .await
        .map_err(EventError::internal)?;
    if !heard {
        // No node reads that channel: the target's node died (its members are
        // reported gone once it is reaped) or is not subscribed again yet.
        return Err(relay.not_found());
    }
    relayed(session, kind, received);
    Ok(Ack::Ok)
}

/// Sends the relay through the adapter to the node of the target, which
/// sits in a Socket.IO room named by its id: for a member whose node
/// recorded no route (a node of an older version, during a rolling upgrade).
/// Such a relay reaches the socket's Engine.IO queue without its outbox. The
/// sender's relays go out one after another on one connection, so they
/// arrive in order.
async fn deliver_elsewhere(
    session: &Session,
    kind: RelayKind,
    relay: RelayIn,
    received: Instant,
) -> Result<Ack, EventError> {
    let from = session.id();
    session
        .socket
        .to(relay.target.clone())
        .emit(kind.event(), &relay.message(kind, &from))
        .await
        .map_err(EventError::internal)?;
    relayed(session, kind, received);
    Ok(Ack::Ok)
}

fn relayed(session: &Session, kind: RelayKind, received: Instant) {
    let metrics = &session.state.metrics;
    metrics.relayed(kind);
    metrics
        .relay_latency
        .observe(received.elapsed().as_secs_f64());
}

/// A relay as received: its target and its signaling data as raw JSON.
pub struct RelayIn {
    pub target: String,
    pub body: Box<RawValue>,
}

impl RelayIn {
    fn not_found(&self) -> EventError {
        EventError::PeerNotFound {
            target: Some(self.target.clone()),
        }
    }

    fn message<'a>(&'a self, kind: RelayKind, from: &'a str) -> Relayed<'a> {
        Relayed {
            kind,
            from,
            target: &self.target,
            body: &self.body,
        }
    }
}

/// The payload's fields, read without building a JSON tree.
#[derive(Deserialize)]
struct Fields {
    #[serde(rename = "targetPeerId")]
    target: Option<Box<RawValue>>,
    offer: Option<Box<RawValue>>,
    answer: Option<Box<RawValue>>,
    candidate: Option<Box<RawValue>>,
}

/// Checks `{ targetPeerId, offer|answer|candidate }` (shape and size, never SDP
/// content) and returns both parts.
pub fn parse(kind: RelayKind, packet: &Packet) -> Result<RelayIn, EventError> {
    let shape = || {
        EventError::invalid(format!(
            "payload must be {{ targetPeerId, {} }}",
            kind.field()
        ))
    };
    let fields: Fields = packet.object().map_err(|_| shape())?.ok_or_else(shape)?;
    let target = fields
        .target
        .and_then(|t| serde_json::from_str::<String>(t.get()).ok())
        .filter(|t| !t.is_empty() && t.len() <= MAX_TARGET_BYTES)
        .ok_or_else(|| {
            EventError::invalid(format!(
                "targetPeerId must be a non-empty string of at most {MAX_TARGET_BYTES} bytes"
            ))
        })?;
    let body = match kind {
        RelayKind::Offer => fields.offer,
        RelayKind::Answer => fields.answer,
        RelayKind::Ice => fields.candidate,
    };
    let body = body.ok_or_else(|| missing(kind))?;
    match kind {
        RelayKind::Offer | RelayKind::Answer => check_description(kind, &body)?,
        RelayKind::Ice => check_candidate(&body)?,
    }
    if !strict_json(body.get()) {
        return Err(EventError::invalid(format!(
            "{} must be strict JSON (no lone surrogates, the payload nested at most 128 deep)",
            kind.field()
        )));
    }
    Ok(RelayIn { target, body })
}

/// Whether every string of `text` (one JSON value, already known to be
/// well-formed) decodes, and its nesting stays within serde_json's limit.
/// Values with no escape and no nesting (most candidates) pass on a glance:
/// a lone surrogate can only be written as a `\u` escape.
fn strict_json(text: &str) -> bool {
    let plain = memchr::memchr3(
        b'\\',
        b'{',
        b'[',
        text.as_bytes().get(1..).unwrap_or_default(),
    )
    .is_none();
    plain || serde_json::from_str::<Strict>(text).is_ok()
}

/// Reads any JSON value, decoding every string (keys too), keeping nothing.
struct Strict;

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_str<E>(self, _: &str) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        while seq.next_element::<Strict>()?.is_some() {}
        Ok(Strict)
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        while map.next_entry::<Strict, Strict>()?.is_some() {}
        Ok(Strict)
    }
}

fn missing(kind: RelayKind) -> EventError {
    match kind {
        RelayKind::Ice => {
            EventError::invalid("candidate must be a string or an RTCIceCandidateInit object")
        }
        _ => EventError::invalid(format!(
            "{} must be {{ type, sdp }} with string fields",
            kind.field()
        )),
    }
}

#[derive(Deserialize)]
struct Description<'a> {
    #[serde(rename = "type", borrow)]
    _type: Cow<'a, str>,
    #[serde(borrow)]
    sdp: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidateInit<'a> {
    #[serde(borrow)]
    candidate: Cow<'a, str>,
    #[serde(default, borrow, rename = "sdpMid")]
    _sdp_mid: Option<Cow<'a, str>>,
    #[serde(default, rename = "sdpMLineIndex")]
    _sdp_m_line_index: Option<u16>,
    #[serde(default, borrow, rename = "usernameFragment")]
    _username_fragment: Option<Cow<'a, str>>,
}

fn check_description(kind: RelayKind, body: &RawValue) -> Result<(), EventError> {
    let field = kind.field();
    let text = body.get();
    if text.len() > MAX_DESCRIPTION_JSON {
        return Err(EventError::invalid(format!(
            "{field} exceeds {MAX_DESCRIPTION_JSON} bytes of JSON"
        )));
    }
    let description = text
        .starts_with('{')
        .then(|| serde_json::from_str::<Description>(text).ok())
        .flatten()
        .ok_or_else(|| missing(kind))?;
    if description.sdp.len() > MAX_SDP_BYTES {
        return Err(EventError::invalid(format!(
            "{field}.sdp exceeds {MAX_SDP_BYTES} bytes"
        )));
    }
    Ok(())
}

fn check_candidate(body: &RawValue) -> Result<(), EventError> {
    let text = body.get();
    if text.len() > MAX_CANDIDATE_JSON {
        return Err(EventError::invalid(format!(
            "candidate exceeds {MAX_CANDIDATE_JSON} bytes of JSON"
        )));
    }
    let candidate = if text.starts_with('"') {
        serde_json::from_str::<Cow<str>>(text).ok()
    } else if text.starts_with('{') {
        serde_json::from_str::<CandidateInit>(text)
            .ok()
            .map(|init| init.candidate)
    } else {
        None
    };
    let candidate = candidate.ok_or_else(|| missing(RelayKind::Ice))?;
    if candidate.len() > MAX_CANDIDATE_BYTES {
        return Err(EventError::invalid(format!(
            "candidate exceeds {MAX_CANDIDATE_BYTES} bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn parsed(kind: RelayKind, payload: Value) -> Result<(String, Value), EventError> {
        let packet = Packet::from_json(json!([kind.event(), payload]));
        parse(kind, &packet).map(|r| (r.target, serde_json::from_str(r.body.get()).unwrap()))
    }

    fn code_of(r: Result<(String, Value), EventError>) -> &'static str {
        r.err().map_or("OK", |e| e.code().as_str())
    }

    #[test]
    fn the_seed_examples_pass_untouched() {
        let offer = json!({ "targetPeerId": "socket_def456", "offer": { "type": "offer", "sdp": "v=0\r\n..." } });
        let (t, body) = parsed(RelayKind::Offer, offer).unwrap();
        assert_eq!(
            (t.as_str(), body),
            (
                "socket_def456",
                json!({ "type": "offer", "sdp": "v=0\r\n..." })
            )
        );
        let ice = json!({ "targetPeerId": "socket_def456", "candidate": "candidate:1 1 UDP 2130706431 192.168.1.1 54321 typ host" });
        let (_, body) = parsed(RelayKind::Ice, ice).unwrap();
        assert_eq!(
            body,
            json!("candidate:1 1 UDP 2130706431 192.168.1.1 54321 typ host")
        );
    }

    #[test]
    fn browser_candidates_and_end_of_candidates_pass() {
        let init = json!({ "candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "abcd" });
        assert_eq!(
            code_of(parsed(
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": init })
            )),
            "OK"
        );
        let end = json!({ "candidate": "", "sdpMid": null, "sdpMLineIndex": null, "usernameFragment": null });
        assert_eq!(
            code_of(parsed(
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": end })
            )),
            "OK"
        );
    }

    #[test]
    fn bad_shapes_and_sizes_are_invalid() {
        let cases = [
            (RelayKind::Offer, json!("not an object")),
            (
                RelayKind::Offer,
                json!(["p", { "type": "offer", "sdp": "v=0" }, null, null]),
            ),
            (RelayKind::Ice, json!(["p", null, "candidate:1", null])),
            (RelayKind::Offer, json!(null)),
            (
                RelayKind::Offer,
                json!({ "offer": { "type": "offer", "sdp": "v=0" } }),
            ),
            (
                RelayKind::Offer,
                json!({ "targetPeerId": "", "offer": { "type": "offer", "sdp": "v=0" } }),
            ),
            (
                RelayKind::Offer,
                json!({ "targetPeerId": 7, "offer": { "type": "offer", "sdp": "v=0" } }),
            ),
            (RelayKind::Offer, json!({ "targetPeerId": "p" })),
            (
                RelayKind::Offer,
                json!({ "targetPeerId": "p", "offer": ["offer", "v=0"] }),
            ),
            (
                RelayKind::Answer,
                json!({ "targetPeerId": "p", "answer": { "type": "answer" } }),
            ),
            (
                RelayKind::Answer,
                json!({ "targetPeerId": "p", "answer": { "type": 1, "sdp": "v=0" } }),
            ),
            (
                RelayKind::Answer,
                json!({ "targetPeerId": "p", "answer": { "type": "answer", "sdp": "x".repeat(MAX_SDP_BYTES + 1) } }),
            ),
            (
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": null }),
            ),
            (
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": 5 }),
            ),
            (
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": "c".repeat(MAX_CANDIDATE_BYTES + 1) }),
            ),
            (
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": { "candidate": "c", "sdpMLineIndex": "0" } }),
            ),
            (
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": { "candidate": "c", "sdpMLineIndex": -1 } }),
            ),
            (
                RelayKind::Ice,
                json!({ "targetPeerId": "p", "candidate": { "sdpMid": "0" } }),
            ),
        ];
        for (kind, payload) in cases {
            assert_eq!(
                code_of(parsed(kind, payload.clone())),
                "INVALID_PAYLOAD",
                "{payload}"
            );
        }
        let max = json!({ "targetPeerId": "p", "answer": { "type": "answer", "sdp": "x".repeat(MAX_SDP_BYTES) } });
        assert_eq!(code_of(parsed(RelayKind::Answer, max)), "OK");
    }

    fn parsed_raw(kind: RelayKind, payload: &str) -> &'static str {
        let text = format!(r#"["{}",{payload}]"#, kind.event());
        let packet = Packet::new(socketioxide_core::Value::Str(text.into(), None));
        parse(kind, &packet)
            .err()
            .map_or("OK", |e| e.code().as_str())
    }

    #[test]
    fn the_whole_relayed_value_is_bounded_and_strict() {
        // Extra keys are forwarded, so they count.
        let pad = "x".repeat(MAX_DESCRIPTION_JSON);
        let padded =
            json!({ "targetPeerId": "p", "offer": { "type": "offer", "sdp": "v=0", "pad": pad } });
        assert_eq!(code_of(parsed(RelayKind::Offer, padded)), "INVALID_PAYLOAD");
        let pad = "x".repeat(MAX_CANDIDATE_JSON);
        let padded = json!({ "targetPeerId": "p", "candidate": { "candidate": "c", "pad": pad } });
        assert_eq!(code_of(parsed(RelayKind::Ice, padded)), "INVALID_PAYLOAD");
        // A full SDP with every line's escapes still fits.
        let sdp = "a=x\r\n".repeat(MAX_SDP_BYTES / 5);
        let full = json!({ "targetPeerId": "p", "answer": { "type": "answer", "sdp": sdp, "extra": [1, 2] } });
        assert_eq!(code_of(parsed(RelayKind::Answer, full)), "OK");
        // Lone surrogates and deep nesting, where the gateway itself never looks.
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        for (kind, payload) in [
            (
                RelayKind::Offer,
                r#"{"targetPeerId":"p","offer":{"type":"offer","sdp":"v=0","x":"\ud800"}}"#
                    .to_owned(),
            ),
            (
                RelayKind::Ice,
                r#"{"targetPeerId":"p","candidate":{"candidate":"c","x":{"\udfff":1}}}"#.to_owned(),
            ),
            (
                RelayKind::Ice,
                format!(r#"{{"targetPeerId":"p","candidate":{{"candidate":"c","x":{deep}}}}}"#),
            ),
        ] {
            assert_eq!(parsed_raw(kind, &payload), "INVALID_PAYLOAD", "{payload}");
        }
        // Escapes that decode are fine, nesting within the limit too.
        let nested = format!("{}1{}", "[".repeat(100), "]".repeat(100));
        for (kind, payload) in [
            (RelayKind::Offer, r#"{"targetPeerId":"p","offer":{"type":"offer","sdp":"v=0\r\n\ud83d\ude00","x":"\u00e9"}}"#.to_owned()),
            (RelayKind::Ice, format!(r#"{{"targetPeerId":"p","candidate":{{"candidate":"c","x":{nested}}}}}"#)),
        ] {
            assert_eq!(parsed_raw(kind, &payload), "OK", "{payload}");
        }
        // The nesting limit is serde_json's, counted from the payload object:
        // 128 levels pass, 129 do not (the relayed value itself: 127 and 128).
        let nest = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
        let answer = |n: usize| {
            format!(
                r#"{{"targetPeerId":"p","answer":{{"type":"answer","sdp":"v=0","deep":{}}}}}"#,
                nest(n)
            )
        };
        assert_eq!(parsed_raw(RelayKind::Answer, &answer(126)), "OK");
        assert_eq!(
            parsed_raw(RelayKind::Answer, &answer(127)),
            "INVALID_PAYLOAD"
        );
        // The target is a socket id, not a place to put a megabyte.
        let long = json!({ "targetPeerId": "t".repeat(MAX_TARGET_BYTES + 1), "candidate": "c" });
        assert_eq!(code_of(parsed(RelayKind::Ice, long)), "INVALID_PAYLOAD");
    }

    #[test]
    fn relayed_payload_names_sender_target_and_forwards_the_body_verbatim() {
        let body =
            RawValue::from_string(r#"{"sdp":"v=0\r\n...","type":"offer","x":[1,2]}"#.to_owned())
                .unwrap();
        let out = Relayed {
            kind: RelayKind::Offer,
            from: "a",
            target: "b",
            body: &body,
        };
        assert_eq!(
            serde_json::to_string(&out).unwrap(),
            r#"{"fromPeerId":"a","targetPeerId":"b","offer":{"sdp":"v=0\r\n...","type":"offer","x":[1,2]}}"#
        );
    }
}
