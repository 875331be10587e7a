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
    use super::*;
    use crate::signaling::PeerInfo;

    struct Rig {
        n: Negotiator,
        out: mpsc::UnboundedReceiver<OutgoingSignal>,
        _reports: mpsc::UnboundedReceiver<Report>,
        _messages: mpsc::Receiver<PeerMessage>,
    }

    fn rig() -> Rig {
        let config = PeerConfig {
            udp_addrs: vec!["127.0.0.1:0".into()],
            mdns: crate::MdnsMode::Disabled,
            newcomer_offer_after: None,
            ..PeerConfig::default()
        };
        let (out_tx, out) = mpsc::unbounded_channel();
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let (messages_tx, messages) = mpsc::channel(8);
        Rig {
            n: Negotiator::new(config, out_tx, reports_tx, messages_tx),
            out,
            _reports: reports,
            _messages: messages,
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

    fn has_connection(n: &Negotiator, peer: &str) -> bool {
        n.peers.get(peer).is_some_and(|p| p.conn.is_some())
    }

    /// Issue 22 item 4: a `peer:joined` that overtakes our own `room:joined`
    /// names a peer the snapshot could not list; the snapshot must not drop it.
    #[tokio::test]
    async fn room_joined_keeps_a_peer_that_peer_joined_announced() {
        let mut r = rig();
        r.n.on_peer_joined("b").await;
        assert!(matches!(r.out.try_recv(), Ok(OutgoingSignal::Offer { ref to, .. }) if to == "b"));
        r.n.on_room_joined(&joined("a", &[]));
        assert!(has_connection(&r.n, "b"), "the offer to b was dropped");
        assert!(r.n.take_changes().is_empty());
        r.n.shutdown().await;
    }
}
