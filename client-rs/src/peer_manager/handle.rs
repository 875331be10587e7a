//! [`PeerManager`]: the handle on the actor that owns every peer connection.

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::actor::Actor;
use super::command::{Command, Outgoing, WriteRequest};
use super::config::PeerConfig;
use super::events::{PeerError, PeerEvent, PeerMessage};
use crate::signaling::{IceServer, OutgoingSignal, PeerId, SignalingEvent};

/// A handle on the peer manager actor. Cheap to clone.
#[derive(Clone)]
pub struct PeerManager {
    commands: mpsc::UnboundedSender<Command>,
}

impl PeerManager {
    /// Starts the actor. It reads the gateway's events from `signaling_in`
    /// (see [`crate::signaling::EVENT_QUEUE`] for a size) and writes offers, answers and
    /// candidates to `signaling_out`.
    pub fn spawn(
        config: PeerConfig,
        signaling_in: mpsc::Receiver<SignalingEvent>,
        signaling_out: mpsc::UnboundedSender<OutgoingSignal>,
    ) -> PeerManager {
        // Unbounded: every caller but `inject` waits for the answer to its
        // command, so the queue holds at most one command per waiting task.
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (actor, reports) = Actor::new(config, signaling_out);
        tokio::spawn(actor.run(reports, signaling_in, commands_rx));
        PeerManager { commands }
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, PeerError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .map_err(|_| PeerError::Stopped)?;
        rx.await.map_err(|_| PeerError::Stopped)
    }

    /// Every message from every peer, from now on (messages that arrived
    /// while nobody subscribed are delivered to the first subscriber). Read
    /// it or drop it: a subscription left unread holds back every peer's
    /// messages once its queue is full.
    pub async fn messages(&self) -> Result<mpsc::Receiver<PeerMessage>, PeerError> {
        self.ask(Command::SubscribeMessages).await
    }

    /// Peer events from now on, starting with a [`PeerEvent::ChannelOpen`]
    /// for every peer whose channel is already open.
    pub async fn events(&self) -> Result<mpsc::UnboundedReceiver<PeerEvent>, PeerError> {
        self.ask(Command::SubscribeEvents).await
    }

    /// The peers whose data channel is open.
    pub async fn open_peers(&self) -> Result<Vec<PeerId>, PeerError> {
        self.ask(Command::OpenPeers).await
    }

    /// Our own peer id, once a room was joined.
    pub async fn local_id(&self) -> Result<Option<PeerId>, PeerError> {
        self.ask(Command::LocalId).await
    }

    /// The ICE servers the connection with `peer` was configured with, read
    /// back from its `RTCPeerConnection`; `None` without a connection.
    pub async fn ice_servers_of(&self, peer: &str) -> Result<Option<Vec<IceServer>>, PeerError> {
        self.ask(|tx| Command::IceServers(peer.to_owned(), tx))
            .await
    }

    /// Injects a signaling event as if it came from the gateway.
    pub fn inject(&self, event: SignalingEvent) -> Result<(), PeerError> {
        self.commands
            .send(Command::Signal(event))
            .map_err(|_| PeerError::Stopped)
    }

    /// Sends one binary message to a peer; large messages are chunked.
    /// Resolves once the message is queued on the data channel. A peer whose
    /// connection is still being set up is waited for (at most the connect
    /// timeout).
    pub async fn send(&self, peer: &str, data: Bytes) -> Result<(), PeerError> {
        self.write(peer, Outgoing::Binary(data)).await
    }

    /// Sends one text message to a peer, whole (at most
    /// [`super::framing::MAX_TEXT`] bytes of UTF-8).
    pub async fn send_text(&self, peer: &str, text: String) -> Result<(), PeerError> {
        self.write(peer, Outgoing::Text(text)).await
    }

    async fn write(&self, peer: &str, data: Outgoing) -> Result<(), PeerError> {
        let writer = self
            .ask(|tx| Command::Writer(peer.to_owned(), tx))
            .await?
            .ok_or_else(|| PeerError::NotConnected(peer.to_owned()))?;
        let (done, done_rx) = oneshot::channel();
        writer
            .send(WriteRequest { data, done })
            .await
            .map_err(|_| PeerError::NotConnected(peer.to_owned()))?;
        done_rx
            .await
            .map_err(|_| PeerError::NotConnected(peer.to_owned()))?
    }

    /// Closes every connection and stops the actor.
    pub async fn close(&self) -> Result<(), PeerError> {
        self.ask(Command::Close).await
    }
}
