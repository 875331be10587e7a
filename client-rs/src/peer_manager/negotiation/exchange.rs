//! Offers and answers: who offers, glare resolved by politeness (the peer
//! with the higher id yields), duplicates ignored, and a fresh connection
//! when the remote side restarted.

use webrtc::data_channel::RTCDataChannelInit;
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

use super::super::framing;
use super::super::peer;
use super::Negotiator;
use super::state::{Connection, Local, Signaling};
use crate::signaling::{OutgoingSignal, SessionDescription};

impl Negotiator {
    pub async fn on_offer(&mut self, from: &str, description: SessionDescription) {
        if let Err(e) = self.answer(from, description).await {
            tracing::warn!(peer = %from, error = %e, "could not answer an offer");
            self.remove_peer(from, "answer failed");
        }
    }

    pub async fn on_answer(&mut self, from: &str, description: SessionDescription) {
        let Some(conn) = self.peers.get(from).and_then(|p| p.conn.as_ref()) else {
            return;
        };
        if !conn.offering() {
            tracing::debug!(peer = %from, "unexpected or duplicate answer ignored");
            return;
        }
        let pc = conn.pc.clone();
        let (_, remote_ufrag) = peer::mid_and_ufrag(&description.sdp);
        let applied = match RTCSessionDescription::answer(description.sdp) {
            Ok(answer) => pc.set_remote_description(answer).await,
            Err(e) => Err(e),
        };
        if let Err(e) = applied {
            tracing::warn!(peer = %from, error = %e, "could not apply an answer");
            self.remove_peer(from, "bad answer");
            return;
        }
        if let Some(p) = self.peers.get_mut(from) {
            p.remote_ufrag = remote_ufrag;
            if let Some(conn) = p.conn.as_mut() {
                conn.signaling = Signaling::Stable;
            }
        }
        self.apply_pending(from).await;
    }

    /// We are in the room already and `peer` is new: offer.
    pub(super) async fn offer_to(&mut self, peer: &str) {
        if let Err(e) = self.offer(peer).await {
            tracing::warn!(peer = %peer, error = %e, "offer failed");
            self.remove_peer(peer, "offer failed");
        }
    }

    async fn offer(&mut self, peer: &str) -> Result<(), webrtc::error::Error> {
        let Some(pc) = self.new_connection(peer).await else {
            return Ok(());
        };
        let generation = self.next_generation;
        let channel = pc
            .create_data_channel(
                "data",
                Some(RTCDataChannelInit {
                    protocol: framing::PROTOCOL.to_owned(),
                    ..Default::default()
                }),
            )
            .await?;
        self.attach(peer, generation, channel, true);
        let offer = pc.create_offer(None).await?;
        let applied = set_local(&*pc, offer).await?;
        self.send_description(peer, Signaling::Offering, applied);
        Ok(())
    }

    async fn answer(
        &mut self,
        from: &str,
        description: SessionDescription,
    ) -> Result<(), webrtc::error::Error> {
        let (_, remote_ufrag) = peer::mid_and_ufrag(&description.sdp);
        let entry = self.peers.entry(from.to_owned()).or_default();
        if entry.last_remote_offer.as_deref() == Some(description.sdp.as_str()) {
            tracing::debug!(peer = %from, "duplicate offer ignored");
            return Ok(());
        }
        let glare = entry.conn.as_ref().is_some_and(Connection::offering);
        if glare {
            // The polite peer (the higher id) yields; the other keeps its offer.
            let polite = self.local_id.as_deref().is_none_or(|me| me > from);
            if !polite {
                tracing::debug!(peer = %from, "glare: impolite, ignoring the remote offer");
                return Ok(());
            }
            tracing::debug!(peer = %from, "glare: polite, answering the remote offer");
        }
        self.awaiting_offer.remove(from);
        let fresh = glare || entry.conn.is_none() || entry.remote_ufrag != remote_ufrag;
        let pc = match (fresh, &entry.conn) {
            (false, Some(conn)) => conn.pc.clone(),
            _ => match self.new_connection(from).await {
                Some(pc) => pc,
                None => return Ok(()),
            },
        };
        if let Some(p) = self.peers.get_mut(from) {
            p.last_remote_offer = Some(description.sdp.clone());
            p.remote_ufrag = remote_ufrag;
        }
        pc.set_remote_description(RTCSessionDescription::offer(description.sdp)?)
            .await?;
        let answer = pc.create_answer(None).await?;
        let applied = set_local(&*pc, answer).await?;
        tracing::debug!(peer = %from, fresh, "answering");
        self.send_description(from, Signaling::Stable, applied);
        self.apply_pending(from).await;
        Ok(())
    }

    /// Records the local description just applied to `peer`'s connection
    /// (an offer when `signaling` is `Offering`, else an answer) and sends it.
    pub(super) fn send_description(
        &mut self,
        peer: &str,
        signaling: Signaling,
        (sdp, local): (String, Local),
    ) {
        let offering = matches!(signaling, Signaling::Offering);
        if let Some(conn) = self.peers.get_mut(peer).and_then(|p| p.conn.as_mut()) {
            conn.signaling = signaling;
            conn.local = local;
        }
        let (to, kind) = (peer.to_owned(), if offering { "offer" } else { "answer" });
        tracing::debug!(me = ?self.local_id, peer = %peer, kind, "description sent");
        let description = SessionDescription {
            kind: kind.into(),
            sdp,
        };
        let _ = self.out.send(if offering {
            OutgoingSignal::Offer { to, description }
        } else {
            OutgoingSignal::Answer { to, description }
        });
    }
}

/// Applies a local description; returns the SDP as applied (with its
/// candidates gathered so far) and its mid/ufrag.
pub(super) async fn set_local(
    pc: &dyn PeerConnection,
    description: RTCSessionDescription,
) -> Result<(String, Local), webrtc::error::Error> {
    pc.set_local_description(description.clone()).await?;
    let sdp = pc.local_description().await.unwrap_or(description).sdp;
    let local = Local::of(&sdp);
    Ok((sdp, local))
}
