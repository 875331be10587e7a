//! A socket's outgoing relays, bounded in bytes (`MAX_SEND_BUFFER`).
//!
//! Relays are the one kind of message whose size another client chooses (an
//! offer may be 80 KiB), so they are what a peer that stops reading would
//! pile up: Engine.IO's queue bounds packets, not bytes. Every relay to a
//! socket goes through its outbox, which counts what it has queued, in order,
//! and learns from the socket's [`Drain`] how many of them have been
//! written out to the client since; the difference is what the process still
//! holds for it. A relay that would take that past the budget is not sent:
//! the socket is cut off instead (its peers see it leave), and the sender's
//! relay fails as for any peer that is gone. The sender is never held back.
//!
//! Everything else the gateway sends a socket is small (room events, acks,
//! errors: their sizes are bounded by claims, room size and truncated
//! messages), so Engine.IO's packet count bounds it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use socketioxide::extract::SocketRef;
use socketioxide::{SendError, SocketError};

use crate::adapter::Adapter;
use crate::send_buffer::drain::Drain;

/// What a queued message costs besides its bytes: its slot in Engine.IO's
/// queue and the allocation holding it.
pub const PER_MESSAGE: usize = 256;

#[derive(Clone)]
pub struct Outbox(Arc<Inner>);

struct Inner {
    budget: usize,
    drain: Arc<Drain>,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    /// The cost of each relay queued and not yet seen delivered, oldest first.
    costs: VecDeque<usize>,
    held: usize,
    /// Delivered relays already taken off `costs`.
    seen: u64,
    /// Cut off: the socket is on its way out (socketioxide removes it from
    /// the namespace a moment later), nothing more goes to it.
    cut: bool,
}

/// Why a relay was not handed to the socket.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The socket holds too much already: cut it off.
    Full,
    /// The socket is gone.
    Closed,
}

impl Outbox {
    pub fn new(budget: usize, drain: Arc<Drain>) -> Self {
        Self(Arc::new(Inner {
            budget,
            drain,
            queue: Mutex::new(Queue::default()),
        }))
    }

    /// Emits `message` as `event` to `socket`, whose outbox this is, when it
    /// has room for `size` more bytes.
    pub fn relay<T: Serialize + ?Sized>(
        &self,
        socket: &SocketRef<Adapter>,
        event: &str,
        message: &T,
        size: usize,
    ) -> Result<(), Refused> {
        let cost = size + PER_MESSAGE;
        let mut queue = self.0.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.cut {
            return Err(Refused::Closed);
        }
        queue.catch_up(self.0.drain.relays());
        if queue.held + cost > self.0.budget {
            return Err(Refused::Full);
        }
        // Queued and counted under one lock, so the order of `costs` is the
        // order of Engine.IO's queue.
        match socket.emit(event, message) {
            Ok(()) => {
                queue.costs.push_back(cost);
                queue.held += cost;
                Ok(())
            }
            Err(SendError::Socket(SocketError::InternalChannelFull)) => Err(Refused::Full),
            Err(_) => Err(Refused::Closed),
        }
    }

    /// Bytes of relays queued for the socket and not yet written out.
    pub fn held(&self) -> usize {
        let mut queue = self.0.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.catch_up(self.0.drain.relays());
        queue.held
    }

    /// Cuts the socket off: its connection fails, Engine.IO closes it, and
    /// the socket leaves its room like any other that disconnects.
    pub fn cut(&self, socket: SocketRef<Adapter>) {
        self.0.queue.lock().unwrap_or_else(|p| p.into_inner()).cut = true;
        self.0.drain.cut();
        // Fails when Engine.IO's queue is full; the connection's end then
        // closes the socket instead.
        let _ = socket.disconnect();
    }
}

impl Queue {
    /// Takes the relays delivered since the last look off the front.
    fn catch_up(&mut self, delivered: u64) {
        let mut fresh = delivered.saturating_sub(self.seen);
        while fresh > 0 {
            let Some(cost) = self.costs.pop_front() else {
                break;
            };
            self.held -= cost;
            fresh -= 1;
        }
        // More delivered than queued here can only be relays that did not go
        // through this outbox; they are not owed anything.
        self.seen = delivered;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivered_relays_are_taken_off_in_order() {
        let mut q = Queue::default();
        for cost in [10, 20, 30] {
            q.costs.push_back(cost);
            q.held += cost;
        }
        q.catch_up(2);
        assert_eq!((q.held, q.costs.len()), (30, 1));
        q.catch_up(2);
        assert_eq!(q.held, 30);
        // Delivered beyond what was queued: nothing goes negative, and the
        // surplus is not banked for later relays.
        q.catch_up(9);
        assert_eq!((q.held, q.costs.len()), (0, 0));
        q.costs.push_back(5);
        q.held += 5;
        q.catch_up(9);
        assert_eq!(q.held, 5);
    }
}
