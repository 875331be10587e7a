//! What every socket of the node shares: the event table its inbox hands
//! events to, the tasks that handle them, and the count of events in flight
//! (so that shutdown can let queued relays go out before closing sockets,
//! then wait for the tasks).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

use super::error::EventError;
use super::packet::Packet;
use super::reply::Ack;
use super::session::Session;

/// The protocol's event table, as the socket machinery sees it: implemented
/// by the handlers (`events::Table`), so that this folder knows none of them.
#[async_trait]
pub trait EventTable: Send + Sync + 'static {
    /// The table's own name for `name` when there is a handler for it (so
    /// that a queued event keeps its name without a copy). Any other event
    /// is dropped before the rate limit, with no reply.
    fn handled(&self, name: &str) -> Option<&'static str>;

    /// Handles an event from the socket's queue, in its turn.
    async fn dispatch(
        &self,
        session: &mut Session,
        name: &str,
        packet: &Packet,
        received: Instant,
    ) -> Result<Ack, EventError>;

    /// Handles an event at once, inside the message handler, when nothing is
    /// queued before it and it needs no waiting; `None`: queue it.
    fn dispatch_now(
        &self,
        session: &mut Session,
        name: &str,
        packet: &Packet,
        received: Instant,
    ) -> Option<Result<Ack, EventError>>;

    /// The socket is gone; every event before its end was handled.
    async fn disconnected(&self, session: &mut Session);
}

/// Shared by every socket of the node.
#[derive(Clone)]
pub struct Sessions {
    pub tasks: TaskTracker,
    /// Events queued or being handled, across all sockets.
    pub in_flight: Arc<InFlight>,
    pub table: Arc<dyn EventTable>,
}

impl Sessions {
    pub fn new(table: Arc<dyn EventTable>) -> Self {
        Self {
            tasks: TaskTracker::new(),
            in_flight: Arc::default(),
            table,
        }
    }

    /// Resolves once no event is queued or being handled.
    pub async fn idle(&self) {
        self.in_flight.idle().await;
    }
}

/// Events queued or being handled, across all sockets, so that shutdown can
/// wait for them to go out.
#[derive(Default)]
pub struct InFlight {
    count: AtomicUsize,
    drained: Notify,
}

impl InFlight {
    pub fn add(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
    }

    pub fn done(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.drained.notify_waiters();
        }
    }

    /// Resolves once nothing is in flight.
    pub async fn idle(&self) {
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            // Registered before the check, so a `done` in between is not missed.
            drained.as_mut().enable();
            if self.count.load(Ordering::Acquire) == 0 {
                return;
            }
            drained.await;
        }
    }
}
