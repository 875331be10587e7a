//! The signaling client: one Socket.IO connection to the gateway.
//!
//! [`SignalingClient::connect`] authenticates (JWT or API key), waits until the
//! namespace is really connected and returns the client together with a
//! [`SignalingEvents`] stream carrying every event the gateway sends, typed
//! ([`SignalingEvent`]). Room operations wait for the gateway's ack. The
//! Socket.IO protocol is rust_socketio's (async client); a dropped connection
//! is reconnected by it (bounded backoff) and the room rejoined here: the
//! stream then carries [`SignalingEvent::Disconnected`],
//! [`SignalingEvent::Reconnected`] with the new peer id, and the new
//! `room:joined`. Our own id is the one `room:joined.peerId` gives.

mod client;
mod connection;
mod credential;
mod error;
mod types;

pub use client::{EVENT_QUEUE, SignalingClient, SignalingEvents, SignalingOptions};
pub use connection::Transport;
pub use credential::Credential;
pub use error::SignalingError;
pub use types::*;
