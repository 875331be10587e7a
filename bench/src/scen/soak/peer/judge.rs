//! Judging what arrives at a soak socket: every packet is checked against
//! the ledger (and against what the socket itself was told) and counted.

use std::time::Instant;

use anyhow::{Result, bail};

use super::packets::{In, RelayIn};
use super::{Answer, Sock, lock};

impl Sock<'_> {
    pub(super) fn on(&mut self, packet: In) -> Result<()> {
        let now = Instant::now();
        match packet {
            In::Relay(r) => self.on_relay(r),
            In::PeerJoined(peer) => {
                if !self.about_my_room(&peer) {
                    self.ledger().tally.cross_room += 1;
                } else if !self.view.insert(peer) {
                    self.ledger().tally.room_view_errors += 1;
                }
            }
            In::PeerLeft(peer) => {
                if !self.about_my_room(&peer) {
                    self.ledger().tally.cross_room += 1;
                } else if !self.view.remove(&peer) {
                    self.ledger().tally.room_view_errors += 1;
                }
            }
            In::RoomJoined {
                code,
                peer_id,
                peers,
            } => {
                let Some(asked) = self.joining.clone() else {
                    bail!("room:joined for {code} without a join");
                };
                if !code.eq_ignore_ascii_case(&asked) || peer_id != self.sid {
                    bail!(
                        "room:joined for {code} as {peer_id}, asked {asked} as {}",
                        self.sid
                    );
                }
                let mut l = lock(self.ledger);
                l.joined(&self.sid, &asked, now);
                let strangers = peers
                    .iter()
                    .filter(|p| **p == self.sid || !l.was_in(p, &asked))
                    .count();
                l.tally.cross_room += strangers as u64;
                drop(l);
                self.view = peers.into_iter().collect();
                self.room = Some(asked);
                self.answer = Answer::Joined;
            }
            In::RoomLeft { room_id } => {
                let Some(code) = self.room.take() else {
                    bail!("room:left ({room_id}) outside a room");
                };
                if room_id != format!("room_{}", code.to_lowercase()) {
                    bail!("room:left names {room_id}, we were in {code}");
                }
                let view = std::mem::take(&mut self.view);
                let mut l = lock(self.ledger);
                l.check_view(&self.sid, &code, &view, self.leave_sent, now);
                l.left(&self.sid, &code, now);
                self.answer = Answer::Left;
            }
            In::RoomCreated => self.answer = Answer::Created,
            In::Error { code, event } => match (code.as_str(), event.as_deref()) {
                // Relays are judged by their acks.
                (_, Some("webrtc:ice")) => {}
                ("ROOM_FULL", Some("join:room")) if self.joining.is_some() => {
                    if let Some(asked) = &self.joining {
                        self.ledger().join_refused(&self.sid, asked, now);
                    }
                    self.answer = Answer::Full;
                }
                _ => bail!("error event {code} on {event:?}"),
            },
            In::Ack { id, ok, code } => {
                let Some(msg) = self.acks.remove(&id) else {
                    bail!("ack {id} for nothing we sent");
                };
                let mut l = lock(self.ledger);
                match (ok, code.as_deref()) {
                    (true, _) => l.acked(msg, true, false),
                    (false, Some("PEER_NOT_FOUND")) => {
                        let explained = l.refusal_explained(msg);
                        l.acked(msg, false, explained);
                    }
                    _ => {
                        l.acked(msg, false, true);
                        l.error(format!("relay refused with {code:?}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// Whether a peer event is about a socket that was in our room.
    fn about_my_room(&self, peer: &str) -> bool {
        match &self.room {
            Some(code) => peer != self.sid && self.ledger().was_in(peer, code),
            None => false,
        }
    }

    fn on_relay(&mut self, r: RelayIn) {
        let now_ns = self.base.elapsed().as_nanos() as u64;
        let mut l = lock(self.ledger);
        let Some((id, ts)) = r.id_and_time() else {
            l.tally.misrouted += 1;
            return;
        };
        let last = self.last_from.insert(r.from_peer_id.clone(), id);
        if last.is_some_and(|last| last >= id) {
            l.tally.out_of_order += 1;
        }
        let delivered = l.received(
            id,
            &self.sid,
            self.room.as_deref(),
            &r.from_peer_id,
            &r.target_peer_id,
        );
        if delivered && Instant::now() >= self.plan.measure_from {
            self.lat.relay.push(now_ns.saturating_sub(ts));
        }
    }
}
