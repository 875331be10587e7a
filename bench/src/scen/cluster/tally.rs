//! The fate of every acked relay of the freeze phase, counted: one sender's
//! relays to one member, each known by its ack id (which is also the sequence
//! number the member reads back), put in the window it was sent in.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ws::Answer;

/// When a relay was sent, against the freeze.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Before,
    Frozen,
    After,
}

impl Window {
    /// `sent_ms` counts from the SIGSTOP; the freeze lasts `frozen_ms`.
    pub fn of(sent_ms: i64, frozen_ms: i64) -> Window {
        if sent_ms < 0 {
            Window::Before
        } else if sent_ms < frozen_ms {
            Window::Frozen
        } else {
            Window::After
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ack {
    Pending,
    Ok,
    /// An index into [`Tally::codes`].
    Refused(u8),
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Fate {
    sent_ms: i64,
    ack: Ack,
    delivered: u32,
}

/// One sender's relays to one member.
#[derive(Debug, Default)]
pub struct Tally {
    fates: Vec<Fate>,
    /// The error codes seen, in the order first seen (a handful at most).
    codes: Vec<String>,
    /// Answers or deliveries for an id never sent, or a second answer.
    stray: u64,
    out_of_order: u64,
    last_delivered: Option<u64>,
}

impl Tally {
    /// Relay `id` (the next one: ids count from 0) was sent at `sent_ms`.
    pub fn sent(&mut self, id: u64, sent_ms: i64) {
        debug_assert_eq!(id, self.fates.len() as u64);
        self.fates.push(Fate {
            sent_ms,
            ack: Ack::Pending,
            delivered: 0,
        });
    }

    /// The ids sent so far (the next id to send).
    pub fn next_id(&self) -> u64 {
        self.fates.len() as u64
    }

    pub fn answered(&mut self, id: u64, answer: Answer<'_>) {
        let ack = match answer {
            Answer::Ok => Ack::Ok,
            Answer::Other => Ack::Other,
            Answer::Refused(code) => {
                let code = String::from_utf8_lossy(code);
                let i = match self.codes.iter().position(|c| *c == code) {
                    Some(i) => i,
                    None => {
                        self.codes.push(code.into_owned());
                        self.codes.len() - 1
                    }
                };
                Ack::Refused(i.min(u8::MAX as usize) as u8)
            }
        };
        match self.fates.get_mut(id as usize) {
            Some(f) if f.ack == Ack::Pending => f.ack = ack,
            _ => self.stray += 1,
        }
    }

    /// The member got relay `seq`.
    pub fn delivered(&mut self, seq: u64) {
        let Some(f) = self.fates.get_mut(seq as usize) else {
            self.stray += 1;
            return;
        };
        f.delivered += 1;
        if self.last_delivered.is_some_and(|last| seq <= last) {
            self.out_of_order += 1;
        }
        self.last_delivered = Some(seq);
    }

    /// Every relay counted in the window it was sent in: the SIGSTOP and the
    /// SIGCONT came at `stop_ms` and `resume_ms` (on the clock of
    /// [`Tally::sent`]); the times counted are from the SIGSTOP.
    pub fn counts(&self, stop_ms: i64, resume_ms: i64) -> FreezeCounts {
        let mut c = FreezeCounts {
            stray: self.stray,
            out_of_order: self.out_of_order,
            ..FreezeCounts::default()
        };
        for f in &self.fates {
            let sent_ms = f.sent_ms - stop_ms;
            let window = Window::of(sent_ms, resume_ms - stop_ms);
            let w = match window {
                Window::Before => &mut c.before,
                Window::Frozen => &mut c.frozen,
                Window::After => &mut c.after,
            };
            w.sent += 1;
            let got = f.delivered > 0;
            w.duplicated += u64::from(f.delivered.saturating_sub(1));
            if f.ack == Ack::Ok && window == Window::Frozen {
                w.last_ok_sent_ms = Some(w.last_ok_sent_ms.map_or(sent_ms, |l| l.max(sent_ms)));
            }
            match f.ack {
                Ack::Ok if got => w.acked_delivered += 1,
                Ack::Ok => {
                    w.acked_lost += 1;
                    w.lost_sent_ms = Some(match w.lost_sent_ms {
                        Some((a, b)) => (a.min(sent_ms), b.max(sent_ms)),
                        None => (sent_ms, sent_ms),
                    });
                }
                Ack::Refused(i) => {
                    let code = self.codes.get(i as usize).cloned().unwrap_or_default();
                    *w.refused.entry(code).or_default() += 1;
                    w.refused_delivered += u64::from(got);
                }
                Ack::Other => {
                    w.other_answer += 1;
                    w.other_delivered += u64::from(got);
                }
                Ack::Pending => {
                    w.no_answer += 1;
                    w.no_answer_delivered += u64::from(got);
                }
            }
        }
        c
    }
}

/// The relays sent in one window, by what became of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WindowCounts {
    pub sent: u64,
    /// Acked `{ok:true}` and delivered.
    pub acked_delivered: u64,
    /// Acked `{ok:true}` and never delivered.
    pub acked_lost: u64,
    /// When (ms after the SIGSTOP) the first and last of them were sent.
    pub lost_sent_ms: Option<(i64, i64)>,
    /// The latest relay sent during the freeze that was still acked ok (ms
    /// after the SIGSTOP); only in the frozen window.
    pub last_ok_sent_ms: Option<i64>,
    /// Refused with an error, by code.
    pub refused: BTreeMap<String, u64>,
    /// Refused, and delivered all the same.
    pub refused_delivered: u64,
    /// Answered with something else than ok or an error.
    pub other_answer: u64,
    pub other_delivered: u64,
    /// Never answered by the end of the phase.
    pub no_answer: u64,
    pub no_answer_delivered: u64,
    /// Deliveries beyond the first of one relay.
    pub duplicated: u64,
}

impl WindowCounts {
    pub fn absorb(&mut self, o: &WindowCounts) {
        self.sent += o.sent;
        self.acked_delivered += o.acked_delivered;
        self.acked_lost += o.acked_lost;
        self.lost_sent_ms = match (self.lost_sent_ms, o.lost_sent_ms) {
            (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
            (x, y) => x.or(y),
        };
        self.last_ok_sent_ms = self.last_ok_sent_ms.max(o.last_ok_sent_ms);
        for (k, v) in &o.refused {
            *self.refused.entry(k.clone()).or_default() += v;
        }
        self.refused_delivered += o.refused_delivered;
        self.other_answer += o.other_answer;
        self.other_delivered += o.other_delivered;
        self.no_answer += o.no_answer;
        self.no_answer_delivered += o.no_answer_delivered;
        self.duplicated += o.duplicated;
    }

    /// `refused` as `CODE n, CODE n` (or `0`).
    pub fn refused_text(&self) -> String {
        if self.refused.is_empty() {
            return "0".into();
        }
        let parts: Vec<String> = self
            .refused
            .iter()
            .map(|(k, v)| format!("{} {v}", if k.is_empty() { "(no code)" } else { k }))
            .collect();
        parts.join(", ")
    }
}

/// Every window of the freeze phase, and what fits no window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FreezeCounts {
    pub before: WindowCounts,
    pub frozen: WindowCounts,
    pub after: WindowCounts,
    /// Answers or deliveries for no relay sent, or a second answer.
    pub stray: u64,
    /// Deliveries of an earlier relay after a later one.
    pub out_of_order: u64,
}

impl FreezeCounts {
    pub fn absorb(&mut self, o: &FreezeCounts) {
        self.before.absorb(&o.before);
        self.frozen.absorb(&o.frozen);
        self.after.absorb(&o.after);
        self.stray += o.stray;
        self.out_of_order += o.out_of_order;
    }

    /// Relays acked `{ok:true}` and never delivered, in every window.
    pub fn acked_then_lost(&self) -> u64 {
        self.before.acked_lost + self.frozen.acked_lost + self.after.acked_lost
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_relay_is_counted_once_in_the_window_it_was_sent_in() {
        let mut t = Tally::default();
        // Sent 100 ms before the freeze, then at 0, 1000 and 2999 ms into a
        // 3000 ms freeze, then 3000 and 3500 ms (after it).
        for (id, ms) in [-100, 0, 1000, 2999, 3000, 3500].into_iter().enumerate() {
            t.sent(id as u64, ms);
        }
        assert_eq!(t.next_id(), 6);
        t.answered(0, Answer::Ok);
        t.delivered(0);
        t.answered(1, Answer::Ok);
        t.delivered(1);
        t.answered(2, Answer::Ok); // acked, never delivered
        t.answered(3, Answer::Ok); // acked, never delivered
        t.answered(4, Answer::Refused(b"PEER_NOT_FOUND"));
        // 5: no answer, but delivered
        t.delivered(5);
        let c = t.counts(0, 3000);
        assert_eq!(
            c.before,
            WindowCounts {
                sent: 1,
                acked_delivered: 1,
                ..WindowCounts::default()
            }
        );
        assert_eq!(
            c.frozen,
            WindowCounts {
                sent: 3,
                acked_delivered: 1,
                acked_lost: 2,
                lost_sent_ms: Some((1000, 2999)),
                last_ok_sent_ms: Some(2999),
                ..WindowCounts::default()
            }
        );
        assert_eq!(
            c.after,
            WindowCounts {
                sent: 2,
                refused: [("PEER_NOT_FOUND".to_owned(), 1)].into(),
                no_answer: 1,
                no_answer_delivered: 1,
                ..WindowCounts::default()
            }
        );
        assert_eq!(c.acked_then_lost(), 2);
        assert_eq!((c.stray, c.out_of_order), (0, 0));
    }

    #[test]
    fn a_second_answer_an_unknown_id_a_duplicate_and_a_late_earlier_relay_are_counted() {
        let mut t = Tally::default();
        for id in 0..3 {
            t.sent(id, 10);
        }
        t.answered(0, Answer::Ok);
        t.answered(0, Answer::Ok); // a second answer
        t.answered(9, Answer::Ok); // never sent
        t.delivered(7); // never sent
        t.delivered(1);
        t.delivered(1); // twice
        t.delivered(0); // after 1
        t.answered(1, Answer::Refused(b"SERVICE_UNAVAILABLE"));
        t.answered(2, Answer::Other);
        let c = t.counts(0, 3000);
        assert_eq!(c.stray, 3);
        assert_eq!(c.out_of_order, 2, "the second 1 and the 0 after it");
        let w = &c.frozen;
        assert_eq!((w.sent, w.acked_delivered, w.acked_lost), (3, 1, 0));
        assert_eq!(w.refused_delivered, 1);
        assert_eq!(w.duplicated, 1);
        assert_eq!((w.other_answer, w.other_delivered), (1, 0));
        assert_eq!(w.refused_text(), "SERVICE_UNAVAILABLE 1");
        assert_eq!(w.last_ok_sent_ms, Some(10));
    }

    #[test]
    fn counts_of_many_pairs_add_up() {
        let mut a = Tally::default();
        a.sent(0, 500);
        a.answered(0, Answer::Ok);
        let mut b = Tally::default();
        b.sent(0, 2500);
        b.answered(0, Answer::Ok);
        b.sent(1, 2600);
        b.answered(1, Answer::Refused(b"PEER_NOT_FOUND"));
        let mut all = FreezeCounts::default();
        // Times count from the SIGSTOP, which came 100 ms late here.
        all.absorb(&a.counts(100, 3100));
        all.absorb(&b.counts(100, 3100));
        assert_eq!(all.frozen.acked_lost, 2);
        assert_eq!(all.frozen.lost_sent_ms, Some((400, 2400)));
        assert_eq!(all.frozen.last_ok_sent_ms, Some(2400));
        assert_eq!(all.frozen.refused_text(), "PEER_NOT_FOUND 1");
        assert_eq!(all.acked_then_lost(), 2);
        assert_eq!(FreezeCounts::default().frozen.refused_text(), "0");
    }
}
