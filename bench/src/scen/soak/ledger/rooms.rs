//! Rooms in the ledger: the slots sockets pick a room from (created and
//! retired all through the run), and each socket's stays in each room.

use std::time::Instant;

use rand::Rng;

use super::Ledger;

/// One stay of one socket in one room.
pub(super) struct Membership {
    pub(super) sid: String,
    pub(super) join_sent: Instant,
    /// When the socket had `room:joined` (the server had let it in).
    pub(super) confirmed: Option<Instant>,
    pub(super) refused: bool,
    /// When it sent `leave:room` or began to close.
    pub(super) leave_started: Option<Instant>,
    /// From when the server is known to have let it out: its `room:left`,
    /// or its close plus [`CLOSE_SLACK`].
    pub(super) gone: Option<Instant>,
}

#[derive(Default)]
pub(super) struct Book {
    pub(super) stays: Vec<Membership>,
    /// Sockets that sent `join:room` and have not left (as the generator
    /// counts them: never 0 while the server may still hold a member, so a
    /// room with occupants never expires).
    pub(super) occupancy: u32,
    /// No longer a slot's room: nobody joins it again.
    pub(super) retired: bool,
}

/// A room slot: sockets pick a slot and join its current room; a slot's room
/// is replaced by a new one when it is old or empty, so rooms are created and
/// expire all through the run.
pub(super) struct Slot {
    pub(super) code: Option<String>,
    pub(super) created: Instant,
    pub(super) creating: bool,
    pub(super) generation: u32,
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

impl Ledger {
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

    pub(super) fn stay(&mut self, sid: &str, code: &str) -> Option<&mut Membership> {
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

    pub(super) fn end_stay(&mut self, sid: &str, code: &str, now: Instant, gone: Option<Instant>) {
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::super::fixtures::t;
    use super::*;

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
