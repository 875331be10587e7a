//! Rooms and ICE servers over REST: `POST /rooms`, `GET /rooms/{code}`, `GET /ice-servers`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ErrorBody};
use super::extract::{Body, Caller, PathText};
use super::state::HttpState;
use crate::ice::IceServer;
use crate::rooms::{CreateRoomRequest, Member, RoomCode, RoomInfo};

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

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoomView {
    room_id: String,
    room_code: String,
    peers: Vec<PeerView>,
    max_peers: u32,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IceServers {
    #[schema(value_type = Vec<Object>)]
    ice_servers: Vec<IceServer>,
}

#[utoipa::path(post, path = "/rooms", request_body = CreateRoomRequest, responses(
    (status = 201, body = RoomCreated), (status = 401, body = ErrorBody),
    (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create_room(
    State(s): State<HttpState>,
    _: Caller,
    Body(body): Body<CreateRoomRequest>,
) -> Result<(StatusCode, Json<RoomCreated>), ApiError> {
    let request = body.validate().map_err(ApiError::Validation)?;
    let RoomInfo {
        room_id, room_code, ..
    } = request.create(s.app.rooms.as_ref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(RoomCreated { room_id, room_code }),
    ))
}

#[utoipa::path(get, path = "/rooms/{code}", params(("code" = String, Path)), responses(
    (status = 200, body = RoomView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get_room(
    State(s): State<HttpState>,
    _: Caller,
    PathText(code): PathText,
) -> Result<Json<RoomView>, ApiError> {
    let code = RoomCode::parse(&code).ok_or(ApiError::RoomNotFound)?;
    let snapshot = s
        .app
        .rooms
        .snapshot(&code)
        .await?
        .ok_or(ApiError::RoomNotFound)?;
    let peers = snapshot
        .peers
        .into_iter()
        .map(|Member { id, user_info }| PeerView { id, user_info })
        .collect();
    let RoomInfo {
        room_id,
        room_code,
        max_peers,
    } = snapshot.room;
    Ok(Json(RoomView {
        room_id,
        room_code,
        peers,
        max_peers,
    }))
}

#[utoipa::path(get, path = "/ice-servers", responses((status = 200, body = IceServers), (status = 401, body = ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn ice_servers(State(s): State<HttpState>, Caller(who): Caller) -> Json<IceServers> {
    Json(IceServers {
        ice_servers: s.app.ice.servers_for(&who.user_id),
    })
}
