//! The soak's ledger: what its sockets did, against which every delivery is judged.
//!
//! What the soak's sockets did is kept in one place so every delivery can be
//! judged against it: which socket was in which room when, which relays were
//! sent to whom, which the server accepted and which arrived.
//!
//! The judgements rest on the server's per-socket ordering: what the server
//! queues for a socket before it handles that socket's `leave:room` arrives
//! before `room:left`. So when a socket has its `room:left`:
//! - every relay the server accepted for it (ack `{ ok: true }`) has arrived;
//! - its view of the room (from `room:joined` and `peer:joined`/`peer:left`)
//!   holds every peer known to have been in the room then, and no peer known
//!   to have left before.
//!
//! A socket that closes without leaving first stops being a target, waits
//! until every relay sent to it is answered and, if accepted, arrived, then
//! closes; its peers must see `peer:left` within [`CLOSE_SLACK`].

mod relays;
mod rooms;
mod tally;
mod views;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use relays::Msg;
pub use rooms::Pick;
use rooms::{Book, Slot};
pub use tally::Tally;

/// How long after a socket closed its peers may still list it.
pub const CLOSE_SLACK: Duration = Duration::from_secs(3);

/// A connected socket, as relays to it are concerned.
struct Sock {
    /// Stops being a target (it is about to close).
    closing: bool,
    /// Relays sent to it that may still arrive.
    inbound_open: u32,
}

pub struct Ledger {
    socks: HashMap<String, Sock>,
    books: HashMap<String, Book>,
    slots: Vec<Slot>,
    msgs: HashMap<u64, Msg>,
    next_msg: u64,
    rotate_after: Duration,
    pub tally: Tally,
    pub first_error: Option<String>,
}

impl Ledger {
    pub fn new(slots: usize, rotate_after: Duration, now: Instant) -> Ledger {
        Ledger {
            socks: HashMap::new(),
            books: HashMap::new(),
            slots: (0..slots.max(1))
                .map(|_| Slot {
                    code: None,
                    created: now,
                    creating: false,
                    generation: 0,
                })
                .collect(),
            msgs: HashMap::new(),
            next_msg: 0,
            rotate_after,
            tally: Tally::default(),
            first_error: None,
        }
    }

    pub fn error(&mut self, what: String) {
        self.tally.errors += 1;
        if self.first_error.is_none() {
            eprintln!("  soak: {what}");
            self.first_error = Some(what);
        }
    }

    pub fn connected(&mut self, sid: &str) {
        self.tally.connects += 1;
        self.socks.insert(
            sid.to_owned(),
            Sock {
                closing: false,
                inbound_open: 0,
            },
        );
    }

    /// Stops sending to `sid`: it is about to close.
    pub fn closing(&mut self, sid: &str) {
        if let Some(s) = self.socks.get_mut(sid) {
            s.closing = true;
        }
    }

    /// Relays to `sid` that may still arrive.
    pub fn inbound_open(&self, sid: &str) -> u32 {
        self.socks.get(sid).map_or(0, |s| s.inbound_open)
    }

    /// The connection is closed: a stay still open (in a room, or joining
    /// one, when the connection failed) ended without `leave:room`.
    pub fn closed(&mut self, sid: &str, now: Instant) {
        if self.socks.remove(sid).is_none() {
            return;
        }
        let open: Vec<String> = self
            .books
            .iter()
            .filter(|(_, b)| b.stays.iter().any(|m| m.sid == sid && m.gone.is_none()))
            .map(|(code, _)| code.clone())
            .collect();
        for code in open {
            self.tally.drops += 1;
            self.end_stay(sid, &code, now, Some(now + CLOSE_SLACK));
        }
    }
}

#[cfg(test)]
mod fixtures {
    use std::collections::HashSet;

    use super::*;

    pub fn t(ms: u64) -> Instant {
        thread_local!(static T0: Instant = Instant::now());
        T0.with(|t0| *t0 + Duration::from_millis(ms))
    }

    /// `a` and `b` in room "r" since 10 ms.
    pub fn two_in_a_room() -> Ledger {
        let mut l = Ledger::new(1, Duration::from_secs(60), t(0));
        for s in ["a", "b"] {
            l.connected(s);
            l.join_sent(s, "r", t(1));
            l.joined(s, "r", t(10));
        }
        l
    }

    pub fn view(s: &[&str]) -> HashSet<String> {
        s.iter().map(|s| s.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{t, two_in_a_room};
    use super::*;

    #[test]
    fn a_closing_socket_is_no_target() {
        let mut l = two_in_a_room();
        assert!(l.may_send_to("b"));
        l.closing("b");
        assert!(!l.may_send_to("b"));
        assert!(!l.may_send_to("nobody"));
    }

    #[test]
    fn a_connection_that_fails_while_joining_frees_its_place() {
        let mut l = Ledger::new(1, Duration::from_secs(60), t(0));
        l.connected("a");
        l.join_sent("a", "r", t(1));
        l.closed("a", t(2));
        assert_eq!(l.books["r"].occupancy, 0);
        assert_eq!(l.tally.drops, 1);
        // A stay that ended with room:left is not ended again.
        l.connected("b");
        l.join_sent("b", "r", t(3));
        l.joined("b", "r", t(4));
        l.leave_sent("b", "r", t(5));
        l.left("b", "r", t(6));
        l.closed("b", t(7));
        assert_eq!(l.tally.drops, 1);
        assert_eq!(l.books["r"].occupancy, 0);
    }
}
