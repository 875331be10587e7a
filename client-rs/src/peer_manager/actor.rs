//! The actor: one task, one `select!` loop over the gateway's events, the
//! handles' commands and the connections' reports. Only this task touches the
//! peer map (in [`Negotiator`]).

use std::collections::HashMap;

use tokio::sync::mpsc;

use super::command::Command;
use super::config::PeerConfig;
use super::events::PeerEvent;
use super::negotiation::{Change, Negotiator, Writer};
use super::peer::Report;
use super::subscribers::{self, EventSubscribers, MESSAGE_QUEUE, Subscribe};
use crate::signaling::{OutgoingSignal, PeerId, SignalingEvent};

type WriterReply = tokio::sync::oneshot::Sender<Option<Writer>>;

pub(crate) struct Actor {
    negotiator: Negotiator,
    events: EventSubscribers,
    /// Message subscriptions go to the delivery task.
    subscribe: mpsc::UnboundedSender<Subscribe>,
    /// Sends waiting for a connecting peer's channel to open.
    waiting_writers: HashMap<PeerId, Vec<WriterReply>>,
}

impl Actor {
    /// The actor, and the receiver of its reports for [`Actor::run`].
    pub fn new(
        config: PeerConfig,
        out: mpsc::UnboundedSender<OutgoingSignal>,
    ) -> (Self, mpsc::UnboundedReceiver<Report>) {
        let (reports, reports_rx) = mpsc::unbounded_channel();
        let (messages, messages_rx) = mpsc::channel(MESSAGE_QUEUE);
        // One request per `messages()` call, each awaiting its answer.
        let (subscribe, subscribe_rx) = mpsc::unbounded_channel();
        tokio::spawn(subscribers::deliver(messages_rx, subscribe_rx));
        let actor = Self {
            negotiator: Negotiator::new(config, out, reports, messages),
            events: EventSubscribers::default(),
            subscribe,
            waiting_writers: HashMap::new(),
        };
        (actor, reports_rx)
    }

    pub async fn run(
        mut self,
        mut reports: mpsc::UnboundedReceiver<Report>,
        mut signaling: mpsc::Receiver<SignalingEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let mut signaling_open = true;
        loop {
            tokio::select! {
                event = signaling.recv(), if signaling_open => match event {
                    Some(event) => self.on_signal(event).await,
                    None => signaling_open = false,
                },
                command = commands.recv() => match command {
                    Some(Command::Close(done)) => {
                        self.negotiator.shutdown().await;
                        let _ = done.send(());
                        break;
                    }
                    Some(command) => self.on_command(command).await,
                    None => {
                        self.negotiator.shutdown().await;
                        break;
                    }
                },
                Some(report) = reports.recv() => self.negotiator.on_report(report).await,
            }
            self.publish();
        }
    }

    async fn on_command(&mut self, command: Command) {
        match command {
            Command::SubscribeMessages(reply) => {
                let _ = self.subscribe.send(reply);
            }
            Command::SubscribeEvents(reply) => {
                let _ = reply.send(self.events.subscribe(self.negotiator.open_peers()));
            }
            Command::Writer(peer, reply) => match self.negotiator.writer(&peer) {
                Ok(Some(writer)) => {
                    let _ = reply.send(Some(writer));
                }
                // Connecting: answer when the channel opens (or the peer goes).
                Ok(None) => self.waiting_writers.entry(peer).or_default().push(reply),
                Err(()) => {
                    let _ = reply.send(None);
                }
            },
            Command::OpenPeers(reply) => {
                let _ = reply.send(self.negotiator.open_peers());
            }
            Command::LocalId(reply) => {
                let _ = reply.send(self.negotiator.local_id());
            }
            Command::IceServers(peer, reply) => {
                let _ = reply.send(self.negotiator.configured_ice_servers(&peer).await);
            }
            Command::Signal(event) => self.on_signal(event).await,
            Command::Close(_) => {}
        }
    }

    async fn on_signal(&mut self, event: SignalingEvent) {
        let n = &mut self.negotiator;
        match event {
            SignalingEvent::Offer { from, description } => n.on_offer(&from, description).await,
            SignalingEvent::Answer { from, description } => n.on_answer(&from, description).await,
            SignalingEvent::Ice { from, candidate } => {
                n.on_remote_candidate(&from, candidate).await
            }
            other => {
                match &other {
                    SignalingEvent::RoomJoined(joined) => n.on_room_joined(joined),
                    SignalingEvent::RoomLeft { .. } => n.on_room_left(),
                    SignalingEvent::PeerJoined { peer_id, .. } => n.on_peer_joined(peer_id).await,
                    SignalingEvent::PeerLeft { peer_id } => n.on_peer_left(peer_id),
                    SignalingEvent::Disconnected { .. } => n.on_disconnected(),
                    _ => {}
                }
                // Negotiation's changes (peers gone) come before the event.
                self.publish();
                self.events.emit(PeerEvent::Signaling(other));
            }
        }
    }

    /// Tells subscribers and waiting senders what negotiation changed.
    fn publish(&mut self) {
        for change in self.negotiator.take_changes() {
            match change {
                Change::Open(peer, writer) => {
                    for waiting in self.waiting_writers.remove(&peer).unwrap_or_default() {
                        let _ = waiting.send(Some(writer.clone()));
                    }
                    self.events.emit(PeerEvent::ChannelOpen(peer));
                }
                Change::Gone(peer) => {
                    for waiting in self.waiting_writers.remove(&peer).unwrap_or_default() {
                        let _ = waiting.send(None);
                    }
                    self.events.emit(PeerEvent::PeerGone(peer));
                }
            }
        }
    }
}
