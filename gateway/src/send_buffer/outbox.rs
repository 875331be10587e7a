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
//! All of a node's outboxes also draw on one [`NodeBudget`]: a relay that
//! would take the node past it first cuts off the sockets holding the most
//! ([`Outbox::make_room`]), so many slow readers together stay bounded too.
//!
//! Everything else the gateway sends a socket is small (room events, acks,
//! errors: their sizes are bounded by claims, room size and truncated
//! messages), so Engine.IO's packet count bounds it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};

use socketioxide::SocketError;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide_core::Str;

use crate::adapter::Adapter;
use crate::send_buffer::drain::Drain;
use crate::send_buffer::node::NodeBudget;

/// What a queued message costs besides its bytes: its slot in Engine.IO's
/// queue and the allocation holding it.
pub const PER_MESSAGE: usize = 256;

#[derive(Clone)]
pub struct Outbox(Arc<Inner>);

struct Inner {
    budget: usize,
    drain: Arc<Drain>,
    queue: Mutex<Queue>,
    /// The node's outboxes, when this one counts against the node's budget.
    node: Option<(Outboxes, Sid)>,
}

/// Every outbox of the node that draws on its [`NodeBudget`].
#[derive(Clone)]
pub struct Outboxes(Arc<Shared>);

struct Shared {
    budget: NodeBudget,
    all: Mutex<HashMap<Sid, Weak<Inner>>>,
}

impl Outboxes {
    pub fn new(budget: NodeBudget) -> Self {
        Self(Arc::new(Shared {
            budget,
            all: Mutex::new(HashMap::new()),
        }))
    }

    /// The outbox of socket `sid`: at most `budget` bytes of its own, and
    /// what it holds counted against the node's budget.
    pub fn open(&self, sid: Sid, budget: usize, drain: Arc<Drain>) -> Outbox {
        let outbox = Outbox(Arc::new(Inner {
            budget,
            drain,
            queue: Mutex::new(Queue::default()),
            node: Some((self.clone(), sid)),
        }));
        self.lock().insert(sid, Arc::downgrade(&outbox.0));
        outbox
    }

    /// Bytes held by all of the node's sockets.
    pub fn held(&self) -> usize {
        self.0.budget.held()
    }

    /// The socket holding the most, and how much.
    fn largest(&self) -> Option<(Sid, usize)> {
        let all: Vec<(Sid, Arc<Inner>)> = self
            .lock()
            .iter()
            .filter_map(|(sid, inner)| Some((*sid, inner.upgrade()?)))
            .collect();
        all.into_iter()
            .map(|(sid, inner)| (sid, Outbox(inner).held()))
            .max_by_key(|&(_, held)| held)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Sid, Weak<Inner>>> {
        self.0.all.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let Some((node, sid)) = &self.node else {
            return;
        };
        let held = self.queue.get_mut().map_or(0, |q| q.held);
        node.0.budget.give_back(held);
        let mut all = node.lock();
        if all.get(sid).is_some_and(|w| w.strong_count() == 0) {
            all.remove(sid);
        }
    }
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
    /// The node holds too much: make room ([`Outbox::make_room`]) or drop it.
    NodeFull,
}

/// What [`Outbox::make_room`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Room {
    /// Another socket, holding the most, is to be cut off: then try again.
    Cut(Sid),
    /// This socket holds the most itself: it is the one to cut.
    Mine,
    /// Nothing to cut (the node's budget is taken by sockets already leaving).
    None,
}

impl Outbox {
    /// An outbox counted against no node budget (a socket served without
    /// the Engine.IO guard, whose deliveries nothing counts).
    pub fn unbounded(drain: Arc<Drain>) -> Self {
        Self(Arc::new(Inner {
            budget: usize::MAX,
            drain,
            queue: Mutex::new(Queue::default()),
            node: None,
        }))
    }

    /// Emits the packet `encode` makes (a Socket.IO packet encoded for
    /// `socket`, whose outbox this is) when the socket has room for `size`
    /// more bytes; `encode` runs only then.
    pub fn relay(
        &self,
        socket: &SocketRef<Adapter>,
        size: usize,
        encode: impl FnOnce() -> Str,
    ) -> Result<(), Refused> {
        let cost = size + PER_MESSAGE;
        let mut queue = self.0.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.cut {
            return Err(Refused::Closed);
        }
        // The guard found the session's client not reading its polling
        // responses: as over budget, the socket is cut off.
        if self.0.drain.is_cut() {
            return Err(Refused::Full);
        }
        self.catch_up(&mut queue);
        if queue.held + cost > self.0.budget {
            return Err(Refused::Full);
        }
        let node = self.0.node.as_ref().map(|(node, _)| &node.0.budget);
        if node.is_some_and(|node| !node.take(cost)) {
            return Err(Refused::NodeFull);
        }
        // Queued and counted under one lock, so the order of `costs` is the
        // order of Engine.IO's queue.
        let sent = socket.emit_encoded(encode());
        if sent.is_err() {
            node.inspect(|node| node.give_back(cost));
        }
        match sent {
            Ok(()) => {
                queue.costs.push_back(cost);
                queue.held += cost;
                Ok(())
            }
            Err(SocketError::InternalChannelFull) => Err(Refused::Full),
            Err(_) => Err(Refused::Closed),
        }
    }

    /// After [`Refused::NodeFull`]: which socket to cut off so this one's
    /// relay fits, the one holding the most on the node.
    pub fn make_room(&self) -> Room {
        let Some((node, me)) = &self.0.node else {
            return Room::None;
        };
        match node.largest() {
            Some((sid, held)) if held > 0 && sid == *me => Room::Mine,
            Some((sid, held)) if held > 0 => Room::Cut(sid),
            _ => Room::None,
        }
    }

    /// Bytes of relays queued for the socket and not yet written out.
    pub fn held(&self) -> usize {
        let mut queue = self.0.queue.lock().unwrap_or_else(|p| p.into_inner());
        self.catch_up(&mut queue);
        queue.held
    }

    /// Takes what was delivered off the queue and gives it back to the node.
    fn catch_up(&self, queue: &mut Queue) {
        let freed = queue.catch_up(self.0.drain.relays());
        if let Some((node, _)) = &self.0.node {
            node.0.budget.give_back(freed);
        }
    }

    /// Cuts the socket off: its connection fails, Engine.IO closes it, and
    /// the socket leaves its room like any other that disconnects. What it
    /// held goes back to the node's budget at once: it is on its way out.
    pub fn cut(&self, socket: SocketRef<Adapter>) {
        {
            let mut queue = self.0.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.cut = true;
            let held = std::mem::take(&mut queue.held);
            queue.costs.clear();
            if let Some((node, _)) = &self.0.node {
                node.0.budget.give_back(held);
            }
        }
        self.0.drain.cut();
        // Fails when Engine.IO's queue is full; the connection's end then
        // closes the socket instead.
        let _ = socket.disconnect();
    }
}

impl Queue {
    /// Takes the relays delivered since the last look off the front; the
    /// bytes they freed.
    fn catch_up(&mut self, delivered: u64) -> usize {
        let mut fresh = delivered.saturating_sub(self.seen);
        let mut freed = 0;
        while fresh > 0 {
            let Some(cost) = self.costs.pop_front() else {
                break;
            };
            self.held -= cost;
            freed += cost;
            fresh -= 1;
        }
        // More delivered than queued here can only be relays that did not go
        // through this outbox; they are not owed anything.
        self.seen = delivered;
        freed
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
