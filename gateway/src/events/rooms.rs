//! `create:room`, `join:room`, `leave:room`, and leaving on disconnect
//! (PROTOCOL.md §3, §5). Membership lives in the [`RoomRegistry`]; the socket
//! also joins the Socket.IO room of the same id, where the
//! [`Delivery`](crate::delivery::Delivery) sends room-wide events.
//!
//! [`RoomRegistry`]: crate::rooms::RoomRegistry

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::{RawValue, to_raw_value};

use crate::auth::Identity;
use crate::ice::IceServer;
use crate::protocol::event;
use crate::rooms::{
    CreateRoom, CreateRoomRequest, Joined, Member, RoomCode, RoomError, RoomInfo, code,
};
use crate::socket::error::EventError;
use crate::socket::packet::Packet;
use crate::socket::reply::Ack;
use crate::socket::session::Session;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JoinRoom {
    room_code: String,
}

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

/// `{ roomCode?, maxPeers? }` (or no payload) → `room:created { roomId, roomCode }`.
/// Does not join.
pub async fn create(session: &Session, packet: &Packet) -> Result<Ack, EventError> {
    let request = packet
        .object::<CreateRoomRequest>()
        .map_err(|e| EventError::invalid(e.to_string()))?
        .unwrap_or_default()
        .validate()
        .map_err(EventError::InvalidPayload)?;
    let state = &session.state;
    let info = state
        .room_quota
        .create(state.rooms.as_ref(), request, &session.identity.user_id)
        .await?;
    let payload = serde_json::to_value(&info).map_err(EventError::internal)?;
    let _ = session.socket.emit(event::ROOM_CREATED, &payload);
    Ok(Ack::Payload(payload))
}

/// `{ roomCode }` → `room:joined` to the joiner, `peer:joined` to the others.
/// Joining another room leaves the current one first (as seen by the client:
/// `room:left` comes before `room:joined`).
pub async fn join(session: &mut Session, packet: &Packet) -> Result<Ack, EventError> {
    let code = join_request(packet)?;
    let me = Member {
        id: session.id(),
        user_info: session.identity.clone(),
    };
    create_if_missing(session, &code).await?;
    // The change and its news in this room's turn (and the turn of the room
    // being left, if any): see `rooms::turns`.
    let state = session.state.clone();
    let current = session.room.as_ref().map(|r| r.room_id.clone());
    let _turn = state
        .room_turns
        .take_both(&code.room_id(), current.as_deref())
        .await;
    let joined = session.state.rooms.join(&code, me.clone()).await?;

    if session
        .room
        .as_ref()
        .is_some_and(|r| r.room_id != joined.room.room_id)
    {
        leave_and_tell(session).await?;
    }
    let (payload, news) = welcome(session, &me, &joined)?;
    if let Some(news) = news {
        // To exactly the members the registry saw before us, not to the
        // room: a peer that joined meanwhile (on another worker, or another
        // node) already has us in its `room:joined.peers`, and hearing of us
        // twice would make both of us offer.
        let before: Vec<String> = joined.peers.iter().map(|p| p.id.clone()).collect();
        session
            .state
            .delivery
            .to_peers(&session.socket, before, event::PEER_JOINED, &news)
            .await;
    }
    Ok(Ack::Payload(payload))
}

/// [`join`] without a task hop, inside the message handler, when nothing in
/// it has to wait: one node (every peer a socket of this process), a store
/// that answers at once, the room's turn free, no other room to leave and no
/// room to create first. The same steps in the same order, within the turn;
/// `None` (nothing done): the event goes through the socket's queue.
pub fn join_now(session: &mut Session, packet: &Packet) -> Option<Result<Ack, EventError>> {
    let code = match join_request(packet) {
        Ok(code) => code,
        Err(e) => return Some(Err(e)),
    };
    let state = session.state.clone();
    let local = state.delivery.local()?;
    let room_id = code.room_id();
    if session.room.as_ref().is_some_and(|r| r.room_id != room_id) {
        return None;
    }
    if state.room_quota.caps().auto_create && !state.rooms.exists_now(&code)? {
        return None;
    }
    let _turn = state.room_turns.try_take(&room_id)?;
    let me = Member {
        id: session.id(),
        user_info: session.identity.clone(),
    };
    let joined = match state.rooms.join_now(&code, &me)? {
        Ok(joined) => joined,
        Err(e) => return Some(Err(e.into())),
    };
    let (payload, news) = match welcome(session, &me, &joined) {
        Ok(reply) => reply,
        Err(e) => return Some(Err(e)),
    };
    if let Some(news) = news {
        let mut before = joined.peers.iter().map(|p| p.id.as_str());
        local.send_to(&session.socket, &mut before, event::PEER_JOINED, &news);
    }
    Some(Ok(Ack::Payload(payload)))
}

/// `join:room`'s payload.
fn join_request(packet: &Packet) -> Result<RoomCode, EventError> {
    let request: JoinRoom = packet
        .object()
        .map_err(|e| EventError::invalid(e.to_string()))?
        .ok_or_else(|| EventError::invalid("roomCode is required"))?;
    RoomCode::parse(&request.room_code).ok_or_else(|| EventError::invalid(code::RULE))
}

/// The joiner's side of a join the registry made: into the Socket.IO room,
/// `room:joined` sent; returns its payload (the ack's) and, unless it was a
/// rejoin, the `peer:joined` news for the peers that were there before.
fn welcome(
    session: &mut Session,
    me: &Member,
    joined: &Joined,
) -> Result<(Value, Option<Box<RawValue>>), EventError> {
    let room_id = &joined.room.room_id;
    session.socket.join(room_id.clone());
    session.room = Some(joined.room.clone());
    let reply = RoomJoined {
        room_id,
        room_code: &joined.room.room_code,
        peer_id: &me.id,
        peers: &joined.peers,
        ice_servers: session.state.ice.servers_for(&session.identity.user_id),
    };
    let payload = serde_json::to_value(&reply).map_err(EventError::internal)?;
    let _ = session.socket.emit(event::ROOM_JOINED, &payload);
    if joined.rejoined {
        return Ok((payload, None));
    }
    session.state.metrics.joins.inc();
    let news = PeerJoined {
        peer_id: &me.id,
        user_info: &me.user_info,
    };
    let news = to_raw_value(&news).map_err(EventError::internal)?;
    Ok((payload, Some(news)))
}

/// With `AUTO_CREATE_ROOMS`, a join of a missing room creates it first,
/// through the same caps as `create:room` (the joiner is its creator).
async fn create_if_missing(session: &Session, code: &RoomCode) -> Result<(), EventError> {
    let state = &session.state;
    if !state.room_quota.caps().auto_create || state.rooms.snapshot(code).await?.is_some() {
        return Ok(());
    }
    let request = CreateRoom {
        code: Some(code.clone()),
        max_peers: None,
    };
    match state
        .room_quota
        .create(state.rooms.as_ref(), request, &session.identity.user_id)
        .await
    {
        // Someone else created it meanwhile: join theirs.
        Ok(_) | Err(RoomError::Exists) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `leave:room`: leaves the current room, if any; acked `{ ok: true }` either
/// way. Any payload is ignored.
pub async fn leave(session: &mut Session) -> Result<Ack, EventError> {
    let state = session.state.clone();
    let _turn = match &session.room {
        Some(room) => Some(state.room_turns.take(&room.room_id).await),
        None => None,
    };
    leave_and_tell(session).await?;
    Ok(Ack::Ok)
}

/// [`leave`] without a task hop, on the conditions of [`join_now`]: the
/// same steps in the same order, within the room's turn; `None` (nothing
/// done): the event goes through the socket's queue.
pub fn leave_now(session: &mut Session) -> Option<Result<Ack, EventError>> {
    let state = session.state.clone();
    let Some(room) = &session.room else {
        return Some(Ok(Ack::Ok));
    };
    let local = state.delivery.local()?;
    let _turn = state.room_turns.try_take(&room.room_id)?;
    let id = session.id();
    let left = state.rooms.leave_now(&room.room_id, &id)?;
    // Out of the room whatever the store answered, as `leave_current`.
    let room = session.room.take()?;
    let remaining = match left {
        Ok(remaining) => remaining,
        Err(e) => return Some(Err(e.into())),
    };
    session.socket.leave(room.room_id.clone());
    if let Some(remaining) = remaining {
        let news = match to_raw_value(&PeerLeft { peer_id: &id }) {
            Ok(news) => news,
            Err(e) => return Some(Err(EventError::internal(e))),
        };
        let mut remaining = remaining.iter().map(String::as_str);
        local.send_to(&session.socket, &mut remaining, event::PEER_LEFT, &news);
    }
    let _ = session.socket.emit(
        event::ROOM_LEFT,
        &RoomLeft {
            room_id: &room.room_id,
        },
    );
    Some(Ok(Ack::Ok))
}

/// The socket is gone: out of its room, and the remaining peers are told.
pub async fn on_disconnect(session: &mut Session) {
    let state = session.state.clone();
    let _turn = match &session.room {
        Some(room) => Some(state.room_turns.take(&room.room_id).await),
        None => None,
    };
    if let Err(e) = leave_current(session).await {
        tracing::warn!(socket = %session.socket.id, error = %e, "cleanup after disconnect failed");
    }
}

/// Leaves the current room: `peer:left` to the others, `room:left` to us.
async fn leave_and_tell(session: &mut Session) -> Result<(), EventError> {
    if let Some(room) = leave_current(session).await? {
        let _ = session.socket.emit(
            event::ROOM_LEFT,
            &RoomLeft {
                room_id: &room.room_id,
            },
        );
    }
    Ok(())
}

/// Takes the socket out of its room and tells the remaining peers.
async fn leave_current(session: &mut Session) -> Result<Option<RoomInfo>, EventError> {
    let Some(room) = session.room.take() else {
        return Ok(None);
    };
    let id = session.id();
    let was_member = session.state.rooms.leave(&room.room_id, &id).await?;
    session.socket.leave(room.room_id.clone());
    if was_member {
        let news = to_raw_value(&PeerLeft { peer_id: &id }).map_err(EventError::internal)?;
        session
            .state
            .delivery
            .to_room(&session.socket, &room.room_id, event::PEER_LEFT, &news)
            .await;
    }
    Ok(Some(room))
}
