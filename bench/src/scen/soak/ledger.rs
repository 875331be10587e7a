//! What the soak's sockets did, kept in one place so every delivery can be
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

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};

/// How long after a socket closed its peers may still list it.
pub const CLOSE_SLACK: Duration = Duration::from_secs(3);

/// Everything the soak counts; the violations must all stay 0.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub connects: u64,
    pub creates: u64,
    pub joins: u64,
    /// `join:room` refused with ROOM_FULL (expected: rooms hold 10).
    pub full: u64,
    pub leaves: u64,
    /// Connections closed without `leave:room`.
    pub drops: u64,
    pub relays_sent: u64,
    pub relays_delivered: u64,
    /// Refused with PEER_NOT_FOUND because the target was leaving (expected).
    pub relays_refused: u64,
    // ---- violations
    /// Accepted by the server (or never answered) and never delivered.
    pub lost: u64,
    /// Of `lost`: the server never answered the relay's ack.
    pub unanswered: u64,
    /// Delivered to a socket other than its target, with a wrong
    /// `fromPeerId`/`targetPeerId`, twice, or although the server refused it.
    pub misrouted: u64,
    /// A relay or peer event about a room the receiver is not in.
    pub cross_room: u64,
    /// Refused although the target was in the room and not leaving.
    pub wrongly_refused: u64,
    /// Relays from one sender to one target out of order.
    pub out_of_order: u64,
    /// Peers missing from, or left in, a socket's view of its room: a lost or
    /// spurious `peer:joined`/`peer:left`.
    pub room_view_errors: u64,
    /// Error events or acks with an unexpected code, failed handshakes,
    /// answers that never came, connections the server closed.
    pub errors: u64,
}

impl Tally {
    pub fn violations(&self) -> u64 {
        self.lost
            + self.misrouted
            + self.cross_room
            + self.wrongly_refused
            + self.out_of_order
            + self.room_view_errors
            + self.errors
    }

    /// Requests the server handled: handshakes, creates, joins (full ones
    /// too), leaves, closes and relays.
    pub fn ops(&self) -> u64 {
        self.connects
            + self.creates
            + self.joins
            + self.full
            + self.leaves
            + self.drops
            + self.relays_sent
    }
}

/// One stay of one socket in one room.
struct Membership {
    sid: String,
    join_sent: Instant,
    /// When the socket had `room:joined` (the server had let it in).
    confirmed: Option<Instant>,
    refused: bool,
    /// When it sent `leave:room` or began to close.
    leave_started: Option<Instant>,
    /// From when the server is known to have let it out: its `room:left`,
    /// or its close plus [`CLOSE_SLACK`].
    gone: Option<Instant>,
}

#[derive(Default)]
struct Book {
    stays: Vec<Membership>,
    /// Sockets that sent `join:room` and have not left (as the generator
    /// counts them: never 0 while the server may still hold a member, so a
    /// room with occupants never expires).
    occupancy: u32,
    /// No longer a slot's room: nobody joins it again.
    retired: bool,
}

/// A room slot: sockets pick a slot and join its current room; a slot's room
/// is replaced by a new one when it is old or empty, so rooms are created and
/// expire all through the run.
struct Slot {
    code: Option<String>,
    created: Instant,
    creating: bool,
    generation: u32,
}

struct Sock {
    /// Stops being a target (it is about to close).
    closing: bool,
    /// Relays sent to it that may still arrive.
    inbound_open: u32,
}

struct Msg {
    from: String,
    to: String,
    room: String,
    sent_at: Instant,
    /// `Some(true)`: accepted (ack ok); `Some(false)`: refused.
    acked: Option<bool>,
    received: bool,
}

/// What a socket should do next about rooms.
#[derive(Debug, PartialEq, Eq)]
pub enum Pick {
    Join(String),
    /// Create this room for slot `.0`, then join it.
    Create(usize, String),
    /// Every slot is being created right now: try again shortly.
    Wait,
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

    // ------------------------------------------------------------ sockets

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

    // ------------------------------------------------------------ rooms

    pub fn pick(&mut self, rng: &mut impl Rng, now: Instant) -> Pick {
        let n = self.slots.len();
        let first = rng.random_range(0..n);
        for k in 0..n {
            let i = (first + k) % n;
            let slot = &self.slots[i];
            if slot.creating {
                continue;
            }
            let live = slot.code.as_ref().filter(|code| {
                now.duration_since(slot.created) < self.rotate_after
                    && self.books.get(*code).is_some_and(|b| b.occupancy > 0)
            });
            if let Some(code) = live {
                return Pick::Join(code.clone());
            }
            let slot = &mut self.slots[i];
            slot.creating = true;
            slot.generation += 1;
            return Pick::Create(i, format!("soak{i}g{}", slot.generation));
        }
        Pick::Wait
    }

    /// The slot's new room exists; the old one is retired (it expires once empty).
    pub fn created(&mut self, slot: usize, code: &str, now: Instant) {
        self.tally.creates += 1;
        let s = &mut self.slots[slot];
        let old = s.code.replace(code.to_owned());
        s.created = now;
        s.creating = false;
        self.books.entry(code.to_owned()).or_default();
        if let Some(old) = old {
            self.retire(&old);
        }
    }

    /// Creating failed: the slot keeps its room.
    pub fn create_failed(&mut self, slot: usize) {
        self.slots[slot].creating = false;
    }

    fn retire(&mut self, code: &str) {
        if let Some(b) = self.books.get_mut(code) {
            b.retired = true;
            if b.occupancy == 0 {
                self.books.remove(code);
            }
        }
    }

    pub fn join_sent(&mut self, sid: &str, code: &str, now: Instant) {
        let b = self.books.entry(code.to_owned()).or_default();
        b.occupancy += 1;
        b.stays.push(Membership {
            sid: sid.to_owned(),
            join_sent: now,
            confirmed: None,
            refused: false,
            leave_started: None,
            gone: None,
        });
    }

    fn stay(&mut self, sid: &str, code: &str) -> Option<&mut Membership> {
        self.books
            .get_mut(code)?
            .stays
            .iter_mut()
            .rev()
            .find(|m| m.sid == sid)
    }

    /// `room:joined` arrived.
    pub fn joined(&mut self, sid: &str, code: &str, now: Instant) {
        self.tally.joins += 1;
        if let Some(m) = self.stay(sid, code) {
            m.confirmed = Some(now);
        }
    }

    /// ROOM_FULL: never in.
    pub fn join_refused(&mut self, sid: &str, code: &str, now: Instant) {
        self.tally.full += 1;
        if let Some(m) = self.stay(sid, code) {
            m.refused = true;
            m.gone = Some(now);
        }
        self.vacate(code);
    }

    pub fn leave_sent(&mut self, sid: &str, code: &str, now: Instant) {
        if let Some(m) = self.stay(sid, code) {
            m.leave_started = Some(now);
        }
    }

    /// `room:left` arrived.
    pub fn left(&mut self, sid: &str, code: &str, now: Instant) {
        self.tally.leaves += 1;
        self.end_stay(sid, code, now, Some(now));
    }

    fn end_stay(&mut self, sid: &str, code: &str, now: Instant, gone: Option<Instant>) {
        if let Some(m) = self.stay(sid, code) {
            m.leave_started.get_or_insert(now);
            m.gone = gone;
        }
        self.vacate(code);
    }

    fn vacate(&mut self, code: &str) {
        if let Some(b) = self.books.get_mut(code) {
            b.occupancy = b.occupancy.saturating_sub(1);
            if b.occupancy == 0 && b.retired {
                self.books.remove(code);
            }
        }
    }

    /// Whether `sid` ever tried to join `code` and was not refused: the
    /// least a peer event about it in that room needs.
    pub fn was_in(&self, sid: &str, code: &str) -> bool {
        self.books
            .get(code)
            .is_some_and(|b| b.stays.iter().any(|m| m.sid == sid && !m.refused))
    }

    /// Judges `me`'s view of `code` at its `room:left` (`leave_sent`: when it
    /// sent `leave:room`, `left`: when `room:left` arrived); counts and
    /// returns the peers wrongly missing or wrongly present.
    pub fn check_view(
        &mut self,
        me: &str,
        code: &str,
        view: &HashSet<String>,
        leave_sent: Instant,
        left: Instant,
    ) -> u64 {
        let Some(b) = self.books.get(code) else {
            return 0;
        };
        let mut by_sid: HashMap<&str, Vec<&Membership>> = HashMap::new();
        for m in b.stays.iter().filter(|m| m.sid != me) {
            by_sid.entry(m.sid.as_str()).or_default().push(m);
        }
        let mut bad = 0;
        for (sid, stays) in &by_sid {
            let known_in = stays.iter().any(|m| {
                m.confirmed.is_some_and(|c| c < leave_sent)
                    && m.leave_started.is_none_or(|l| l > left)
            });
            let known_out = stays
                .iter()
                .all(|m| m.refused || m.gone.is_some_and(|g| g < leave_sent) || m.join_sent > left);
            let seen = view.contains(*sid);
            if (known_in && !seen) || (known_out && seen) {
                bad += 1;
            }
        }
        bad += view
            .iter()
            .filter(|s| !by_sid.contains_key(s.as_str()))
            .count() as u64;
        self.tally.room_view_errors += bad;
        bad
    }

    // ------------------------------------------------------------ relays

    /// Whether `to` may be sent to (known, not closing).
    pub fn may_send_to(&self, to: &str) -> bool {
        self.socks.get(to).is_some_and(|s| !s.closing)
    }

    /// Records a relay sent `now`; returns its id.
    pub fn sent(&mut self, from: &str, to: &str, room: &str, now: Instant) -> u64 {
        self.tally.relays_sent += 1;
        let id = self.next_msg;
        self.next_msg += 1;
        if let Some(s) = self.socks.get_mut(to) {
            s.inbound_open += 1;
        }
        self.msgs.insert(
            id,
            Msg {
                from: from.to_owned(),
                to: to.to_owned(),
                room: room.to_owned(),
                sent_at: now,
                acked: None,
                received: false,
            },
        );
        id
    }

    /// One relay to `to` fewer that may still arrive.
    fn arrived_or_refused(&mut self, to: &str) {
        if let Some(s) = self.socks.get_mut(to) {
            s.inbound_open = s.inbound_open.saturating_sub(1);
        }
    }

    /// The server's answer to relay `id`: accepted, or refused with
    /// PEER_NOT_FOUND (`explained`: see [`Ledger::refusal_explained`]).
    pub fn acked(&mut self, id: u64, accepted: bool, explained: bool) {
        let Some(m) = self.msgs.get_mut(&id) else {
            return;
        };
        if m.acked.is_some() {
            self.error(format!("relay {id} answered twice"));
            return;
        }
        m.acked = Some(accepted);
        let (received, to) = (m.received, m.to.clone());
        if accepted {
            if received {
                self.msgs.remove(&id);
            }
            return;
        }
        self.tally.relays_refused += 1;
        if !explained {
            self.tally.wrongly_refused += 1;
        }
        if received {
            self.tally.misrouted += 1; // delivered though refused
        } else {
            self.arrived_or_refused(&to);
        }
        self.msgs.remove(&id);
    }

    /// Whether a refusal of relay `id` is explained: a refusal is wrong only
    /// when the target had its `room:joined` before the relay was sent (the
    /// server had let it in) and has not begun to leave or close since.
    pub fn refusal_explained(&self, id: u64) -> bool {
        let Some(m) = self.msgs.get(&id) else {
            return true;
        };
        let stay = self
            .books
            .get(&m.room)
            .and_then(|b| b.stays.iter().rev().find(|s| s.sid == m.to));
        let stayed = stay.is_some_and(|s| {
            s.confirmed.is_some_and(|c| c < m.sent_at) && s.leave_started.is_none() && !s.refused
        });
        !stayed || self.socks.get(&m.to).is_none_or(|s| s.closing)
    }

    /// Relay `id` arrived at `me`, in `my_room`, claiming to come from
    /// `from` for `target`. Returns whether it counts as delivered.
    pub fn received(
        &mut self,
        id: u64,
        me: &str,
        my_room: Option<&str>,
        from: &str,
        target: &str,
    ) -> bool {
        let Some(m) = self.msgs.get_mut(&id) else {
            self.tally.misrouted += 1; // unknown, or a second copy
            return false;
        };
        if m.to != me || target != me || m.from != from || m.received {
            self.tally.misrouted += 1;
            return false;
        }
        if my_room != Some(m.room.as_str()) {
            self.tally.cross_room += 1;
        }
        m.received = true;
        let answered = m.acked.is_some();
        self.tally.relays_delivered += 1;
        self.arrived_or_refused(me);
        if answered {
            // Accepted (a refused relay is settled when refused: arriving
            // after that, it is unknown above).
            self.msgs.remove(&id);
        }
        true
    }

    /// At the end: what was accepted or never answered and did not arrive.
    pub fn finish(&mut self) {
        for m in self.msgs.values() {
            match m.acked {
                Some(true) if !m.received => self.tally.lost += 1,
                None if !m.received => {
                    self.tally.lost += 1;
                    self.tally.unanswered += 1;
                }
                _ => {}
            }
        }
        self.msgs.clear();
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    fn t(ms: u64) -> Instant {
        thread_local!(static T0: Instant = Instant::now());
        T0.with(|t0| *t0 + Duration::from_millis(ms))
    }

    /// `a` and `b` in room "r" since 10 ms.
    fn two_in_a_room() -> Ledger {
        let mut l = Ledger::new(1, Duration::from_secs(60), t(0));
        for s in ["a", "b"] {
            l.connected(s);
            l.join_sent(s, "r", t(1));
            l.joined(s, "r", t(10));
        }
        l
    }

    fn view(s: &[&str]) -> HashSet<String> {
        s.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_accepted_relay_that_arrives_is_delivered_and_settled() {
        let mut l = two_in_a_room();
        let id = l.sent("a", "b", "r", t(15));
        assert_eq!(l.inbound_open("b"), 1);
        l.acked(id, true, false);
        assert!(l.received(id, "b", Some("r"), "a", "b"));
        assert_eq!(l.inbound_open("b"), 0);
        l.finish();
        assert_eq!(l.tally.relays_delivered, 1);
        assert_eq!(l.tally.violations(), 0);
    }

    #[test]
    fn a_relay_is_open_for_its_target_until_it_arrives_or_is_refused() {
        let mut l = two_in_a_room();
        let early = l.sent("a", "b", "r", t(15));
        let late = l.sent("a", "b", "r", t(15));
        let refused = l.sent("a", "b", "r", t(15));
        assert_eq!(l.inbound_open("b"), 3);
        // Arrives before its ack: counted once, whichever comes first.
        assert!(l.received(early, "b", Some("r"), "a", "b"));
        l.acked(early, true, false);
        assert_eq!(l.inbound_open("b"), 2);
        l.acked(late, true, false);
        assert_eq!(l.inbound_open("b"), 2, "accepted, not arrived");
        l.acked(refused, false, true);
        assert_eq!(l.inbound_open("b"), 1);
        assert!(l.received(late, "b", Some("r"), "a", "b"));
        assert_eq!(l.inbound_open("b"), 0);
    }

    #[test]
    fn an_accepted_relay_that_never_arrives_is_lost() {
        let mut l = two_in_a_room();
        let id = l.sent("a", "b", "r", t(15));
        l.acked(id, true, false);
        let unanswered = l.sent("a", "b", "r", t(15));
        let _ = unanswered;
        l.finish();
        assert_eq!(l.tally.lost, 2);
        assert_eq!(l.tally.unanswered, 1);
    }

    #[test]
    fn a_relay_at_the_wrong_socket_or_from_the_wrong_sender_is_misrouted() {
        let mut l = two_in_a_room();
        l.connected("c");
        let id = l.sent("a", "b", "r", t(15));
        assert!(!l.received(id, "c", Some("r"), "a", "b"));
        assert!(!l.received(id, "b", Some("r"), "c", "b"));
        assert!(l.received(id, "b", Some("r"), "a", "b"));
        assert!(!l.received(id, "b", Some("r"), "a", "b"), "a second copy");
        assert!(!l.received(999, "b", Some("r"), "a", "b"), "never sent");
        assert_eq!(l.tally.misrouted, 4);
    }

    #[test]
    fn a_relay_arriving_outside_its_room_is_cross_room() {
        let mut l = two_in_a_room();
        let id = l.sent("a", "b", "r", t(15));
        assert!(l.received(id, "b", Some("other"), "a", "b"));
        let id = l.sent("a", "b", "r", t(15));
        assert!(l.received(id, "b", None, "a", "b"));
        assert_eq!(l.tally.cross_room, 2);
    }

    #[test]
    fn a_refusal_is_expected_only_when_the_target_was_leaving() {
        let mut l = two_in_a_room();
        let id = l.sent("a", "b", "r", t(15));
        assert!(!l.refusal_explained(id));
        l.acked(id, false, l.refusal_explained(id));
        assert_eq!(l.tally.wrongly_refused, 1);
        let id = l.sent("a", "b", "r", t(15));
        l.leave_sent("b", "r", t(20));
        l.acked(id, false, l.refusal_explained(id));
        assert_eq!(l.tally.wrongly_refused, 1);
        assert_eq!(l.tally.relays_refused, 2);
        assert_eq!(l.inbound_open("b"), 0);
        // Refused, then delivered anyway.
        let id = l.sent("a", "b", "r", t(15));
        l.acked(id, false, true);
        let _ = l.received(id, "b", Some("r"), "a", "b");
        assert_eq!(l.tally.misrouted, 1);
    }

    #[test]
    fn a_refusal_sent_to_a_stay_that_ended_is_expected_though_the_target_came_back() {
        let mut l = two_in_a_room();
        let id = l.sent("a", "b", "r", t(15));
        l.leave_sent("b", "r", t(20));
        l.left("b", "r", t(21));
        l.join_sent("b", "r", t(22));
        l.joined("b", "r", t(23));
        assert!(l.refusal_explained(id));
        l.acked(id, false, l.refusal_explained(id));
        assert_eq!(l.tally.wrongly_refused, 0);
        // Back in before a relay is sent: that one is due.
        let id = l.sent("a", "b", "r", t(24));
        assert!(!l.refusal_explained(id));
        // In again after the relay was sent: not known to be due.
        l.leave_sent("b", "r", t(25));
        l.left("b", "r", t(26));
        l.join_sent("b", "r", t(27));
        let id = l.sent("a", "b", "r", t(28));
        l.joined("b", "r", t(29));
        assert!(l.refusal_explained(id));
    }

    #[test]
    fn a_closing_socket_is_no_target() {
        let mut l = two_in_a_room();
        assert!(l.may_send_to("b"));
        l.closing("b");
        assert!(!l.may_send_to("b"));
        assert!(!l.may_send_to("nobody"));
    }

    #[test]
    fn the_view_at_leave_must_hold_the_peers_known_in_and_not_those_known_out() {
        let mut l = two_in_a_room();
        // c joined and left again before a leaves.
        l.connected("c");
        l.join_sent("c", "r", t(11));
        l.joined("c", "r", t(12));
        l.leave_sent("c", "r", t(13));
        l.left("c", "r", t(14));
        // d joined after a sent its leave: may or may not be listed.
        l.connected("d");
        l.join_sent("d", "r", t(29));
        l.joined("d", "r", t(31));
        l.leave_sent("a", "r", t(30));
        assert_eq!(l.check_view("a", "r", &view(&["b"]), t(30), t(32)), 0);
        assert_eq!(l.check_view("a", "r", &view(&["b", "d"]), t(30), t(32)), 0);
        // b missing (a lost peer:joined), c still listed (a lost peer:left),
        // x never in the room.
        assert_eq!(l.check_view("a", "r", &view(&[]), t(30), t(32)), 1);
        assert_eq!(l.check_view("a", "r", &view(&["b", "c"]), t(30), t(32)), 1);
        assert_eq!(l.check_view("a", "r", &view(&["b", "x"]), t(30), t(32)), 1);
        assert_eq!(l.tally.room_view_errors, 3);
    }

    #[test]
    fn a_peer_that_closed_may_be_listed_until_the_slack_is_over() {
        let mut l = two_in_a_room();
        l.closing("b");
        l.closed("b", t(100));
        assert_eq!(l.tally.drops, 1);
        let shortly = t(100) + CLOSE_SLACK / 2;
        let later = t(100) + CLOSE_SLACK * 2;
        assert_eq!(l.check_view("a", "r", &view(&["b"]), shortly, shortly), 0);
        assert_eq!(l.check_view("a", "r", &view(&[]), shortly, shortly), 0);
        assert_eq!(l.check_view("a", "r", &view(&["b"]), later, later), 1);
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

    #[test]
    fn slots_create_a_room_then_join_it_and_rotate_when_old_or_empty() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut l = Ledger::new(1, Duration::from_secs(10), t(0));
        assert_eq!(l.pick(&mut rng, t(0)), Pick::Create(0, "soak0g1".into()));
        assert_eq!(l.pick(&mut rng, t(0)), Pick::Wait, "being created");
        l.created(0, "soak0g1", t(1));
        // Empty: a new room rather than one that may have expired.
        assert_eq!(l.pick(&mut rng, t(2)), Pick::Create(0, "soak0g2".into()));
        l.created(0, "soak0g2", t(2));
        l.connected("a");
        l.join_sent("a", "soak0g2", t(3));
        assert_eq!(l.pick(&mut rng, t(4)), Pick::Join("soak0g2".into()));
        // Old: replaced; the old room stays known while a is in it.
        let late = t(2) + Duration::from_secs(11);
        assert_eq!(l.pick(&mut rng, late), Pick::Create(0, "soak0g3".into()));
        l.created(0, "soak0g3", late);
        assert!(l.was_in("a", "soak0g2"));
        l.joined("a", "soak0g2", late);
        l.leave_sent("a", "soak0g2", late);
        l.left("a", "soak0g2", late);
        assert!(
            !l.was_in("a", "soak0g2"),
            "a retired, empty room is forgotten"
        );
        assert_eq!(l.tally.creates, 3);
    }
}
