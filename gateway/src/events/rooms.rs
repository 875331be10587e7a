//! `create:room`, `join:room`, `leave:room`, and leaving on disconnect
//! (PROTOCOL.md §3, §5). Membership lives in the [`RoomRegistry`]; the socket
//! also joins the Socket.IO room of the same id so that room-wide events travel
//! through the adapter, on one node or many.
//!
//! [`RoomRegistry`]: crate::rooms::RoomRegistry

use serde::Serialize;
use serde_json::Value;
use socketioxide::{BroadcastError, SocketError};

use super::Ack;
use super::error::EventError;
use super::session::Session;
use crate::auth::Identity;
use crate::ice::IceServer;
use crate::rooms::{CreateRoom, Member, RoomCode, RoomInfo, code};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoomJoined<'a> {
    room_id: &'a str,
    room_code: &'a str,
    peer_id: &'a str,
    peers: &'a [Member],
    ice_servers: Vec<IceServer>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PeerJoined<'a> {
    peer_id: &'a str,
    user_info: &'a Identity,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PeerLeft<'a> {
    peer_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoomLeft<'a> {
    room_id: &'a str,
}

/// `{ roomCode?, maxPeers? }` → `room:created { roomId, roomCode }`. Does not join.
pub async fn create(session: &mut Session, payload: Value) -> Result<Ack, EventError> {
    let request = CreateRoom::from_json(&payload).map_err(EventError::InvalidPayload)?;
    let info = request.create(session.state.rooms.as_ref()).await?;
    let payload = serde_json::to_value(&info).map_err(internal)?;
    let _ = session.socket.emit("room:created", &payload);
    Ok(Ack::Payload(payload))
}

/// `{ roomCode }` → `room:joined` to the joiner, `peer:joined` to the others.
/// Joining another room leaves the current one first (as seen by the client:
/// `room:left` comes before `room:joined`).
pub async fn join(session: &mut Session, payload: Value) -> Result<Ack, EventError> {
    let code = match payload.get("roomCode") {
        Some(v) => room_code(v)?,
        None => return Err(EventError::invalid("roomCode is required")),
    };
    let me = Member {
        id: session.id(),
        user_info: session.identity.clone(),
    };
    let joined = session.state.rooms.join(&code, me.clone()).await?;

    if session
        .room
        .as_ref()
        .is_some_and(|r| r.room_id != joined.room.room_id)
    {
        leave_and_tell(session).await?;
    }
    let room_id = joined.room.room_id.clone();
    session.socket.join(room_id.clone());
    session.room = Some(joined.room.clone());

    let reply = RoomJoined {
        room_id: &room_id,
        room_code: &joined.room.room_code,
        peer_id: &me.id,
        peers: &joined.peers,
        ice_servers: session.state.ice.servers_for(&session.identity.user_id),
    };
    let payload = serde_json::to_value(&reply).map_err(internal)?;
    let _ = session.socket.emit("room:joined", &payload);
    if !joined.rejoined {
        session.state.metrics.joins.inc();
        let news = PeerJoined {
            peer_id: &me.id,
            user_info: &me.user_info,
        };
        broadcast(session.socket.to(room_id), "peer:joined", &news).await;
    }
    Ok(Ack::Payload(payload))
}

/// `leave:room`: leaves the current room, if any; acked `{ ok: true }` either way.
pub async fn leave(session: &mut Session) -> Result<Ack, EventError> {
    leave_and_tell(session).await?;
    Ok(Ack::Ok)
}

/// Leaves the current room: `peer:left` to the others, `room:left` to us.
async fn leave_and_tell(session: &mut Session) -> Result<(), EventError> {
    if let Some(room) = leave_current(session).await? {
        let _ = session.socket.emit(
            "room:left",
            &RoomLeft {
                room_id: &room.room_id,
            },
        );
    }
    Ok(())
}

/// Takes the socket out of its room and tells the remaining peers.
pub async fn leave_current(session: &mut Session) -> Result<Option<RoomInfo>, EventError> {
    let Some(room) = session.room.take() else {
        return Ok(None);
    };
    let id = session.id();
    let was_member = session.state.rooms.leave(&room.room_id, &id).await?;
    session.socket.leave(room.room_id.clone());
    if was_member {
        // `socket.to` excludes the socket and, unlike `SocketIo`, still works
        // while the server shuts down.
        let others = session.socket.to(room.room_id.clone());
        broadcast(others, "peer:left", &PeerLeft { peer_id: &id }).await;
    }
    Ok(Some(room))
}

/// Emits to the room's other peers. Peers that are closing are skipped
/// quietly (they leave the room next); a full buffer is a lost message and
/// worth a warning.
pub(crate) async fn broadcast<T: Serialize + ?Sized>(
    to: socketioxide::operators::BroadcastOperators,
    event: &str,
    payload: &T,
) {
    match to.emit(event, payload).await {
        Ok(()) => {}
        Err(BroadcastError::Socket(errors))
            if errors.iter().all(|e| matches!(e, SocketError::Closed)) =>
        {
            tracing::debug!(event, closed = errors.len(), "peers already closing");
        }
        Err(e) => tracing::warn!(event, error = %e, "broadcast failed"),
    }
}

fn room_code(v: &Value) -> Result<RoomCode, EventError> {
    v.as_str()
        .and_then(RoomCode::parse)
        .ok_or_else(|| EventError::invalid(code::RULE))
}

fn internal(e: impl std::fmt::Display) -> EventError {
    EventError::Internal(e.to_string())
}
