//! Trickle ICE: our candidates out with the mid and ufrag of our
//! description; theirs de-duplicated, queued until the remote description
//! is set, and dropped when they belong to an older ICE session.

use webrtc::peer_connection::RTCIceCandidateInit;

use super::Negotiator;
use super::state::{Connection, Local};
use crate::signaling::{IceCandidate, OutgoingSignal};

/// Remote candidates kept per peer while its remote description is unknown.
const PENDING_LIMIT: usize = 256;
/// Remote candidates remembered per peer for de-duplication.
const SEEN_LIMIT: usize = 1024;

impl Negotiator {
    pub async fn on_local_candidate(&mut self, peer: &str, generation: u64, candidate: String) {
        let Some(conn) = self.conn_at(peer, generation) else {
            return;
        };
        if conn.local.mid.is_none()
            && let Some(local) = conn.pc.local_description().await
        {
            conn.local = Local::of(&local.sdp);
        }
        let candidate = IceCandidate {
            candidate,
            sdp_mid: Some(conn.local.mid.clone().unwrap_or_else(|| "0".into())),
            sdp_m_line_index: Some(0),
            username_fragment: conn.local.ufrag.clone(),
        };
        let _ = self.out.send(OutgoingSignal::Ice {
            to: peer.to_owned(),
            candidate,
        });
    }

    pub async fn on_remote_candidate(&mut self, from: &str, candidate: IceCandidate) {
        if candidate.candidate.is_empty() {
            return; // end of candidates
        }
        let p = self.peers.entry(from.to_owned()).or_default();
        let key = format!(
            "{}|{}",
            candidate.username_fragment.as_deref().unwrap_or(""),
            candidate.candidate
        );
        if p.seen.len() >= SEEN_LIMIT || !p.seen.insert(key) {
            tracing::debug!(peer = %from, "duplicate (or one too many) candidate ignored");
            return;
        }
        if p.conn.as_ref().is_some_and(Connection::remote_set) {
            self.add_candidate(from, candidate).await;
        } else if p.pending.len() < PENDING_LIMIT {
            p.pending.push(candidate);
        }
    }

    /// The remote description is set: add the candidates that waited for it.
    pub(super) async fn apply_pending(&mut self, peer: &str) {
        let pending = self
            .peers
            .get_mut(peer)
            .map(|p| std::mem::take(&mut p.pending))
            .unwrap_or_default();
        for candidate in pending {
            self.add_candidate(peer, candidate).await;
        }
    }

    async fn add_candidate(&mut self, peer: &str, candidate: IceCandidate) {
        let Some(p) = self.peers.get(peer) else {
            return;
        };
        let Some(pc) = p.conn.as_ref().map(|c| c.pc.clone()) else {
            return;
        };
        if let (Some(theirs), Some(current)) = (&candidate.username_fragment, &p.remote_ufrag)
            && theirs != current
        {
            tracing::debug!(peer = %peer, "stale candidate (old ufrag) ignored");
            return;
        }
        let init = RTCIceCandidateInit {
            sdp_mline_index: candidate
                .sdp_m_line_index
                .or(if candidate.sdp_mid.is_none() {
                    Some(0)
                } else {
                    None
                }),
            candidate: candidate.candidate,
            sdp_mid: candidate.sdp_mid,
            username_fragment: candidate.username_fragment,
            url: None,
        };
        if let Err(e) = pc.add_ice_candidate(init).await {
            tracing::debug!(peer = %peer, error = %e, "remote candidate refused");
        }
    }
}
