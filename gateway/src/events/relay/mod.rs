//! `webrtc:offer`, `webrtc:answer`, `webrtc:ice`: forwarded to exactly one
//! target, and only when the target is in the sender's room. The payload's
//! checks are in [`payload`]; where the target is connected is the
//! [`Delivery`](crate::delivery::Delivery)'s business.

pub mod payload;

use std::time::Instant;

pub use payload::{
    MAX_CANDIDATE_BYTES, MAX_CANDIDATE_JSON, MAX_DESCRIPTION_JSON, MAX_SDP_BYTES, MAX_TARGET_BYTES,
    RelayIn, parse,
};

use crate::delivery::Undelivered;
use crate::protocol::RelayKind;
use crate::rooms::RoomInfo;
use crate::socket::error::EventError;
use crate::socket::packet::Packet;
use crate::socket::reply::Ack;
use crate::socket::session::Session;

/// A relay handled from the socket's queue: the membership check may wait on
/// the room store.
pub async fn relay(
    session: &Session,
    kind: RelayKind,
    packet: &Packet,
    received: Instant,
) -> Result<Ack, EventError> {
    let (relay, room) = check(session, kind, packet)?;
    let from = session.socket.id.as_str();
    let outcome = session
        .state
        .delivery
        .relay(&session.socket, &room.room_id, &relay.message(kind, from))
        .await;
    done(session, kind, &relay, outcome, received)
}

/// The same relay without waiting, for the hot path: `None` when the
/// delivery cannot decide at once (then [`relay`] runs from the socket's
/// queue).
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
    let from = session.socket.id.as_str();
    let outcome = session.state.delivery.relay_now(
        &session.socket,
        &room.room_id,
        &relay.message(kind, from),
    )?;
    Some(done(session, kind, &relay, outcome, received))
}

/// The checks before the target's membership, in the contract's order: the
/// payload's shape, then `NOT_IN_ROOM`.
fn check<'s, 'p>(
    session: &'s Session,
    kind: RelayKind,
    packet: &'p Packet,
) -> Result<(RelayIn<'p>, &'s RoomInfo), EventError> {
    let relay = parse(kind, packet)?;
    let room = session.room.as_ref().ok_or(EventError::NotInRoom)?;
    Ok((relay, room))
}

/// The sender's answer, and the relay counted once delivered.
fn done(
    session: &Session,
    kind: RelayKind,
    relay: &RelayIn<'_>,
    outcome: Result<(), Undelivered>,
    received: Instant,
) -> Result<Ack, EventError> {
    match outcome {
        Ok(()) => {
            let metrics = &session.state.metrics;
            metrics.relayed(kind);
            metrics
                .relay_latency
                .observe(received.elapsed().as_secs_f64());
            Ok(Ack::Ok)
        }
        Err(Undelivered::NotFound) => Err(relay.not_found()),
        Err(Undelivered::Rooms(e)) => Err(e.into()),
        Err(Undelivered::Link(e)) => Err(EventError::internal(e)),
        Err(e @ Undelivered::Busy) => Err(EventError::Unavailable(e.to_string())),
    }
}
