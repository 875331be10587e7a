//! Relays in the ledger: which were sent to whom, which the server accepted
//! or refused, which arrived, and how each outcome is judged.

use std::time::Instant;

use super::Ledger;

/// One relay sent.
pub(super) struct Msg {
    from: String,
    to: String,
    room: String,
    sent_at: Instant,
    /// `Some(true)`: accepted (ack ok); `Some(false)`: refused.
    acked: Option<bool>,
    received: bool,
}

impl Ledger {
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
    use super::super::fixtures::{t, two_in_a_room};

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
}
