//! `media:state`: a peer tells the others its camera and microphone state.

use serde::{Deserialize, Serialize};
use serde_json::value::to_raw_value;

use crate::protocol::event;
use crate::socket::error::EventError;
use crate::socket::packet::Packet;
use crate::socket::reply::Ack;
use crate::socket::session::Session;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MediaState {
    is_video_enabled: bool,
    is_audio_enabled: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MediaStateChanged<'a> {
    peer_id: &'a str,
    is_video_enabled: bool,
    is_audio_enabled: bool,
}

/// `{ isVideoEnabled, isAudioEnabled }` → `media:state_changed` to the other
/// peers. Outside a room it is quietly accepted, as the incumbent did.
pub async fn state(session: &Session, packet: &Packet) -> Result<Ack, EventError> {
    let state: MediaState =
        packet.object().ok().flatten().ok_or_else(|| {
            EventError::invalid("isVideoEnabled and isAudioEnabled must be booleans")
        })?;
    let Some(room) = &session.room else {
        return Ok(Ack::Ok);
    };
    let id = session.id();
    // A node evicted from a cluster no longer holds its members: it must not
    // speak for them (in one process this is always true).
    if !session.state.rooms.is_member(&room.room_id, &id).await? {
        return Err(EventError::NotInRoom);
    }
    let changed = MediaStateChanged {
        peer_id: &id,
        is_video_enabled: state.is_video_enabled,
        is_audio_enabled: state.is_audio_enabled,
    };
    let news = to_raw_value(&changed).map_err(EventError::internal)?;
    session
        .state
        .delivery
        .to_room(
            &session.socket,
            &room.room_id,
            event::MEDIA_STATE_CHANGED,
            &news,
        )
        .await;
    Ok(Ack::Ok)
}
