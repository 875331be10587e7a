//! `media:state`: a peer tells the others its camera and microphone state.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Ack;
use super::error::EventError;
use super::rooms::broadcast;
use super::session::Session;

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
pub async fn state(session: &mut Session, payload: Value) -> Result<Ack, EventError> {
    let state: MediaState = serde_json::from_value(payload)
        .map_err(|_| EventError::invalid("isVideoEnabled and isAudioEnabled must be booleans"))?;
    let Some(room) = &session.room else {
        return Ok(Ack::Ok);
    };
    let id = session.id();
    let changed = MediaStateChanged {
        peer_id: &id,
        is_video_enabled: state.is_video_enabled,
        is_audio_enabled: state.is_audio_enabled,
    };
    let others = session.socket.to(room.room_id.clone());
    broadcast(others, "media:state_changed", &changed).await;
    Ok(Ack::Ok)
}
