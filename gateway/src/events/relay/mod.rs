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
use crate::metrics::Metrics;
use crate::protocol::RelayKind;
use crate::rooms::RoomInfo;
use crate::socket::error::EventError;
use crate::socket::packet::Packet;
use crate::socket::reply::Ack;
use crate::socket::session::Session;

/// A relay handled from the socket's queue: the membership check may wait on
/// the room store. A relay queued to another node is answered later
/// ([`Ack::Later`], on that node's receipt), in its turn among the socket's
/// replies: the socket's next event does not wait for it.
pub async fn relay(
    session: &Session,
    kind: RelayKind,
    packet: &Packet,
    received: Instant,
) -> Result<Ack, EventError> {
    let (relay, room) = check(session, kind, packet)?;
    let from = session.socket.id.as_str();
    let queued = session
        .state
        .delivery
        .relay_queued(&session.socket, &room.room_id, &relay.message(kind, from))
        .await;
    match queued {
        Ok(Some(later)) => {
            let metrics = session.state.metrics.clone();
            let not_found = relay.not_found();
            Ok(Ack::Later(Box::pin(async move {
                counted(&metrics, kind, later.await, received).map_err(|e| match e {
                    Undelivered::NotFound => not_found,
                    e => refused(e),
                })
            })))
        }
        Ok(None) => done(session, kind, &relay, Ok(()), received),
        Err(e) => done(session, kind, &relay, Err(e), received),
    }
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
    counted(&session.state.metrics, kind, outcome, received).map_err(|e| match e {
        Undelivered::NotFound => relay.not_found(),
        e => refused(e),
    })
}

/// `{ ok: true }` for a delivered relay, counted; the reason otherwise.
fn counted(
    metrics: &Metrics,
    kind: RelayKind,
    outcome: Result<(), Undelivered>,
    received: Instant,
) -> Result<Ack, Undelivered> {
    outcome?;
    metrics.relayed(kind);
    metrics
        .relay_latency
        .observe(received.elapsed().as_secs_f64());
    Ok(Ack::Ok)
}

/// The wire error of a relay that reached nobody, `PEER_NOT_FOUND` aside
/// (it names the target).
fn refused(e: Undelivered) -> EventError {
    match e {
        Undelivered::Rooms(e) => e.into(),
        Undelivered::Link(e) => EventError::internal(e),
        e @ (Undelivered::Busy | Undelivered::NotFound) => EventError::Unavailable(e.to_string()),
    }
}
