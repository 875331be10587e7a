//! Every way an event can fail, and how a failure reaches the client: the error
//! event(s) and the ack, in this one place (PROTOCOL.md §4).

use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef};

use crate::cluster::adapter::NodeAdapter;
use crate::protocol::ErrorCode;
use crate::rooms::RoomError;
use crate::state::ErrorReporting;

/// The messages are the wire's (docs/WIRE-DETAILS.md), exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("Room not found")]
    RoomNotFound,
    #[error("Room already exists")]
    RoomExists,
    #[error("Room is full")]
    RoomFull,
    #[error("Target peer not found")]
    PeerNotFound { target: Option<String> },
    #[error("You are not in a room")]
    NotInRoom,
    #[error("{0}")]
    InvalidPayload(String),
    #[error("Too many events")]
    RateLimited,
    #[error("Too many rooms")]
    TooManyRooms,
    #[error("Unauthorized")]
    Unauthorized,
    /// A verified token whose user the app does not have (the incumbent's words).
    #[error("User not found")]
    UserNotFound,
    /// The app's database or API did not answer; the client may retry.
    #[error("Service unavailable")]
    Unavailable(String),
    /// The detail goes to the log, never to the client.
    #[error("Internal server error")]
    Internal(String),
}

impl EventError {
    pub fn code(&self) -> ErrorCode {
        match self {
            EventError::RoomNotFound => ErrorCode::RoomNotFound,
            EventError::RoomExists => ErrorCode::RoomExists,
            EventError::RoomFull => ErrorCode::RoomFull,
            EventError::PeerNotFound { .. } => ErrorCode::PeerNotFound,
            EventError::NotInRoom => ErrorCode::NotInRoom,
            EventError::InvalidPayload(_) => ErrorCode::InvalidPayload,
            EventError::RateLimited => ErrorCode::RateLimited,
            EventError::TooManyRooms => ErrorCode::TooManyRooms,
            EventError::Unauthorized | EventError::UserNotFound => ErrorCode::Unauthorized,
            EventError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            EventError::Internal(_) => ErrorCode::InternalError,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        EventError::InvalidPayload(message.into())
    }

    pub fn internal(detail: impl std::fmt::Display) -> Self {
        EventError::Internal(detail.to_string())
    }

    /// The error event's payload: `{ code, message, status: "error", event, ...extra }`.
    pub fn payload(&self, event: &str, reporting: &ErrorReporting) -> Value {
        let mut body = json!({
            "code": self.code().as_str(),
            "message": self.to_string(),
            "status": "error",
            "event": event,
        });
        match self {
            EventError::RoomFull => {
                if let Some(url) = &reporting.sfu_url {
                    body["sfuUrl"] = json!(url);
                }
            }
            EventError::PeerNotFound {
                target: Some(target),
            } => body["targetPeerId"] = json!(target),
            EventError::Internal(detail) => tracing::error!(event, detail, "event failed"),
            EventError::Unavailable(detail) => tracing::warn!(event, detail, "app lookup failed"),
            _ => {}
        }
        body
    }

    /// Emits the error to the sender alone, on every configured error event,
    /// and answers its ack with `{ error: { code, message } }`.
    pub fn send(
        &self,
        socket: &SocketRef<NodeAdapter>,
        event: &str,
        reporting: &ErrorReporting,
        ack: Option<AckSender<NodeAdapter>>,
    ) {
        let body = self.payload(event, reporting);
        for name in &reporting.events {
            let _ = socket.emit(name, &body);
        }
        if let Some(ack) = ack {
            let _ = ack.send(
                &json!({ "error": { "code": self.code().as_str(), "message": self.to_string() } }),
            );
        }
    }
}

impl From<RoomError> for EventError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::NotFound => EventError::RoomNotFound,
            RoomError::Exists => EventError::RoomExists,
            RoomError::Full => EventError::RoomFull,
            RoomError::TooMany => EventError::TooManyRooms,
            RoomError::Unavailable(detail) => EventError::Internal(detail),
            RoomError::AppUnavailable(detail) => EventError::Unavailable(detail),
        }
    }
}
