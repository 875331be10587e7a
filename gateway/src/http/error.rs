//! Every REST failure, mapped to HTTP in this one place:
//! `{ "error": { "code", "message" } }` with a fitting status; no internals.

use std::time::Duration;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::accounts::AccountError;
use crate::auth::AuthError;
use crate::limits::Limited;
use crate::rooms::RoomError;

/// `{ "error": { "code", "message" } }`: the body of every REST failure.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    #[schema(value_type = Object, example = json!({ "code": "WRONG_CREDENTIALS", "message": "wrong username or password" }))]
    error: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("request body is not a JSON object")]
    InvalidJson,
    #[error("request body could not be read")]
    UnreadableBody,
    #[error("{0}")]
    InvalidPayload(String),
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("{0}")]
    Validation(String),
    #[error("authentication required")]
    Unauthorized,
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("username is taken")]
    UsernameTaken,
    #[error("room not found")]
    RoomNotFound,
    #[error("no such route")]
    NoRoute,
    #[error("room already exists")]
    RoomExists,
    #[error("too many failed attempts; retry later")]
    TooManyAttempts(Duration),
    #[error("too many requests; retry later")]
    RateLimited(Duration),
    #[error("too many rooms")]
    TooManyRooms,
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    #[error("{0}")]
    InvalidPath(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("server busy; retry shortly")]
    Busy,
    /// The app's database or API did not answer; the detail is logged.
    #[error("service unavailable, retry later")]
    Unavailable(String),
    /// The detail is logged, never sent.
    #[error("internal server error")]
    Internal(String),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::InvalidJson => (StatusCode::BAD_REQUEST, "INVALID_JSON"),
            ApiError::UnreadableBody => (StatusCode::BAD_REQUEST, "INVALID_BODY"),
            ApiError::InvalidPayload(_) => (StatusCode::BAD_REQUEST, "INVALID_PAYLOAD"),
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"),
            ApiError::Validation(_) => (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED"),
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            ApiError::WrongCredentials => (StatusCode::UNAUTHORIZED, "WRONG_CREDENTIALS"),
            ApiError::UsernameTaken => (StatusCode::CONFLICT, "USERNAME_TAKEN"),
            ApiError::RoomNotFound => (StatusCode::NOT_FOUND, "ROOM_NOT_FOUND"),
            ApiError::NoRoute => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ApiError::RoomExists => (StatusCode::CONFLICT, "ROOM_EXISTS"),
            ApiError::TooManyAttempts(_) | ApiError::RateLimited(_) => {
                (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ATTEMPTS")
            }
            ApiError::TooManyRooms => (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_ROOMS"),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE")
            }
            ApiError::InvalidPath(_) => (StatusCode::BAD_REQUEST, "INVALID_PATH"),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED"),
            ApiError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "SERVER_BUSY"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(detail) => tracing::error!(detail, "request failed"),
            ApiError::Unavailable(detail) => tracing::warn!(detail, "app lookup failed"),
            _ => {}
        }
        let (status, code) = self.status_and_code();
        let body = Json(json!({ "error": { "code": code, "message": self.to_string() } }));
        let mut response = (status, body).into_response();
        let retry = match &self {
            ApiError::TooManyAttempts(retry) | ApiError::RateLimited(retry) => Some(*retry),
            ApiError::Busy => Some(Duration::from_secs(1)),
            _ => None,
        };
        if let Some(retry) = retry {
            // Rounded up: a client retrying on time must not be refused again.
            let secs = retry.as_secs_f64().ceil().max(1.0).to_string();
            if let Ok(v) = HeaderValue::from_str(&secs) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::InvalidUsername | AccountError::InvalidPassword => {
                ApiError::Validation(e.to_string())
            }
            AccountError::UsernameTaken => ApiError::UsernameTaken,
            AccountError::WrongCredentials => ApiError::WrongCredentials,
            AccountError::Busy(_) => ApiError::Busy,
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// A refused credential is 401 whatever the reason (logged at debug), unless
/// the app could not be asked: 503, so the client retries rather than logs out.
impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::Lookup(e) => ApiError::Unavailable(e.to_string()),
            other => {
                tracing::debug!(reason = %other, "credential refused");
                ApiError::Unauthorized
            }
        }
    }
}

impl From<RoomError> for ApiError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::NotFound => ApiError::RoomNotFound,
            RoomError::Exists => ApiError::RoomExists,
            RoomError::Full => ApiError::Validation("room is full".into()),
            RoomError::TooMany => ApiError::TooManyRooms,
            RoomError::Unavailable(detail) => ApiError::Internal(detail),
            RoomError::AppUnavailable(detail) => ApiError::Unavailable(detail),
        }
    }
}

impl From<Limited> for ApiError {
    fn from(limited: Limited) -> Self {
        ApiError::RateLimited(limited.retry_after)
    }
}
