//! Every way an event can fail, and how a failure reaches the client: the error
//! event(s) and the ack, in this one place (PROTOCOL.md §4).

use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef};

use crate::rooms::RoomError;

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
    #[error("Unauthorized")]
    Unauthorized,
    /// The detail goes to the log, never to the client.
    #[error("Internal server error")]
    Internal(String),
}

impl EventError {
    pub fn code(&self) -> &'static str {
        match self {
            EventError::RoomNotFound => "ROOM_NOT_FOUND",
            EventError::RoomExists => "ROOM_EXISTS",
            EventError::RoomFull => "ROOM_FULL",
            EventError::PeerNotFound { .. } => "PEER_NOT_FOUND",
            EventError::NotInRoom => "NOT_IN_ROOM",
            EventError::InvalidPayload(_) => "INVALID_PAYLOAD",
            EventError::RateLimited => "RATE_LIMITED",
            EventError::Unauthorized => "UNAUTHORIZED",
            EventError::Internal(_) => "INTERNAL_ERROR",
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        EventError::InvalidPayload(message.into())
    }
}

impl From<RoomError> for EventError {
    fn from(e: RoomError) -> Self {
        match e {
            RoomError::NotFound => EventError::RoomNotFound,
            RoomError::Exists => EventError::RoomExists,
            RoomError::Full => EventError::RoomFull,
            RoomError::Unavailable(detail) => EventError::Internal(detail),
        }
    }
}

/// Sends failures to the wire as configured (`ERROR_EVENT`, `SFU_URL`).
pub struct ErrorWire {
    pub events: Vec<String>,
    pub sfu_url: Option<String>,
}

impl ErrorWire {
    /// The error event's payload: `{ code, message, status: "error", event, ...extra }`.
    pub fn payload(&self, event: &str, err: &EventError) -> Value {
        let mut body = json!({
            "code": err.code(),
            "message": err.to_string(),
            "status": "error",
            "event": event,
        });
        match err {
            EventError::RoomFull => {
                if let Some(url) = &self.sfu_url {
                    body["sfuUrl"] = json!(url);
                }
            }
            EventError::PeerNotFound {
                target: Some(target),
            } => body["targetPeerId"] = json!(target),
            EventError::Internal(detail) => tracing::error!(event, detail, "event failed"),
            _ => {}
        }
        body
    }

    /// Emits the error to the sender alone and answers its ack with
    /// `{ error: { code, message } }`.
    pub fn send(&self, socket: &SocketRef, event: &str, err: &EventError, ack: Option<AckSender>) {
        let body = self.payload(event, err);
        for name in &self.events {
            let _ = socket.emit(name, &body);
        }
        if let Some(ack) = ack {
            let _ =
                ack.send(&json!({ "error": { "code": err.code(), "message": err.to_string() } }));
        }
    }
}
