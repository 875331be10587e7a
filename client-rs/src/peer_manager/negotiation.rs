//! The offer/answer state machine: every peer's connection, who offers, glare,
//! trickle ICE with buffering and de-duplication, and the connections' life.
//!
//! The actor calls in with gateway events and driver reports; what subscribers
//! must hear (a channel opened, a peer gone) is collected as [`Change`]s for
//! the actor to take.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription,
};

use super::command::WriteRequest;
use super::config::PeerConfig;
use super::events::PeerMessage;
use super::framing;
use super::peer::{self, Builder, Handler, Report};
use crate::signaling::{
    IceCandidate, IceServer, OutgoingSignal, PeerId, RoomJoined, SessionDescription,
};

/// Remote candidates kept per peer while its remote description is unknown.
const PENDING_LIMIT: usize = 256;
/// Remote candidates remembered per peer for de-duplication.
const SEEN_LIMIT: usize = 1024;
/// Announced peers remembered between two `room:joined` (a room holds at
/// most a few dozen).
const ANNOUNCED_LIMIT: usize = 1024;
/// Queued outgoing messages per peer before `send` waits.
const WRITE_QUEUE: usize = 64;

pub(crate) type Writer = mpsc::Sender<WriteRequest>;

/// What subscribers must hear about.
pub(crate) enum Change {
    Open(PeerId, Writer),
    Gone(PeerId),
}

/// What we know of one remote peer, across its connections.
#[derive(Default)]
struct Peer {
    /// Remote candidates already seen (`ufrag|candidate`).
    seen: HashSet<String>,
    /// Remote candidates waiting for a remote description.
    pending: Vec<IceCandidate>,
    /// The last offer applied, to ignore a duplicate.
    last_remote_offer: Option<String>,
    /// The ICE ufrag of the remote description; an offer with another one
    /// starts a fresh connection.
    remote_ufrag: Option<String>,
    /// `None` while only candidates arrived.
    conn: Option<Connection>,
}

/// One peer connection, built fresh for every (re)connection.
struct Connection {
    generation: u64,
    pc: Arc<dyn PeerConnection>,
    local: Local,
    signaling: Signaling,
    channel: Channel,
}

/// The mid and ufrag of our local description, for outgoing candidates.
#[derive(Default)]
struct Local {
    mid: Option<String>,
    ufrag: Option<String>,
}

impl Local {
    fn of(sdp: &str) -> Self {
        let (mid, ufrag) = peer::mid_and_ufrag(sdp);
        Self { mid, ufrag }
    }
}

/// Where a connection's offer/answer exchange stands.
enum Signaling {
    /// Built; no description exchanged yet.
    New,
    /// We sent an offer and wait for the answer.
    Offering,
    /// The remote description is applied.
    Stable,
}

/// A connection's data channel.
enum Channel {
    None,
    /// Created or accepted; not open yet.
    Connecting(Writer),
    Open(Writer),
}

impl Connection {
    fn offering(&self) -> bool {
        matches!(self.signaling, Signaling::Offering)
    }

    fn remote_set(&self) -> bool {
        matches!(self.signaling, Signaling::Stable)
    }

    fn is_open(&self) -> bool {
        matches!(self.channel, Channel::Open(_))
    }

    fn has_channel(&self) -> bool {
        !matches!(self.channel, Channel::None)
    }

    /// Marks the channel open; its writer the first time.
    fn open(&mut self) -> Option<Writer> {
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

    /// Replaces `peer`'s connection (if any) with a fresh one.
    async fn new_connection(&mut self, peer: &str) -> Option<Arc<dyn PeerConnection>> {
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

    fn attach(&mut self, peer: &str, generation: u64, channel: Arc<dyn DataChannel>, framed: bool) {
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

    /// We are in the room already and `peer` is new: offer.
    async fn offer_to(&mut self, peer: &str) {
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
    fn send_description(
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

    /// The remote description is set: add the candidates that waited for it.
    async fn apply_pending(&mut self, peer: &str) {
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

    fn remove_all(&mut self, why: &str) {
        let all: Vec<PeerId> = self.peers.keys().cloned().collect();
        for id in all {
            self.remove_peer(&id, why);
        }
        self.awaiting_offer.clear();
        self.announced.clear();
    }

    fn remove_peer(&mut self, peer: &str, why: &str) {
        if let Some(p) = self.peers.remove(peer)
            && let Some(conn) = p.conn
        {
            tracing::debug!(me = ?self.local_id, peer = %peer, why, "peer removed");
            close_later(conn.pc);
            self.changes.push(Change::Gone(peer.to_owned()));
        }
    }
}

/// Applies a local description; returns the SDP as applied (with its
/// candidates gathered so far) and its mid/ufrag.
async fn set_local(
    pc: &dyn PeerConnection,
    description: RTCSessionDescription,
) -> Result<(String, Local), webrtc::error::Error> {
    pc.set_local_description(description.clone()).await?;
    let sdp = pc.local_description().await.unwrap_or(description).sdp;
    let local = Local::of(&sdp);
    Ok((sdp, local))
}

fn close_later(pc: Arc<dyn PeerConnection>) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), pc.close()).await;
    });
}

#[cfg(test)]
mod tests {
    //! Two negotiators wired by hand, in-process, over real webrtc-rs
    //! connections on loopback: each side's signals are handed to the other
    //! (or held back), its driver reports fed back to it.

    use tokio::sync::oneshot;
    use tokio::time::timeout;
    use webrtc::data_channel::DataChannelEvent;

    use super::super::command::Outgoing;
    use super::*;
    use crate::signaling::PeerInfo;

    const SOON: Duration = Duration::from_secs(20);

    /// One side of a pair: its negotiator, what it sent, what it told its
    /// subscribers.
    struct Side {
        id: &'static str,
        n: Negotiator,
        out: mpsc::UnboundedReceiver<OutgoingSignal>,
        reports: mpsc::UnboundedReceiver<Report>,
        messages: mpsc::Receiver<PeerMessage>,
        /// Every signal it sent, in order.
        sent: Vec<OutgoingSignal>,
        /// Its signals kept from the other side until [`release`].
        held: Vec<OutgoingSignal>,
        hold: fn(&OutgoingSignal) -> bool,
        /// The labels of the remote channels its driver reported.
        remote_channels: Vec<String>,
        opened: Vec<PeerId>,
        gone: Vec<PeerId>,
        writers: HashMap<PeerId, Writer>,
    }

    fn config() -> PeerConfig {
        PeerConfig {
            udp_addrs: vec!["127.0.0.1:0".into()],
            mdns: crate::MdnsMode::Disabled,
            newcomer_offer_after: None,
            ..PeerConfig::default()
        }
    }

    /// A side that is in the room as `id`.
    fn side(id: &'static str) -> Side {
        let mut s = unjoined(id);
        s.n.on_room_joined(&joined(id, &[]));
        s
    }

    fn unjoined(id: &'static str) -> Side {
        let (out_tx, out) = mpsc::unbounded_channel();
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (messages_tx, messages) = mpsc::channel(8);
        Side {
            id,
            n: Negotiator::new(config(), out_tx, reports_tx, messages_tx),
            out,
            reports,
            messages,
            sent: Vec::new(),
            held: Vec::new(),
            hold: |_| false,
            remote_channels: Vec::new(),
            opened: Vec::new(),
            gone: Vec::new(),
            writers: HashMap::new(),
        }
    }

    fn joined(me: &str, peers: &[&str]) -> RoomJoined {
        RoomJoined {
            room_id: "room_r".into(),
            room_code: "r".into(),
            peer_id: me.into(),
            peers: peers
                .iter()
                .map(|id| PeerInfo {
                    id: (*id).into(),
                    user_info: Default::default(),
                })
                .collect(),
            ice_servers: Vec::new(),
        }
    }

    impl Side {
        fn conn(&self, peer: &str) -> &Connection {
            self.n
                .peers
                .get(peer)
                .and_then(|p| p.conn.as_ref())
                .unwrap_or_else(|| panic!("{} has no connection with {peer}", self.id))
        }

        fn generation(&self, peer: &str) -> u64 {
            self.conn(peer).generation
        }

        fn pending(&self, peer: &str) -> usize {
            self.n.peers.get(peer).map_or(0, |p| p.pending.len())
        }

        fn count(&self, kind: fn(&OutgoingSignal) -> bool) -> usize {
            self.sent.iter().filter(|s| kind(s)).count()
        }

        async fn on_report(&mut self, report: Report) {
            if let Report::RemoteChannel { channel, .. } = &report {
                self.remote_channels
                    .push(channel.label().await.unwrap_or_default());
            }
            self.n.on_report(report).await;
            self.collect();
        }

        /// Takes what the negotiator told its subscribers.
        fn collect(&mut self) {
            for change in self.n.take_changes() {
                match change {
                    Change::Open(peer, writer) => {
                        self.writers.insert(peer.clone(), writer);
                        self.opened.push(peer);
                    }
                    Change::Gone(peer) => self.gone.push(peer),
                }
            }
        }

        /// The next signal it sent, already queued.
        fn next_sent(&mut self) -> OutgoingSignal {
            let signal = self.out.try_recv().expect("a queued signal");
            self.sent.push(signal.clone());
            signal
        }
    }

    fn is_offer(s: &OutgoingSignal) -> bool {
        matches!(s, OutgoingSignal::Offer { .. })
    }

    fn is_answer(s: &OutgoingSignal) -> bool {
        matches!(s, OutgoingSignal::Answer { .. })
    }

    fn is_description(s: &OutgoingSignal) -> bool {
        is_offer(s) || is_answer(s)
    }

    fn ufrag(s: &OutgoingSignal) -> Option<String> {
        match s {
            OutgoingSignal::Offer { description, .. }
            | OutgoingSignal::Answer { description, .. } => peer::mid_and_ufrag(&description.sdp).1,
            OutgoingSignal::Ice { candidate, .. } => candidate.username_fragment.clone(),
        }
    }

    /// Hands one signal of `from` to `to`, as the gateway would relay it.
    async fn deliver(from: &str, signal: OutgoingSignal, to: &mut Side) {
        match signal {
            OutgoingSignal::Offer { description, .. } => to.n.on_offer(from, description).await,
            OutgoingSignal::Answer { description, .. } => to.n.on_answer(from, description).await,
            OutgoingSignal::Ice { candidate, .. } => {
                to.n.on_remote_candidate(from, candidate).await
            }
        }
        to.collect();
    }

    /// Hands `from`'s held signals to `to`, in order, descriptions stripped
    /// of any candidates (webrtc-rs puts none in today): only trickled
    /// candidates can connect the pair.
    async fn release(from: &mut Side, to: &mut Side) {
        for mut signal in std::mem::take(&mut from.held) {
            if let OutgoingSignal::Offer { description, .. }
            | OutgoingSignal::Answer { description, .. } = &mut signal
            {
                description.sdp = description
                    .sdp
                    .split_inclusive('\n')
                    .filter(|l| {
                        !l.starts_with("a=candidate:") && !l.starts_with("a=end-of-candidates")
                    })
                    .collect();
            }
            deliver(from.id, signal, to).await;
        }
    }

    /// Runs both sides (their reports; their signals, each to the other
    /// unless held) until `done` holds.
    async fn run_until(
        a: &mut Side,
        b: &mut Side,
        what: &str,
        done: impl Fn(&Side, &Side) -> bool,
    ) {
        let run = async {
            while !done(a, b) {
                tokio::select! {
                    Some(r) = a.reports.recv() => a.on_report(r).await,
                    Some(r) = b.reports.recv() => b.on_report(r).await,
                    Some(s) = a.out.recv() => route(a, s, b).await,
                    Some(s) = b.out.recv() => route(b, s, a).await,
                }
            }
        };
        timeout(SOON, run)
            .await
            .unwrap_or_else(|_| panic!("timed out: {what}"));
    }

    async fn route(from: &mut Side, signal: OutgoingSignal, to: &mut Side) {
        from.sent.push(signal.clone());
        if (from.hold)(&signal) {
            from.held.push(signal);
        } else {
            deliver(from.id, signal, to).await;
        }
    }

    fn connected(a: &Side, b: &Side) -> bool {
        a.opened == [b.id] && b.opened == [a.id]
    }

    /// One text message from `from` reaches `to`, once, from `from`.
    async fn carries_text(from: &Side, to: &mut Side) {
        let writer = from.writers.get(to.id).expect("an open channel").clone();
        let text = format!("hello from {}", from.id);
        let (done, sent) = oneshot::channel();
        writer
            .send(WriteRequest {
                data: Outgoing::Text(text.clone()),
                done,
            })
            .await
            .expect("writer task");
        timeout(SOON, sent)
            .await
            .expect("sent in time")
            .expect("writer answers")
            .expect("sent");
        let msg = timeout(SOON, to.messages.recv())
            .await
            .expect("a message in time")
            .expect("messages");
        assert_eq!(
            (msg.from.as_str(), msg.text()),
            (from.id, Some(text.as_str()))
        );
        assert!(to.messages.try_recv().is_err(), "delivered once");
    }

    /// Both ends connected, each opened once, nobody gone, data both ways.
    async fn assert_connected(a: &mut Side, b: &mut Side) {
        assert_eq!(
            (&a.opened[..], &b.opened[..]),
            (&[b.id.to_owned()][..], &[a.id.to_owned()][..])
        );
        assert!(
            a.gone.is_empty() && b.gone.is_empty(),
            "{:?} {:?}",
            a.gone,
            b.gone
        );
        assert_eq!(a.n.open_peers(), [b.id]);
        assert_eq!(b.n.open_peers(), [a.id]);
        carries_text(a, b).await;
        carries_text(b, a).await;
    }

    async fn shutdown(a: Side, b: Side) {
        for mut s in [a, b] {
            s.n.shutdown().await;
        }
    }

    /// Issue 22 item 4: a `peer:joined` that overtakes our own `room:joined`
    /// names a peer the snapshot could not list; the snapshot must not drop it.
    #[tokio::test]
    async fn room_joined_keeps_a_peer_that_peer_joined_announced() {
        let mut a = unjoined("a");
        a.n.on_peer_joined("b").await;
        assert!(matches!(a.out.try_recv(), Ok(OutgoingSignal::Offer { ref to, .. }) if to == "b"));
        a.n.on_room_joined(&joined("a", &[]));
        assert!(
            a.n.peers.get("b").is_some_and(|p| p.conn.is_some()),
            "the offer to b was dropped"
        );
        assert!(a.n.take_changes().is_empty());
        a.n.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_offer_and_its_answer_connect_a_pair() {
        let (mut a, mut b) = (side("a"), side("b"));
        a.n.on_peer_joined("b").await;
        run_until(&mut a, &mut b, "connected", connected).await;
        assert_eq!((a.count(is_offer), a.count(is_answer)), (1, 0));
        assert_eq!((b.count(is_offer), b.count(is_answer)), (0, 1));
        assert_connected(&mut a, &mut b).await;
        shutdown(a, b).await;
    }

    /// Both offer at once. "a" < "b": a is impolite and keeps its offer,
    /// ignoring b's; b is polite, withdraws its own offer (its connection is
    /// replaced by a fresh one: this negotiator's rollback) and answers a's.
    /// Whichever side hears the other's offer first.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn glare_the_impolite_side_keeps_its_offer_and_the_polite_side_rolls_back_and_answers() {
        for polite_hears_first in [true, false] {
            let (mut a, mut b) = (side("a"), side("b"));
            a.n.on_peer_joined("b").await;
            b.n.on_peer_joined("a").await;
            let (a_offer, b_offer) = (a.next_sent(), b.next_sent());
            assert!(is_offer(&a_offer) && is_offer(&b_offer));
            assert!(a.conn("b").offering() && b.conn("a").offering());
            let (a_generation, b_generation) = (a.generation("b"), b.generation("a"));
            let b_withdrawn = b.conn("a").pc.clone();

            let impolite_ignores = |a: &mut Side| {
                assert!(a.out.try_recv().is_err(), "the impolite side answered");
                assert_eq!(a.generation("b"), a_generation);
                assert!(
                    a.conn("b").offering(),
                    "the impolite side gave up its offer"
                );
                assert_eq!(a.n.peers["b"].last_remote_offer, None);
            };
            if polite_hears_first {
                deliver("a", a_offer, &mut b).await;
                deliver("b", b_offer, &mut a).await;
                impolite_ignores(&mut a);
            } else {
                deliver("b", b_offer, &mut a).await;
                impolite_ignores(&mut a);
                deliver("a", a_offer, &mut b).await;
            }
            // The polite side rolled back: a fresh connection, its
            // description applied, and an answer (with the fresh ufrag) sent.
            assert!(b.generation("a") > b_generation);
            assert!(b.conn("a").remote_set());
            let answer = b.next_sent();
            assert!(is_answer(&answer), "the polite side answers");
            assert_ne!(ufrag(&answer), ufrag(&b.sent[0]));
            deliver("b", answer, &mut a).await;

            run_until(&mut a, &mut b, "connected after glare", connected).await;
            assert_eq!((a.count(is_offer), a.count(is_answer)), (1, 0));
            assert_eq!((b.count(is_offer), b.count(is_answer)), (1, 1));
            assert_eq!(a.generation("b"), a_generation);
            assert_connected(&mut a, &mut b).await;
            // The withdrawn connection is closed.
            timeout(SOON, async {
                while b_withdrawn.create_offer(None).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .expect("the polite side's withdrawn connection is closed");
            shutdown(a, b).await;
        }
    }

    /// Candidates that come before the remote description (for the answerer
    /// even before the offer; for the offerer before the answer) wait for it,
    /// then connect the pair: the descriptions carry none.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn candidates_arriving_before_the_remote_description_are_queued_then_applied() {
        let (mut a, mut b) = (side("a"), side("b"));
        a.hold = is_description;
        b.hold = is_description;
        a.n.on_peer_joined("b").await;
        run_until(&mut a, &mut b, "a's candidates reach b first", |a, b| {
            a.count(is_offer) == 1 && b.pending("a") > 0
        })
        .await;
        assert!(
            b.n.peers["a"].conn.is_none(),
            "b has no connection before the offer"
        );
        let queued = b.pending("a");
        assert_eq!(queued, a.sent.iter().filter(|s| !is_description(s)).count());

        release(&mut a, &mut b).await;
        assert_eq!(b.pending("a"), 0, "applied with the offer");
        assert!(b.conn("a").remote_set());
        run_until(&mut a, &mut b, "b's candidates reach a first", |a, b| {
            b.count(is_answer) == 1 && a.pending("b") > 0
        })
        .await;
        assert!(a.conn("b").offering(), "a has no answer yet");
        assert!(a.opened.is_empty() && b.opened.is_empty());

        release(&mut b, &mut a).await;
        assert_eq!(a.pending("b"), 0, "applied with the answer");
        a.hold = |_| false;
        b.hold = |_| false;
        run_until(&mut a, &mut b, "connected on queued candidates", connected).await;
        assert_connected(&mut a, &mut b).await;
        shutdown(a, b).await;
    }

    /// A second offer on `peer`'s connection, adding a data channel
    /// `label`: what an application renegotiating would send.
    async fn renegotiate(s: &mut Side, peer: &str, label: &str) -> Arc<dyn DataChannel> {
        let pc = s.conn(peer).pc.clone();
        let channel = pc
            .create_data_channel(label, None)
            .await
            .expect("a second channel");
        let offer = pc.create_offer(None).await.expect("a second offer");
        let applied = set_local(&*pc, offer).await.expect("applied");
        s.n.send_description(peer, Signaling::Offering, applied);
        channel
    }

    async fn opens(channel: Arc<dyn DataChannel>) {
        timeout(SOON, async {
            loop {
                match channel.poll().await {
                    Some(DataChannelEvent::OnOpen) => break,
                    Some(_) => continue,
                    None => panic!("the channel ended before opening"),
                }
            }
        })
        .await
        .expect("the renegotiated channel opens");
    }

    /// After connecting, each side in turn offers again on the same
    /// connection (adding a channel): the other answers on it, nothing is
    /// rebuilt, the first channel keeps working.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn renegotiation_on_a_connected_pair_keeps_the_connection() {
        let (mut a, mut b) = (side("a"), side("b"));
        a.n.on_peer_joined("b").await;
        run_until(&mut a, &mut b, "connected", connected).await;
        let generations = (a.generation("b"), b.generation("a"));

        for (round, label) in [(2, "from-a"), (3, "from-b")] {
            let (offerer, answerer) = if round == 2 {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            let peer = answerer.id;
            let extra = renegotiate(offerer, peer, label).await;
            let (offers, answers) = (offerer.count(is_offer), answerer.count(is_answer));
            let remote = offerer.id;
            run_until(offerer, answerer, "renegotiated", |o, other| {
                o.conn(peer).remote_set() && other.remote_channels.iter().any(|l| l == label)
            })
            .await;
            assert_eq!(offerer.count(is_offer), offers + 1, "round {round}");
            assert_eq!(answerer.count(is_answer), answers + 1, "round {round}");
            assert!(answerer.conn(remote).remote_set());
            opens(extra).await;
        }
        assert_eq!((a.generation("b"), b.generation("a")), generations);
        assert_eq!((a.count(is_offer), a.count(is_answer)), (2, 1));
        assert_eq!((b.count(is_offer), b.count(is_answer)), (1, 2));
        assert_connected(&mut a, &mut b).await;
        shutdown(a, b).await;
    }
}
