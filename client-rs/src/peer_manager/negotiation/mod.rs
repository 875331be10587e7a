//! Perfect negotiation: who offers, glare, trickle ICE, each connection's life.
//!
//! Every peer's connection, who offers, glare, trickle ICE with buffering and
//! de-duplication, and the connections' life.
//!
//! The actor calls in with gateway events and driver reports; what subscribers
//! must hear (a channel opened, a peer gone) is collected as [`Change`]s for
//! the actor to take. One [`Negotiator`], its work split by concern:
//!
//! - [`state`]: what is known of each peer and its current connection;
//! - [`membership`]: room and peer events — who is expected to offer, who is gone;
//! - [`exchange`]: offers and answers, glare and politeness;
//! - [`ice`]: candidates both ways, queued until the remote description;
//! - [`connection`]: a connection's life — built, its channel attached,
//!   its state followed, timed out, closed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::sync::mpsc;

use super::command::WriteRequest;
use super::config::PeerConfig;
use super::events::PeerMessage;
use super::peer::{Builder, Report};
use crate::signaling::{IceServer, OutgoingSignal, PeerId};
use state::{Channel, Connection, Peer};

mod connection;
mod exchange;
mod ice;
mod membership;
mod state;
#[cfg(test)]
mod tests;

pub(crate) type Writer = mpsc::Sender<WriteRequest>;

/// What subscribers must hear about.
pub(crate) enum Change {
    Open(PeerId, Writer),
    Gone(PeerId),
}

pub(crate) struct Negotiator {
    config: PeerConfig,
    builder: Builder,
    out: mpsc::UnboundedSender<OutgoingSignal>,
    reports: mpsc::UnboundedSender<Report>,
    messages: mpsc::Sender<PeerMessage>,
    local_id: Option<PeerId>,
    ice_servers: Vec<IceServer>,
    peers: HashMap<PeerId, Peer>,
    /// Peers listed in our `room:joined`: they are expected to offer.
    awaiting_offer: HashSet<PeerId>,
    /// Peers `peer:joined` announced since our last `room:joined`: members of
    /// the room even when that snapshot, taken earlier, does not list them.
    announced: HashSet<PeerId>,
    next_generation: u64,
    changes: Vec<Change>,
}

impl Negotiator {
    pub fn new(
        config: PeerConfig,
        out: mpsc::UnboundedSender<OutgoingSignal>,
        reports: mpsc::UnboundedSender<Report>,
        messages: mpsc::Sender<PeerMessage>,
    ) -> Self {
        Self {
            builder: Builder::new(&config),
            config,
            out,
            reports,
            messages,
            local_id: None,
            ice_servers: Vec::new(),
            peers: HashMap::new(),
            awaiting_offer: HashSet::new(),
            announced: HashSet::new(),
            next_generation: 0,
            changes: Vec::new(),
        }
    }

    /// What happened since the last call.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    pub fn local_id(&self) -> Option<PeerId> {
        self.local_id.clone()
    }

    /// The ICE servers of the connection with `peer`, read back from its
    /// `RTCPeerConnection` configuration.
    pub async fn configured_ice_servers(&self, peer: &str) -> Option<Vec<IceServer>> {
        let conn = self.peers.get(peer)?.conn.as_ref()?;
        let config = conn.pc.get_configuration().await;
        Some(
            config
                .ice_servers()
                .iter()
                .map(|s| IceServer {
                    urls: s.urls.clone(),
                    username: Some(s.username.clone()).filter(|u| !u.is_empty()),
                    credential: Some(s.credential.clone()).filter(|c| !c.is_empty()),
                })
                .collect(),
        )
    }

    /// Peers whose channel is open, sorted.
    pub fn open_peers(&self) -> Vec<PeerId> {
        let mut open: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, p)| p.conn.as_ref().is_some_and(Connection::is_open))
            .map(|(id, _)| id.clone())
            .collect();
        open.sort();
        open
    }

    /// The writer of an open channel, `Ok(None)` for a peer still
    /// connecting, `Err(())` for an unknown peer.
    pub fn writer(&self, peer: &str) -> Result<Option<Writer>, ()> {
        match self.peers.get(peer).and_then(|p| p.conn.as_ref()) {
            Some(Connection {
                channel: Channel::Open(w),
                ..
            }) => Ok(Some(w.clone())),
            Some(_) => Ok(None),
            None => Err(()),
        }
    }

    /// Handles a driver's timer or state report.
    pub async fn on_report(&mut self, report: Report) {
        match report {
            Report::LocalCandidate {
                peer,
                generation,
                candidate,
            } => self.on_local_candidate(&peer, generation, candidate).await,
            Report::State {
                peer,
                generation,
                state,
            } => self.on_state(&peer, generation, state),
            Report::RemoteChannel {
                peer,
                generation,
                channel,
            } => self.on_remote_channel(&peer, generation, channel).await,
            Report::ChannelOpen { peer, generation } => self.on_channel_open(&peer, generation),
            Report::ChannelClosed { peer, generation } => self.on_channel_closed(&peer, generation),
            Report::OfferDue { peer } => self.on_offer_due(&peer).await,
            Report::ConnectDue { peer, generation } => self.on_connect_due(&peer, generation),
        }
    }

    /// Closes every connection, waiting a little for each.
    pub async fn shutdown(&mut self) {
        let closing: Vec<_> = self
            .peers
            .drain()
            .filter_map(|(_, p)| p.conn)
            .map(|c| async move {
                let _ = tokio::time::timeout(Duration::from_secs(2), c.pc.close()).await;
            })
            .collect();
        futures_util::future::join_all(closing).await;
    }

    fn conn_at(&mut self, peer: &str, generation: u64) -> Option<&mut Connection> {
        self.peers
            .get_mut(peer)
            .and_then(|p| p.conn.as_mut())
            .filter(|c| c.generation == generation)
    }

    fn later(&self, after: Duration, report: Report) {
        let reports = self.reports.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let _ = reports.send(report);
        });
    }
}
