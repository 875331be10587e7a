//! One connected socket: who it is, which room it is in, and the task that
//! works through its events in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use tokio::sync::mpsc;

use super::error::EventError;
use super::inbox::Inbound;
use super::{Ack, dispatch, rooms};
use crate::auth::Identity;
use crate::rooms::RoomInfo;
use crate::state::AppState;

pub struct Session {
    pub socket: SocketRef,
    pub io: SocketIo,
    pub state: Arc<AppState>,
    pub identity: Identity,
    /// The one room this socket is in, if any. Only this session's task changes it.
    pub room: Option<RoomInfo>,
}

impl Session {
    pub fn id(&self) -> String {
        self.socket.id.to_string()
    }

    /// Handles the socket's events one after another until it disconnects, then
    /// takes it out of its room.
    pub async fn run(
        mut self,
        mut inbox: mpsc::UnboundedReceiver<Inbound>,
        in_flight: Arc<AtomicUsize>,
    ) {
        while let Some(message) = inbox.recv().await {
            match message {
                Inbound::Event {
                    event,
                    payload,
                    ack,
                    received,
                } => {
                    let outcome = dispatch(&mut self, &event, payload, received).await;
                    self.answer(&event, outcome, ack);
                    in_flight.fetch_sub(1, Ordering::AcqRel);
                }
                Inbound::Disconnected => break,
            }
        }
        if let Err(e) = rooms::leave_current(&mut self).await {
            tracing::warn!(socket = %self.socket.id, error = %e, "cleanup after disconnect failed");
        }
    }

    fn answer(
        &self,
        event: &str,
        outcome: Result<Ack, EventError>,
        ack: Option<socketioxide::extract::AckSender>,
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
                let code = err.code();
                self.state
                    .metrics
                    .errors
                    .get_or_create(&crate::metrics::CodeLabel { code })
                    .inc();
                self.state.errors.send(&self.socket, event, &err, ack);
            }
        }
    }
}
