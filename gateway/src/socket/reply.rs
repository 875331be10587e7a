//! How an event's outcome reaches its sender: the ack on success, the error
//! event(s) and the ack on failure (PROTOCOL.md §3 "Acknowledgements").

use serde_json::{Value, json};
use socketioxide::extract::AckSender;

use crate::adapter::Adapter;
use crate::socket::error::EventError;
use crate::socket::session::Session;

/// What a successful event answers to its ack.
pub enum Ack {
    /// `{ ok: true }`
    Ok,
    /// The payload the event emitted.
    Payload(Value),
    /// Nothing (unknown events, like Socket.IO does).
    None,
}

/// Answers one event: its ack, or the error event and ack.
pub fn answer(
    session: &Session,
    event: &str,
    outcome: Result<Ack, EventError>,
    ack: Option<AckSender<Adapter>>,
) {
    match outcome {
        Ok(reply) => {
            if let Some(ack) = ack {
                let _ = match reply {
                    Ack::Ok => ack.send(&json!({ "ok": true })),
                    Ack::Payload(payload) => ack.send(&payload),
                    Ack::None => Ok(()),
                };
            }
        }
        Err(err) => {
            let state = &session.state;
            state.metrics.error(err.code());
            err.send(&session.socket, event, &state.errors, ack);
        }
    }
}
