//! What the soak counts: the work done, and the violations that must stay 0.

use serde::{Deserialize, Serialize};

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

/// One kind of violation: its count, and its name in a sentence and on the
/// console line.
pub struct Violation {
    pub count: u64,
    pub long: &'static str,
    pub short: &'static str,
}

impl Tally {
    /// Every kind of violation, in the order they are reported.
    pub fn violation_kinds(&self) -> [Violation; 7] {
        let v = |count, long, short| Violation { count, long, short };
        [
            v(self.lost, "lost", "lost"),
            v(self.misrouted, "misrouted", "misrouted"),
            v(self.cross_room, "cross-room", "cross-room"),
            v(self.wrongly_refused, "wrongly refused", "wrongly refused"),
            v(self.out_of_order, "out of order", "out-of-order"),
            v(self.room_view_errors, "room view errors", "room-view"),
            v(self.errors, "errors", "errors"),
        ]
    }

    pub fn violations(&self) -> u64 {
        self.violation_kinds().iter().map(|v| v.count).sum()
    }

    /// `<name> <count>` of every kind, joined by `sep`.
    pub fn violations_line(&self, sep: &str, name: fn(&Violation) -> &'static str) -> String {
        let kinds = self.violation_kinds();
        let words: Vec<String> = kinds
            .iter()
            .map(|v| format!("{} {}", name(v), v.count))
            .collect();
        words.join(sep)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_violation_counts_and_is_named() {
        let t = Tally {
            lost: 1,
            misrouted: 2,
            cross_room: 3,
            wrongly_refused: 4,
            out_of_order: 5,
            room_view_errors: 6,
            errors: 7,
            unanswered: 100,
            relays_delivered: 100,
            ..Tally::default()
        };
        assert_eq!(t.violations(), 28, "unanswered is part of lost");
        assert_eq!(
            t.violations_line(", ", |v| v.long),
            "lost 1, misrouted 2, cross-room 3, wrongly refused 4, out of order 5, room view errors 6, errors 7"
        );
        assert_eq!(
            t.violations_line(" ", |v| v.short),
            "lost 1 misrouted 2 cross-room 3 wrongly refused 4 out-of-order 5 room-view 6 errors 7"
        );
    }
}
