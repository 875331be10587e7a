//! The room-view check: at its `room:left`, what a socket was told of its
//! room (from `room:joined` and `peer:joined`/`peer:left`) must hold every
//! peer known to have been in it, and no peer known to have left.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::Ledger;
use super::rooms::Membership;

impl Ledger {
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
}

#[cfg(test)]
mod tests {
    use super::super::CLOSE_SLACK;
    use super::super::fixtures::{t, two_in_a_room, view};

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
}
