//! Rooms and ICE servers over REST: `POST /rooms`, `GET /rooms/{code}`, `GET /ice-servers`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use super::HttpState;
use super::error::ApiError;
use super::extract::{Body, Caller};
use crate::ice::IceServer;
use crate::rooms::{CreateRoom, Member, RoomCode, RoomInfo};

pub fn routes() -> Router<HttpState> {
    Router::new()
        .route("/rooms", post(create_room))
        .route("/rooms/{code}", get(get_room))
        .route("/ice-servers", get(ice_servers))
}

#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub struct CreateRoomBody {
    room_code: Option<String>,
    max_peers: Option<u32>,
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

#[utoipa::path(post, path = "/rooms", request_body = CreateRoomBody, responses(
    (status = 201, body = RoomCreated), (status = 401, body = super::openapi::ErrorBody),
    (status = 409, body = super::openapi::ErrorBody), (status = 422, body = super::openapi::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn create_room(
    State(s): State<HttpState>,
    _: Caller,
    body: Body,
) -> Result<(StatusCode, Json<RoomCreated>), ApiError> {
    let request = CreateRoom::from_json(&body.into_value()).map_err(ApiError::Validation)?;
    let RoomInfo {
        room_id, room_code, ..
    } = request.create(s.app.rooms.as_ref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(RoomCreated { room_id, room_code }),
    ))
}

#[utoipa::path(get, path = "/rooms/{code}", params(("code" = String, Path)), responses(
    (status = 200, body = RoomView), (status = 401, body = super::openapi::ErrorBody), (status = 404, body = super::openapi::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn get_room(
    State(s): State<HttpState>,
    _: Caller,
    Path(code): Path<String>,
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

#[utoipa::path(get, path = "/ice-servers", responses((status = 200, body = IceServers), (status = 401, body = super::openapi::ErrorBody)),
    security(("api_key" = []), ("bearer" = [])))]
pub async fn ice_servers(State(s): State<HttpState>, Caller(who): Caller) -> Json<IceServers> {
    Json(IceServers {
        ice_servers: s.app.ice.servers_for(&who.user_id),
    })
}
