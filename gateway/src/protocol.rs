//! The words of the wire contract (PROTOCOL.md §3–4): event names, the relay
//! kinds and the error codes. A leaf module: it depends on nothing else in the
//! crate, and everything that speaks the protocol (the event handlers, the
//! metrics, the shared state) takes its words from here.

/// Event names, client to server and server to client.
pub mod event {
    pub const CREATE_ROOM: &str = "create:room";
    pub const ROOM_CREATED: &str = "room:created";
    pub const JOIN_ROOM: &str = "join:room";
    pub const ROOM_JOINED: &str = "room:joined";
    pub const LEAVE_ROOM: &str = "leave:room";
    pub const ROOM_LEFT: &str = "room:left";
    pub const PEER_JOINED: &str = "peer:joined";
    pub const PEER_LEFT: &str = "peer:left";
    pub const OFFER: &str = "webrtc:offer";
    pub const ANSWER: &str = "webrtc:answer";
    pub const ICE: &str = "webrtc:ice";
    pub const MEDIA_STATE: &str = "media:state";
    pub const MEDIA_STATE_CHANGED: &str = "media:state_changed";
    pub const PING: &str = "ping";
    pub const PONG: &str = "pong";
    /// The `event` field of a handshake refusal in `AUTH_FAILURE=event` mode.
    pub const CONNECTION: &str = "connection";
}

/// The three signaling messages the gateway relays to one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayKind {
    Offer = 0,
    Answer = 1,
    Ice = 2,
}

impl RelayKind {
    pub const ALL: [RelayKind; 3] = [RelayKind::Offer, RelayKind::Answer, RelayKind::Ice];

    pub fn from_event(name: &str) -> Option<Self> {
        match name {
            event::OFFER => Some(RelayKind::Offer),
            event::ANSWER => Some(RelayKind::Answer),
            event::ICE => Some(RelayKind::Ice),
            _ => None,
        }
    }

    pub fn event(self) -> &'static str {
        match self {
            RelayKind::Offer => event::OFFER,
            RelayKind::Answer => event::ANSWER,
            RelayKind::Ice => event::ICE,
        }
    }

    /// The payload field that carries the signaling data.
    pub fn field(self) -> &'static str {
        match self {
            RelayKind::Offer => "offer",
            RelayKind::Answer => "answer",
            RelayKind::Ice => "candidate",
        }
    }
}

/// The `code` of an error event (PROTOCOL.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    RoomNotFound,
    RoomExists,
    RoomFull,
    PeerNotFound,
    NotInRoom,
    InvalidPayload,
    RateLimited,
    TooManyRooms,
    Unauthorized,
    ServiceUnavailable,
    InternalError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::RoomNotFound => "ROOM_NOT_FOUND",
            ErrorCode::RoomExists => "ROOM_EXISTS",
            ErrorCode::RoomFull => "ROOM_FULL",
            ErrorCode::PeerNotFound => "PEER_NOT_FOUND",
            ErrorCode::NotInRoom => "NOT_IN_ROOM",
            ErrorCode::InvalidPayload => "INVALID_PAYLOAD",
            ErrorCode::RateLimited => "RATE_LIMITED",
            ErrorCode::TooManyRooms => "TOO_MANY_ROOMS",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::InternalError => "INTERNAL_ERROR",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_kinds_round_trip_through_their_event_names() {
        for kind in RelayKind::ALL {
            assert_eq!(RelayKind::from_event(kind.event()), Some(kind));
        }
        assert_eq!(RelayKind::from_event("webrtc:other"), None);
        assert_eq!(
            RelayKind::ALL.map(RelayKind::field),
            ["offer", "answer", "candidate"]
        );
    }
}
