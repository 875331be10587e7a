//! How an event's outcome reaches its sender: the ack on success, the error
//! event(s) and the ack on failure (PROTOCOL.md §3 "Acknowledgements"), in
//! the order of the sender's events, also when an outcome comes later
//! ([`Ack::Later`]: a relay to another node, acked on that node's receipt)
//! than the handling of the events after it.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use socketioxide::extract::{AckSender, SocketRef};
use tokio_util::task::TaskTracker;

use crate::adapter::Adapter;
use crate::socket::error::EventError;
use crate::state::AppState;

/// An outcome that comes after the event was handled.
pub type LaterAck = Pin<Box<dyn Future<Output = Result<Ack, EventError>> + Send>>;

/// What a successful event answers to its ack.
pub enum Ack {
    /// `{ ok: true }`
    Ok,
    /// The payload the event emitted.
    Payload(Value),
    /// Nothing (unknown events, like Socket.IO does).
    None,
    /// Known later; answered in its turn, after the replies before it and
    /// before those after it.
    Later(LaterAck),
}

/// A socket's replies waiting for an earlier one that comes later, in the
/// order of its events. Empty unless an [`Ack::Later`] is pending: then one
/// task answers them in order (the front is the one it waits for), and every
/// reply of the socket queues behind it.
#[derive(Clone)]
pub struct Replies {
    queue: Arc<Mutex<VecDeque<Waiting>>>,
    /// Where the task runs: a graceful shutdown waits for the pending acks.
    tasks: TaskTracker,
}

struct Waiting {
    event: &'static str,
    /// Taken by the task while it waits for it (it stays the front).
    outcome: Option<Result<Ack, EventError>>,
    ack: Option<AckSender<Adapter>>,
}

impl Replies {
    pub fn new(tasks: TaskTracker) -> Self {
        Self {
            queue: Arc::default(),
            tasks,
        }
    }
}

/// Answers one event: its ack, or the error event and ack; in its turn when
/// an earlier reply is still to come.
pub fn answer(
    replies: &Replies,
    socket: &SocketRef<Adapter>,
    state: &Arc<AppState>,
    event: &'static str,
    outcome: Result<Ack, EventError>,
    ack: Option<AckSender<Adapter>>,
) {
    let later = matches!(outcome, Ok(Ack::Later(_)));
    {
        let mut queue = replies.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.is_empty() && !later {
            drop(queue);
            return send(socket, state, event, outcome, ack);
        }
        let start = queue.is_empty();
        queue.push_back(Waiting {
            event,
            outcome: Some(outcome),
            ack,
        });
        if !start {
            return;
        }
    }
    let (queue, socket, state) = (replies.queue.clone(), socket.clone(), state.clone());
    replies.tasks.spawn(async move {
        loop {
            let (event, outcome, ack) = {
                let mut queue = queue.lock().unwrap_or_else(|p| p.into_inner());
                let Some(front) = queue.front_mut() else {
                    return;
                };
                (front.event, front.outcome.take(), front.ack.take())
            };
            let outcome = match outcome {
                Some(Ok(Ack::Later(later))) => later.await,
                Some(outcome) => outcome,
                None => Ok(Ack::None),
            };
            send(&socket, &state, event, outcome, ack);
            let mut queue = queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.pop_front();
            if queue.is_empty() {
                return;
            }
        }
    });
}

fn send(
    socket: &SocketRef<Adapter>,
    state: &AppState,
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
                    // A later outcome is awaited before it is sent.
                    Ack::None | Ack::Later(_) => Ok(()),
                };
            }
        }
        Err(err) => {
            state.metrics.error(err.code());
            err.send(socket, event, &state.errors, ack);
        }
    }
}
