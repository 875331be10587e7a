//! Rooms and ICE servers over REST: `POST /rooms`, `GET /rooms/{code}`, `GET /ice-servers`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Caller, ClientAddr, PathText};
use super::state::HttpState;
use crate::ice::IceServer;
use crate::limits::failures::address_key;
use crate::rooms::{CreateRoomRequest, Member, RoomCode, RoomInfo, RoomSnapshot};

pub fn routes() -> OpenApiRouter<HttpState> {
    OpenApiRouter::new()
        .routes(routes!(create_room))
        .routes(routes!(get_room))
        .routes(routes!(ice_servers))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomCreated {
    room_id: String,
    room_code: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PeerView {
    id: String,
    #[schema(value_type = Object)]
    user_info: crate::auth::Identity,
}

/// A room as `GET /rooms/{code}` shows it: its existence and size to any
/// signed-in user, its members only to members and its creator.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    room_id: String,
    room_code: String,
    peer_count: usize,
    max_peers: u32,
    /// Only for a member of the room or its creator.
    #[serde(skip_serializing_if = "Option::is_none")]
    peers: Option<Vec<PeerView>>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IceServers {
    #[schema(value_type = Vec<Object>)]
    ice_servers: Vec<IceServer>,
}

#[utoipa::path(post, path = "/rooms", request_body = CreateRoomRequest, responses(
    (status = 201, body = RoomCreated), (status = 401, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create_room(
    State(s): State<HttpState>,
    Caller(who): Caller,
    Body(body): Body<CreateRoomRequest>,
) -> Result<(StatusCode, Json<RoomCreated>), ApiError> {
    let request = body.validate().map_err(ApiError::Validation)?;
    let RoomInfo {
        room_id, room_code, ..
    } = s
        .app
        .room_quota
        .create(s.app.rooms.as_ref(), request, &who.user_id)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RoomCreated { room_id, room_code }),
    ))
}

#[utoipa::path(get, path = "/rooms/{code}", params(("code" = String, Path)), responses(
    (status = 200, body = RoomView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
    (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get_room(
    State(s): State<HttpState>,
    ClientAddr(addr): ClientAddr,
    Caller(who): Caller,
    PathText(code): PathText,
) -> Result<Json<RoomView>, ApiError> {
    // Counted as a miss until found: guessing codes is throttled per address.
    let lookup = s
        .limits
        .room_misses
        .reserve(address_key(addr))
        .map_err(ApiError::TooManyAttempts)?;
    let Some(code) = RoomCode::parse(&code) else {
        return Err(ApiError::RoomNotFound);
    };
    let snapshot = s
        .app
        .rooms
        .snapshot(&code)
        .await?
        .ok_or(ApiError::RoomNotFound)?;
    s.limits.room_misses.release(lookup);
    let RoomSnapshot { room, peers } = snapshot;
    let insider =
        room.created_by == who.user_id || peers.iter().any(|m| m.user_info.user_id == who.user_id);
    Ok(Json(RoomView {
        room_id: room.room_id,
        room_code: room.room_code,
        peer_count: peers.len(),
        max_peers: room.max_peers,
        peers: insider.then(|| {
            peers
                .into_iter()
                .map(|Member { id, user_info }| PeerView { id, user_info })
                .collect()
        }),
    }))
}

#[utoipa::path(get, path = "/ice-servers", responses((status = 200, body = IceServers), (status = 401, body = ErrorBody),
    (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn ice_servers(State(s): State<HttpState>, Caller(who): Caller) -> Json<IceServers> {
    Json(IceServers {
        ice_servers: s.app.ice.servers_for(&who.user_id),
    })
}
