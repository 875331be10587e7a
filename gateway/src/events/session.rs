//! One connected socket: who it is and which room it is in. Its events are
//! handled one at a time, in order, by the inbox's drain (see [`super::inbox`]).

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use socketioxide::extract::{AckSender, SocketRef};

use super::error::EventError;
use super::packet::Packet;
use super::{Ack, dispatch, rooms};
use crate::auth::Identity;
use crate::rooms::RoomInfo;
use crate::state::AppState;

pub struct Session {
    pub socket: SocketRef,
    pub state: Arc<AppState>,
    pub identity: Identity,
    /// The one room this socket is in, if any.
    pub room: Option<RoomInfo>,
}

impl Session {
    pub fn id(&self) -> String {
        self.socket.id.to_string()
    }

    /// Handles one event and answers it.
    pub async fn handle(
        &mut self,
        event: &str,
        packet: Packet,
        ack: Option<AckSender>,
        received: Instant,
    ) {
        let outcome = dispatch(self, event, &packet, received).await;
        self.answer(event, outcome, ack);
    }

    /// Answers an event: its ack, or the error event and ack.
    pub fn answer(&self, event: &str, outcome: Result<Ack, EventError>, ack: Option<AckSender>) {
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
                self.state.metrics.error(&err);
                self.state.errors.send(&self.socket, event, &err, ack);
            }
        }
    }

    /// The socket is gone: take it out of its room.
    pub async fn end(mut self) {
        if let Err(e) = rooms::leave_current(&mut self).await {
            tracing::warn!(socket = %self.socket.id, error = %e, "cleanup after disconnect failed");
        }
        self.state.metrics.sockets.dec();
    }
}
