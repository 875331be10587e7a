//! Keeps each socket's events in the order they arrived.
//!
//! socketioxide spawns one task per incoming event, and tokio does not run
//! spawned tasks in spawn order, so two ICE candidates sent back to back could be
//! relayed swapped. Extractors, though, run synchronously in arrival order. The
//! [`Enqueued`] extractor therefore does the order-sensitive part — charging the
//! rate limit and pushing the event onto the socket's inbox — and one task per
//! socket ([`super::session`]) works through the inbox in order.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use socketioxide::adapter::LocalAdapter;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::{FromMessage, FromMessageParts};
use socketioxide::socket::Socket;
use tokio::sync::mpsc;

use super::error::EventError;
use super::rate_limit::TokenBucket;
use crate::state::AppState;

/// What the socket's task receives, in order.
pub enum Inbound {
    Event {
        event: String,
        payload: Value,
        ack: Option<AckSender>,
        received: Instant,
    },
    Disconnected,
}

/// Stored in the socket's extensions at connect time.
#[derive(Clone)]
pub struct Inbox(Arc<InboxInner>);

struct InboxInner {
    tx: mpsc::UnboundedSender<Inbound>,
    budget: Mutex<TokenBucket>,
    state: Arc<AppState>,
    in_flight: Arc<AtomicUsize>,
}

impl Inbox {
    pub fn new(
        state: Arc<AppState>,
        in_flight: Arc<AtomicUsize>,
    ) -> (Self, mpsc::UnboundedReceiver<Inbound>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let budget = Mutex::new(TokenBucket::new(
            state.limits.rate_limit_burst,
            state.limits.rate_limit_per_sec,
        ));
        (
            Self(Arc::new(InboxInner {
                tx,
                budget,
                state,
                in_flight,
            })),
            rx,
        )
    }

    pub fn close(&self) {
        let _ = self.0.tx.send(Inbound::Disconnected);
    }
}

/// Marker returned once an event has been queued (or refused for its budget).
pub struct Enqueued;

impl FromMessage<LocalAdapter> for Enqueued {
    type Error = Infallible;

    fn from_message(
        s: Arc<Socket>,
        mut v: socketioxide_core::Value,
        ack_id: Option<i64>,
    ) -> Result<Self, Infallible> {
        let received = Instant::now();
        let Some(Inbox(inbox)) = s.extensions.get::<Inbox>() else {
            return Ok(Enqueued);
        };
        let event = Event::from_message_parts(&s, &mut v, &ack_id)
            .map(|Event(e)| e)
            .unwrap_or_default();
        let ack = ack_id.and_then(|_| AckSender::from_message_parts(&s, &mut v, &ack_id).ok());

        let allowed = inbox.budget.lock().map(|mut b| b.take()).unwrap_or(true);
        if !allowed {
            let socket = SocketRef::from(s);
            inbox
                .state
                .metrics
                .errors
                .get_or_create(&crate::metrics::CodeLabel {
                    code: "RATE_LIMITED",
                })
                .inc();
            inbox
                .state
                .errors
                .send(&socket, &event, &EventError::RateLimited, ack);
            return Ok(Enqueued);
        }
        // A missing payload (`emit("create:room", ack)`) arrives as an error: treat it as null.
        let payload = TryData::<Value>::from_message_parts(&s, &mut v, &ack_id)
            .ok()
            .and_then(|TryData(data)| data.ok())
            .unwrap_or(Value::Null);
        // The session decrements once the event is answered.
        inbox.in_flight.fetch_add(1, Ordering::AcqRel);
        let queued = inbox.tx.send(Inbound::Event {
            event,
            payload,
            ack,
            received,
        });
        if queued.is_err() {
            inbox.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        Ok(Enqueued)
    }
}
