//! The signaling client: one Socket.IO connection to the gateway.
//!
//! [`SignalingClient::connect`] authenticates (JWT or API key), waits until the
//! namespace is really connected and returns the client together with a
//! [`SignalingEvents`] stream carrying every event the gateway sends, typed
//! ([`SignalingEvent`]). Room operations wait for the gateway's ack. A
//! dropped connection is reconnected (with backoff) and the room rejoined:
//! the stream then carries [`SignalingEvent::Disconnected`],
//! [`SignalingEvent::Reconnected`] with the new socket id, and the new
//! `room:joined`.

mod client;
mod credential;
mod error;
mod socket;
mod types;

pub use client::{EVENT_QUEUE, SignalingClient, SignalingEvents, SignalingOptions};
pub use credential::Credential;
pub use error::SignalingError;
pub use types::*;
