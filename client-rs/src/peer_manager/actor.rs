//! The actor owning the peer map. Only [`Actor::run`]'s task touches it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, RTCDataChannelInit};
use webrtc::peer_connection::{
    PeerConnection, RTCIceCandidateInit, RTCPeerConnectionState, RTCSessionDescription,
};

use super::peer::{self, Builder, Handler, Report};
use super::{Command, PeerConfig, PeerEvent, PeerMessage, WriteRequest, framing};
use crate::signaling::{
    IceCandidate, IceServer, OutgoingSignal, PeerId, SessionDescription, SignalingEvent,
};

/// Messages kept for the first subscriber while nobody listens.
const UNCLAIMED_LIMIT: usize = 65_536;
/// Remote candidates kept per peer while its remote description is unknown.
const PENDING_LIMIT: usize = 256;
/// Queued outgoing messages per peer before `send` waits.
const WRITE_QUEUE: usize = 64;

#[derive(Default)]
struct Peer {
    generation: u64,
    pc: Option<Arc<dyn PeerConnection>>,
    /// We sent an offer and have not applied an answer yet.
    offering: bool,
    remote_set: bool,
    local_mid: Option<String>,
    local_ufrag: Option<String>,
    remote_ufrag: Option<String>,
    last_remote_offer: Option<String>,
    /// Remote candidates waiting for the remote description.
    pending: Vec<IceCandidate>,
    /// Remote candidates already seen (`ufrag|candidate`).
    seen: HashSet<String>,
    writer: Option<mpsc::Sender<WriteRequest>>,
    open: bool,
}

pub(crate) struct Actor {
    config: PeerConfig,
    builder: Builder,
    out: mpsc::UnboundedSender<OutgoingSignal>,
    reports: mpsc::UnboundedSender<Report>,
    reports_rx: Option<mpsc::UnboundedReceiver<Report>>,
    local_id: Option<PeerId>,
    ice_servers: Vec<IceServer>,
    peers: HashMap<PeerId, Peer>,
    next_generation: u64,
    message_subs: Vec<mpsc::UnboundedSender<PeerMessage>>,
    unclaimed: VecDeque<PeerMessage>,
    event_subs: Vec<mpsc::UnboundedSender<PeerEvent>>,
    /// Peers listed in our `room:joined`: they are expected to offer.
    awaiting_offer: HashSet<PeerId>,
    /// Sends waiting for a connecting peer's channel to open.
    waiting_writers: HashMap<PeerId, Vec<WriterReply>>,
}

type WriterReply = tokio::sync::oneshot::Sender<Option<mpsc::Sender<WriteRequest>>>;

impl Actor {
    pub fn new(config: PeerConfig, out: mpsc::UnboundedSender<OutgoingSignal>) -> Self {
        let (reports, reports_rx) = mpsc::unbounded_channel();
        Self {
            builder: Builder::new(&config),
            config,
            out,
            reports,
            reports_rx: Some(reports_rx),
            local_id: None,
            ice_servers: Vec::new(),
            peers: HashMap::new(),
            next_generation: 0,
            message_subs: Vec::new(),
            unclaimed: VecDeque::new(),
            event_subs: Vec::new(),
            awaiting_offer: HashSet::new(),
            waiting_writers: HashMap::new(),
        }
    }

    pub async fn run(
        mut self,
        mut signaling: mpsc::UnboundedReceiver<SignalingEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let Some(mut reports) = self.reports_rx.take() else {
            return;
        };
        let mut signaling_open = true;
        loop {
            tokio::select! {
                event = signaling.recv(), if signaling_open => match event {
                    Some(event) => self.on_signal(event).await,
                    None => signaling_open = false,
                },
                command = commands.recv() => match command {
                    Some(Command::Close(done)) => {
                        self.shutdown().await;
                        let _ = done.send(());
                        break;
                    }
                    Some(command) => self.on_command(command).await,
                    None => {
                        self.shutdown().await;
                        break;
                    }
                },
                Some(report) = reports.recv() => self.on_report(report).await,
            }
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::SubscribeMessages(reply) => {
                let (tx, rx) = mpsc::unbounded_channel();
                for m in self.unclaimed.drain(..) {
                    let _ = tx.send(m);
                }
                self.message_subs.push(tx);
                let _ = reply.send(rx);
            }
            Command::SubscribeEvents(reply) => {
                let (tx, rx) = mpsc::unbounded_channel();
                for (id, p) in &self.peers {
                    if p.open {
                        let _ = tx.send(PeerEvent::ChannelOpen(id.clone()));
                    }
                }
                self.event_subs.push(tx);
                let _ = reply.send(rx);
            }
            Command::Writer(peer, reply) => match self.peers.get(&peer) {
                Some(p) if p.open => {
                    let _ = reply.send(p.writer.clone());
                }
                // Connecting: answer when the channel opens (or the peer goes).
                Some(p) if p.pc.is_some() => {
                    self.waiting_writers.entry(peer).or_default().push(reply);
                }
                _ => {
                    let _ = reply.send(None);
                }
            },
            Command::OpenPeers(reply) => {
                let mut open: Vec<PeerId> = self
                    .peers
                    .iter()
                    .filter(|(_, p)| p.open)
                    .map(|(id, _)| id.clone())
                    .collect();
                open.sort();
                let _ = reply.send(open);
            }
            Command::LocalId(reply) => {
                let _ = reply.send(self.local_id.clone());
            }
            Command::Signal(event) => self.on_signal(event).await,
            Command::Close(_) => {}
        }
    }

    async fn on_signal(&mut self, event: SignalingEvent) {
        match event {
            SignalingEvent::Offer { from, description } => self.on_offer(from, description).await,
            SignalingEvent::Answer { from, description } => self.on_answer(from, description).await,
            SignalingEvent::Ice { from, candidate } => {
                self.on_remote_candidate(from, candidate).await
            }
            other => {
                match &other {
                    SignalingEvent::RoomJoined(joined) => {
                        self.local_id = Some(joined.peer_id.clone());
                        self.ice_servers = joined.ice_servers.clone();
                        let members: HashSet<&PeerId> =
                            joined.peers.iter().map(|p| &p.id).collect();
                        let gone: Vec<PeerId> = self
                            .peers
                            .keys()
                            .filter(|id| !members.contains(id))
                            .cloned()
                            .collect();
                        for id in gone {
                            self.remove_peer(&id, "not in the joined room");
                        }
                        self.awaiting_offer.clear();
                        for p in &joined.peers {
                            if self.peers.get(&p.id).is_none_or(|x| x.pc.is_none()) {
                                self.awaiting_offer.insert(p.id.clone());
                                if let Some(after) = self.config.newcomer_offer_after {
                                    self.later(after, Report::OfferDue { peer: p.id.clone() });
                                }
                            }
                        }
                    }
                    SignalingEvent::RoomLeft { .. } => {
                        let all: Vec<PeerId> = self.peers.keys().cloned().collect();
                        for id in all {
                            self.remove_peer(&id, "room left");
                        }
                        self.awaiting_offer.clear();
                    }
                    SignalingEvent::PeerJoined { peer_id, .. } => {
                        let peer_id = peer_id.clone();
                        self.awaiting_offer.remove(&peer_id);
                        if self.peers.contains_key(&peer_id) {
                            self.remove_peer(&peer_id, "rejoined");
                        }
                        self.offer_to(&peer_id).await;
                    }
                    SignalingEvent::PeerLeft { peer_id } => {
                        self.awaiting_offer.remove(peer_id);
                        self.remove_peer(&peer_id.clone(), "peer left");
                    }
                    _ => {}
                }
                self.emit(PeerEvent::Signaling(other));
            }
        }
    }

    async fn on_report(&mut self, report: Report) {
        match report {
            Report::LocalCandidate {
                peer,
                generation,
                candidate,
            } => {
                let Some(p) = self.peer_at(&peer, generation) else {
                    return;
                };
                if p.local_mid.is_none()
                    && let Some(pc) = &p.pc
                    && let Some(local) = pc.local_description().await
                {
                    let (mid, ufrag) = peer::mid_and_ufrag(&local.sdp);
                    p.local_mid = mid;
                    p.local_ufrag = ufrag;
                }
                let candidate = IceCandidate {
                    candidate,
                    sdp_mid: Some(p.local_mid.clone().unwrap_or_else(|| "0".into())),
                    sdp_m_line_index: Some(0),
                    username_fragment: p.local_ufrag.clone(),
                };
                let _ = self.out.send(OutgoingSignal::Ice {
                    to: peer,
                    candidate,
                });
            }
            Report::State {
                peer,
                generation,
                state,
            } => {
                if self.peer_at(&peer, generation).is_none() {
                    return;
                }
                tracing::debug!(peer = %peer, %state, "connection state");
                if matches!(
                    state,
                    RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
                ) {
                    self.remove_peer(&peer, "connection failed/closed");
                }
            }
            Report::RemoteChannel {
                peer,
                generation,
                channel,
            } => {
                if self
                    .peer_at(&peer, generation)
                    .is_none_or(|p| p.writer.is_some())
                {
                    // A second channel, or one of a replaced connection.
                    return;
                }
                let framed = channel
                    .protocol()
                    .await
                    .is_ok_and(|p| p == framing::PROTOCOL);
                self.attach(&peer, generation, channel, framed);
            }
            Report::ChannelOpen { peer, generation } => {
                let Some(p) = self.peer_at(&peer, generation) else {
                    return;
                };
                if !p.open {
                    p.open = true;
                    let writer = p.writer.clone();
                    tracing::debug!(me = ?self.local_id, peer = %peer, generation, "channel open");
                    for waiting in self.waiting_writers.remove(&peer).unwrap_or_default() {
                        let _ = waiting.send(writer.clone());
                    }
                    self.awaiting_offer.remove(&peer);
                    self.emit(PeerEvent::ChannelOpen(peer));
                }
            }
            Report::ChannelClosed { peer, generation } => {
                if self.peer_at(&peer, generation).is_some() {
                    self.remove_peer(&peer, "channel closed");
                }
            }
            Report::Message { peer, data } => {
                self.deliver(PeerMessage { from: peer, data });
            }
            Report::OfferDue { peer } => {
                if self.awaiting_offer.remove(&peer)
                    && self.peers.get(&peer).is_none_or(|p| p.pc.is_none())
                {
                    tracing::debug!(peer = %peer, "no offer came; offering");
                    self.offer_to(&peer).await;
                }
            }
            Report::ConnectDue { peer, generation } => {
                if self.peer_at(&peer, generation).is_some_and(|p| !p.open) {
                    tracing::warn!(peer = %peer, "connection did not open in time; dropping it");
                    self.remove_peer(&peer, "connect timeout");
                }
            }
        }
    }

    fn peer_at(&mut self, peer: &str, generation: u64) -> Option<&mut Peer> {
        self.peers
            .get_mut(peer)
            .filter(|p| p.pc.is_some() && p.generation == generation)
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
        let ice_servers = self.ice_servers.clone();
        let pc = match self.builder.build(&ice_servers, handler).await {
            Ok(pc) => pc,
            Err(e) => {
                tracing::error!(peer = %peer, error = %e, "could not create a peer connection");
                return None;
            }
        };
        let entry = self.peers.entry(peer.to_owned()).or_default();
        if let Some(old) = entry.pc.take() {
            close_later(old);
        }
        entry.generation = generation;
        entry.pc = Some(pc.clone());
        entry.offering = false;
        entry.remote_set = false;
        entry.local_mid = None;
        entry.local_ufrag = None;
        entry.writer = None;
        entry.open = false;
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
        ));
        tokio::spawn(peer::write_channel(
            peer.to_owned(),
            channel,
            framed,
            requests,
        ));
        if let Some(p) = self.peers.get_mut(peer) {
            p.writer = Some(writer);
        }
    }

    /// We are in the room already and `peer` is new: offer.
    async fn offer_to(&mut self, peer: &str) {
        if let Err(e) = self.try_offer_to(peer).await {
            tracing::warn!(peer = %peer, error = %e, "offer failed");
            self.remove_peer(peer, "offer failed");
        }
    }

    async fn try_offer_to(&mut self, peer: &str) -> Result<(), webrtc::error::Error> {
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
        pc.set_local_description(offer.clone()).await?;
        let local = pc.local_description().await.unwrap_or(offer);
        let (mid, ufrag) = peer::mid_and_ufrag(&local.sdp);
        if let Some(p) = self.peers.get_mut(peer) {
            p.offering = true;
            p.local_mid = mid;
            p.local_ufrag = ufrag;
        }
        tracing::debug!(me = ?self.local_id, peer = %peer, generation, "offer sent");
        let _ = self.out.send(OutgoingSignal::Offer {
            to: peer.to_owned(),
            description: SessionDescription {
                kind: "offer".into(),
                sdp: local.sdp,
            },
        });
        Ok(())
    }

    async fn on_offer(&mut self, from: PeerId, description: SessionDescription) {
        if let Err(e) = self.try_answer(&from, description).await {
            tracing::warn!(peer = %from, error = %e, "could not answer an offer");
            self.remove_peer(&from, "answer failed");
        }
    }

    async fn try_answer(
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
        let glare = entry.pc.is_some() && entry.offering;
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
        let fresh = glare || entry.pc.is_none() || entry.remote_ufrag != remote_ufrag;
        let pc = if fresh {
            match self.new_connection(from).await {
                Some(pc) => pc,
                None => return Ok(()),
            }
        } else {
            match &entry.pc {
                Some(pc) => pc.clone(),
                None => return Ok(()),
            }
        };
        let Some(entry) = self.peers.get_mut(from) else {
            return Ok(());
        };
        entry.last_remote_offer = Some(description.sdp.clone());
        entry.remote_ufrag = remote_ufrag;
        pc.set_remote_description(RTCSessionDescription::offer(description.sdp)?)
            .await?;
        entry.remote_set = true;
        let pending = std::mem::take(&mut entry.pending);
        let answer = pc.create_answer(None).await?;
        pc.set_local_description(answer.clone()).await?;
        let local = pc.local_description().await.unwrap_or(answer);
        let (mid, ufrag) = peer::mid_and_ufrag(&local.sdp);
        entry.local_mid = mid;
        entry.local_ufrag = ufrag;
        tracing::debug!(me = ?self.local_id, peer = %from, fresh, "answer sent");
        let _ = self.out.send(OutgoingSignal::Answer {
            to: from.to_owned(),
            description: SessionDescription {
                kind: "answer".into(),
                sdp: local.sdp,
            },
        });
        for candidate in pending {
            self.add_candidate(from, candidate).await;
        }
        Ok(())
    }

    async fn on_answer(&mut self, from: PeerId, description: SessionDescription) {
        let Some(p) = self.peers.get_mut(&from) else {
            return;
        };
        let (Some(pc), true) = (p.pc.clone(), p.offering) else {
            tracing::debug!(peer = %from, "unexpected or duplicate answer ignored");
            return;
        };
        let (_, remote_ufrag) = peer::mid_and_ufrag(&description.sdp);
        let applied = match RTCSessionDescription::answer(description.sdp) {
            Ok(answer) => pc.set_remote_description(answer).await,
            Err(e) => Err(e),
        };
        if let Err(e) = applied {
            tracing::warn!(peer = %from, error = %e, "could not apply an answer");
            self.remove_peer(&from, "bad answer");
            return;
        }
        p.offering = false;
        p.remote_set = true;
        p.remote_ufrag = remote_ufrag;
        let pending = std::mem::take(&mut p.pending);
        for candidate in pending {
            self.add_candidate(&from, candidate).await;
        }
    }

    async fn on_remote_candidate(&mut self, from: PeerId, candidate: IceCandidate) {
        if candidate.candidate.is_empty() {
            return; // end of candidates
        }
        let p = self.peers.entry(from.clone()).or_default();
        let key = format!(
            "{}|{}",
            candidate.username_fragment.as_deref().unwrap_or(""),
            candidate.candidate
        );
        if !p.seen.insert(key) {
            tracing::debug!(peer = %from, "duplicate candidate ignored");
            return;
        }
        if p.pc.is_some() && p.remote_set {
            self.add_candidate(&from, candidate).await;
        } else if p.pending.len() < PENDING_LIMIT {
            p.pending.push(candidate);
        }
    }

    async fn add_candidate(&mut self, peer: &str, candidate: IceCandidate) {
        let Some(p) = self.peers.get(peer) else {
            return;
        };
        let Some(pc) = p.pc.clone() else {
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

    fn remove_peer(&mut self, peer: &str, why: &str) {
        self.waiting_writers.remove(peer);
        if let Some(p) = self.peers.remove(peer)
            && let Some(pc) = p.pc
        {
            tracing::debug!(me = ?self.local_id, peer = %peer, why, "peer removed");
            close_later(pc);
            self.emit(PeerEvent::PeerGone(peer.to_owned()));
        }
    }

    fn emit(&mut self, event: PeerEvent) {
        self.event_subs.retain(|s| s.send(event.clone()).is_ok());
    }

    fn deliver(&mut self, message: PeerMessage) {
        if self.message_subs.is_empty() {
            if self.unclaimed.len() >= UNCLAIMED_LIMIT {
                self.unclaimed.pop_front();
            }
            self.unclaimed.push_back(message);
            return;
        }
        self.message_subs
            .retain(|s| s.send(message.clone()).is_ok());
    }

    async fn shutdown(&mut self) {
        let closing: Vec<_> = self
            .peers
            .drain()
            .filter_map(|(_, p)| p.pc)
            .map(|pc| async move {
                let _ = tokio::time::timeout(Duration::from_secs(2), pc.close()).await;
            })
            .collect();
        futures_util::future::join_all(closing).await;
    }
}

fn close_later(pc: Arc<dyn PeerConnection>) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(5), pc.close()).await;
    });
}
