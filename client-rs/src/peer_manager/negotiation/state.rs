//! What is known of one remote peer and of its current connection.

use std::collections::HashSet;
use std::sync::Arc;

use webrtc::peer_connection::PeerConnection;

use super::super::peer;
use super::Writer;
use crate::signaling::IceCandidate;

/// What we know of one remote peer, across its connections.
#[derive(Default)]
pub(super) struct Peer {
    /// Remote candidates already seen (`ufrag|candidate`).
    pub(super) seen: HashSet<String>,
    /// Remote candidates waiting for a remote description.
    pub(super) pending: Vec<IceCandidate>,
    /// The last offer applied, to ignore a duplicate.
    pub(super) last_remote_offer: Option<String>,
    /// The ICE ufrag of the remote description; an offer with another one
    /// starts a fresh connection.
    pub(super) remote_ufrag: Option<String>,
    /// `None` while only candidates arrived.
    pub(super) conn: Option<Connection>,
}

/// One peer connection, built fresh for every (re)connection.
pub(super) struct Connection {
    pub(super) generation: u64,
    pub(super) pc: Arc<dyn PeerConnection>,
    pub(super) local: Local,
    pub(super) signaling: Signaling,
    pub(super) channel: Channel,
}

/// The mid and ufrag of our local description, for outgoing candidates.
#[derive(Default)]
pub(super) struct Local {
    pub(super) mid: Option<String>,
    pub(super) ufrag: Option<String>,
}

impl Local {
    pub(super) fn of(sdp: &str) -> Self {
        let (mid, ufrag) = peer::mid_and_ufrag(sdp);
        Self { mid, ufrag }
    }
}

/// Where a connection's offer/answer exchange stands.
pub(super) enum Signaling {
    /// Built; no description exchanged yet.
    New,
    /// We sent an offer and wait for the answer.
    Offering,
    /// The remote description is applied.
    Stable,
}

/// A connection's data channel.
pub(super) enum Channel {
    None,
    /// Created or accepted; not open yet.
    Connecting(Writer),
    Open(Writer),
}

impl Connection {
    pub(super) fn offering(&self) -> bool {
        matches!(self.signaling, Signaling::Offering)
    }

    pub(super) fn remote_set(&self) -> bool {
        matches!(self.signaling, Signaling::Stable)
    }

    pub(super) fn is_open(&self) -> bool {
        matches!(self.channel, Channel::Open(_))
    }

    pub(super) fn has_channel(&self) -> bool {
        !matches!(self.channel, Channel::None)
    }

    /// Marks the channel open; its writer the first time.
    pub(super) fn open(&mut self) -> Option<Writer> {
        match std::mem::replace(&mut self.channel, Channel::None) {
            Channel::Connecting(w) => {
                self.channel = Channel::Open(w.clone());
                Some(w)
            }
            other => {
                self.channel = other;
                None
            }
        }
    }
}
