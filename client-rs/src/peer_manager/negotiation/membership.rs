//! Room and peer membership: who is expected to offer, who offers, who is
//! gone.

use std::collections::HashSet;

use super::super::peer::Report;
use super::connection::close_later;
use super::{Change, Negotiator};
use crate::signaling::{PeerId, RoomJoined};

/// Announced peers remembered between two `room:joined` (a room holds at
/// most a few dozen).
const ANNOUNCED_LIMIT: usize = 1024;

impl Negotiator {
    pub fn on_room_joined(&mut self, joined: &RoomJoined) {
        if self
            .local_id
            .as_ref()
            .is_some_and(|me| *me != joined.peer_id)
        {
            // A new socket (we reconnected): every connection belonged to the
            // old id, and the others drop theirs on its `peer:left`.
            self.remove_all("reconnected as a new peer");
        }
        self.local_id = Some(joined.peer_id.clone());
        self.ice_servers = joined.ice_servers.clone();
        let members: HashSet<&PeerId> = joined.peers.iter().map(|p| &p.id).collect();
        let announced = std::mem::take(&mut self.announced);
        let gone: Vec<PeerId> = self
            .peers
            .keys()
            .filter(|id| !members.contains(id) && !announced.contains(*id))
            .cloned()
            .collect();
        for id in gone {
            self.remove_peer(&id, "not in the joined room");
        }
        self.awaiting_offer.clear();
        for p in &joined.peers {
            if self.peers.get(&p.id).is_none_or(|x| x.conn.is_none()) {
                self.awaiting_offer.insert(p.id.clone());
                if let Some(after) = self.config.newcomer_offer_after {
                    self.later(after, Report::OfferDue { peer: p.id.clone() });
                }
            }
        }
    }

    pub fn on_room_left(&mut self) {
        self.remove_all("room left");
    }

    /// The gateway connection is gone: so is every peer (the others get
    /// `peer:left` for us).
    pub fn on_disconnected(&mut self) {
        self.remove_all("disconnected from the gateway");
    }

    pub async fn on_peer_joined(&mut self, peer: &str) {
        self.awaiting_offer.remove(peer);
        if self.announced.len() < ANNOUNCED_LIMIT {
            self.announced.insert(peer.to_owned());
        }
        if self.peers.contains_key(peer) {
            self.remove_peer(peer, "rejoined");
        }
        self.offer_to(peer).await;
    }

    pub fn on_peer_left(&mut self, peer: &str) {
        self.awaiting_offer.remove(peer);
        self.announced.remove(peer);
        self.remove_peer(peer, "peer left");
    }

    /// A newcomer's wait for an offer is over: offer if none came.
    pub async fn on_offer_due(&mut self, peer: &str) {
        if self.awaiting_offer.remove(peer) && self.peers.get(peer).is_none_or(|p| p.conn.is_none())
        {
            tracing::debug!(peer = %peer, "no offer came; offering");
            self.offer_to(peer).await;
        }
    }

    fn remove_all(&mut self, why: &str) {
        let all: Vec<PeerId> = self.peers.keys().cloned().collect();
        for id in all {
            self.remove_peer(&id, why);
        }
        self.awaiting_offer.clear();
        self.announced.clear();
    }

    pub(super) fn remove_peer(&mut self, peer: &str, why: &str) {
        if let Some(p) = self.peers.remove(peer)
            && let Some(conn) = p.conn
        {
            tracing::debug!(me = ?self.local_id, peer = %peer, why, "peer removed");
            close_later(conn.pc);
            self.changes.push(Change::Gone(peer.to_owned()));
        }
    }
}
