//! A connection's life: built fresh for every (re)connection, its data
//! channel attached, its state followed, timed out, closed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use webrtc::data_channel::DataChannel;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState};

use super::super::framing;
use super::super::peer::{self, Handler, Report};
use super::state::{Channel, Connection, Local, Signaling};
use super::{Change, Negotiator};

/// Queued outgoing messages per peer before `send` waits.
const WRITE_QUEUE: usize = 64;

impl Negotiator {
    /// Replaces `peer`'s connection (if any) with a fresh one.
    pub(super) async fn new_connection(&mut self, peer: &str) -> Option<Arc<dyn PeerConnection>> {
        self.next_generation += 1;
        let generation = self.next_generation;
        let handler = Handler {
            peer: peer.to_owned(),
            generation,
            reports: self.reports.clone(),
        };
        let pc = match self.builder.build(&self.ice_servers, handler).await {
            Ok(pc) => pc,
            Err(e) => {
                tracing::error!(peer = %peer, error = %e, "could not create a peer connection");
                return None;
            }
        };
        let fresh = Connection {
            generation,
            pc: pc.clone(),
            local: Local::default(),
            signaling: Signaling::New,
            channel: Channel::None,
        };
        if let Some(old) = self
            .peers
            .entry(peer.to_owned())
            .or_default()
            .conn
            .replace(fresh)
        {
            close_later(old.pc);
        }
        self.later(
            self.config.connect_timeout,
            Report::ConnectDue {
                peer: peer.to_owned(),
                generation,
            },
        );
        Some(pc)
    }

    pub(super) fn attach(
        &mut self,
        peer: &str,
        generation: u64,
        channel: Arc<dyn DataChannel>,
        framed: bool,
    ) {
        let (writer, requests) = mpsc::channel(WRITE_QUEUE);
        tokio::spawn(peer::read_channel(
            peer.to_owned(),
            generation,
            channel.clone(),
            framed,
            self.config.max_message_size,
            self.reports.clone(),
            self.messages.clone(),
        ));
        tokio::spawn(peer::write_channel(
            peer.to_owned(),
            channel,
            framed,
            requests,
        ));
        if let Some(conn) = self.conn_at(peer, generation) {
            conn.channel = Channel::Connecting(writer);
        }
    }

    pub fn on_connect_due(&mut self, peer: &str, generation: u64) {
        if self.conn_at(peer, generation).is_some_and(|c| !c.is_open()) {
            tracing::warn!(peer = %peer, "connection did not open in time; dropping it");
            self.remove_peer(peer, "connect timeout");
        }
    }

    pub fn on_state(&mut self, peer: &str, generation: u64, state: RTCPeerConnectionState) {
        if self.conn_at(peer, generation).is_none() {
            return;
        }
        tracing::debug!(peer = %peer, %state, "connection state");
        if matches!(
            state,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        ) {
            self.remove_peer(peer, "connection failed/closed");
        }
    }

    pub async fn on_remote_channel(
        &mut self,
        peer: &str,
        generation: u64,
        channel: Arc<dyn DataChannel>,
    ) {
        if self
            .conn_at(peer, generation)
            .is_none_or(|c| c.has_channel())
        {
            // A second channel, or one of a replaced connection.
            return;
        }
        let framed = channel
            .protocol()
            .await
            .is_ok_and(|p| p == framing::PROTOCOL);
        self.attach(peer, generation, channel, framed);
    }

    pub fn on_channel_open(&mut self, peer: &str, generation: u64) {
        let Some(conn) = self.conn_at(peer, generation) else {
            return;
        };
        if let Some(writer) = conn.open() {
            tracing::debug!(me = ?self.local_id, peer = %peer, generation, "channel open");
            self.awaiting_offer.remove(peer);
            self.changes.push(Change::Open(peer.to_owned(), writer));
        }
    }

    pub fn on_channel_closed(&mut self, peer: &str, generation: u64) {
        if self.conn_at(peer, generation).is_some() {
            self.remove_peer(peer, "channel closed");
        }
    }
}

pub(super) fn close_later(pc: Arc<dyn PeerConnection>) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), pc.close()).await;
    });
}
