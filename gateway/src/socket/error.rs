//! Every way an event can fail, and how a failure reaches the client: the error
//! event(s) and the ack, in this one place (PROTOCOL.md §4).

use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef};

use crate::adapter::Adapter;
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

    /// The message as the wire carries it: whatever a client put in it (a
    /// value serde quotes) is cut at [`MAX_ECHO`] bytes.
    pub fn message(&self) -> String {
        truncated(&self.to_string()).to_owned()
    }

    /// The error event's payload: `{ code, message, status: "error", event, ...extra }`.
    /// The event name is the client's, cut at [`MAX_ECHO`] bytes.
    pub fn payload(&self, event: &str, reporting: &ErrorReporting) -> Value {
        let mut body = json!({
            "code": self.code().as_str(),
            "message": self.message(),
            "status": "error",
            "event": truncated(event),
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
        socket: &SocketRef<Adapter>,
        event: &str,
        reporting: &ErrorReporting,
        ack: Option<AckSender<Adapter>>,
    ) {
        let body = self.payload(event, reporting);
        for name in &reporting.events {
            let _ = socket.emit(name, &body);
        }
        if let Some(ack) = ack {
            let _ = ack.send(
                &json!({ "error": { "code": self.code().as_str(), "message": self.message() } }),
            );
        }
    }
}

/// The most of a client's own text an error sends back to it: an error
/// answers every bad event, and must not echo a megabyte each time.
pub const MAX_ECHO: usize = 256;

/// `text` cut at [`MAX_ECHO`] bytes, on a character boundary.
fn truncated(text: &str) -> &str {
    if text.len() <= MAX_ECHO {
        return text;
    }
    let mut end = MAX_ECHO;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reporting() -> ErrorReporting {
        ErrorReporting {
            events: vec!["error".into()],
            sfu_url: None,
        }
    }

    #[test]
    fn what_a_client_wrote_is_echoed_at_most_max_echo_bytes() {
        let huge = format!("maxPeers: invalid type: string \"{}\"", "é".repeat(100_000));
        let err = EventError::invalid(huge);
        let body = err.payload(&"x".repeat(1_000_000), &reporting());
        let message = body["message"].as_str().unwrap();
        assert!(message.len() <= MAX_ECHO && message.len() > MAX_ECHO - 2);
        assert!(message.starts_with("maxPeers: invalid type: string \"éé"));
        assert_eq!(body["event"].as_str().unwrap().len(), MAX_ECHO);
        // Short ones are untouched.
        let body = EventError::NotInRoom.payload("webrtc:offer", &reporting());
        assert_eq!(
            body,
            json!({ "code": "NOT_IN_ROOM", "message": "You are not in a room", "status": "error", "event": "webrtc:offer" })
        );
    }
}
