//! The peer manager: every peer connection and its data channel, owned by one
//! actor task.
//!
//! The actor is fed by three channels — signaling events from the gateway,
//! commands from [`PeerManager`] handles, and events from the peer
//! connections' drivers — and writes signaling messages to one output channel.
//! It shares no state: no lock guards the peer map, which only the actor
//! touches (the seed's "no sync, no locks").
//!
//! Who offers: a peer already in the room offers to each newcomer on
//! `peer:joined`; the newcomer answers. Simultaneous offers (glare) are
//! resolved by politeness: the peer with the higher id is polite and yields
//! (it drops its own offer and answers); the other ignores the colliding
//! offer. Candidates that arrive before the remote description — even before
//! the offer — are buffered, duplicates of offers, answers and candidates are
//! ignored.

mod actor;
pub mod framing;
mod negotiation;
mod peer;
mod runtime;
mod subscribers;

use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::signaling::{IceServer, OutgoingSignal, PeerId, SignalingEvent};

/// A message received from a peer over its data channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerMessage {
    pub from: PeerId,
    /// The bytes; UTF-8 when `kind` is [`MessageKind::Text`].
    pub data: Bytes,
    pub kind: MessageKind,
}

/// Whether a message went as text or binary (`docs/DATA-CHANNELS.md` §3:
/// text messages go whole, binary ones are framed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Binary,
    Text,
}

impl PeerMessage {
    /// The text of a text message.
    pub fn text(&self) -> Option<&str> {
        match self.kind {
            MessageKind::Text => std::str::from_utf8(&self.data).ok(),
            MessageKind::Binary => None,
        }
    }
}

/// What happens to peers, as subscribers see it.
#[derive(Debug, Clone, PartialEq)]
pub enum PeerEvent {
    /// The data channel with this peer is open: it can be sent to.
    ChannelOpen(PeerId),
    /// The connection with this peer is gone (it left, was lost or failed).
    PeerGone(PeerId),
    /// A signaling event that is not WebRTC negotiation (room and peer
    /// membership, media state, errors, disconnection), passed through.
    Signaling(SignalingEvent),
}

/// mDNS candidates policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MdnsMode {
    /// Query-only where it works, disabled where building a connection with it
    /// fails (a loopback-only host).
    #[default]
    Auto,
    QueryOnly,
    Disabled,
}

/// How peer connections are built.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Local UDP addresses to bind. Empty: `0.0.0.0:0` when the host has a
    /// route out, else `127.0.0.1:0` (a loopback-only host).
    pub udp_addrs: Vec<String>,
    pub mdns: MdnsMode,
    /// Bytes a data channel may have in flight before sends wait.
    pub send_buffer_limit: usize,
    /// Largest message accepted from a peer (reassembled).
    pub max_message_size: usize,
    /// A newcomer waits this long for the peers already in the room to offer,
    /// then offers itself (for peers that never offer). `None`: never.
    pub newcomer_offer_after: Option<Duration>,
    /// A connection not connected within this time is dropped.
    pub connect_timeout: Duration,
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            udp_addrs: Vec::new(),
            mdns: MdnsMode::Auto,
            send_buffer_limit: 4 * 1024 * 1024,
            max_message_size: 256 * 1024 * 1024,
            newcomer_offer_after: Some(Duration::from_secs(5)),
            connect_timeout: Duration::from_secs(30),
        }
    }
}

/// Failures of peer operations.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("no open data channel with peer {0}")]
    NotConnected(PeerId),
    #[error("message of {size} bytes is over the {limit}-byte limit of peer {peer}'s channel")]
    TooLarge {
        peer: PeerId,
        size: usize,
        limit: usize,
    },
    #[error("data channel: {0}")]
    Channel(String),
    #[error("the peer manager has stopped")]
    Stopped,
}

/// One message for a peer's writer task.
pub(crate) enum Outgoing {
    Binary(Bytes),
    Text(String),
}

pub(crate) struct WriteRequest {
    pub data: Outgoing,
    pub done: oneshot::Sender<Result<(), PeerError>>,
}

/// Gateway events waiting for the actor. The signaling reader waits when it
/// is full, which holds back the socket rather than growing memory.
pub const SIGNALING_QUEUE: usize = 1024;

pub(crate) enum Command {
    SubscribeMessages(oneshot::Sender<mpsc::Receiver<PeerMessage>>),
    SubscribeEvents(oneshot::Sender<mpsc::UnboundedReceiver<PeerEvent>>),
    Writer(PeerId, oneshot::Sender<Option<mpsc::Sender<WriteRequest>>>),
    OpenPeers(oneshot::Sender<Vec<PeerId>>),
    LocalId(oneshot::Sender<Option<PeerId>>),
    IceServers(PeerId, oneshot::Sender<Option<Vec<IceServer>>>),
    Signal(SignalingEvent),
    Close(oneshot::Sender<()>),
}

/// A handle on the peer manager actor. Cheap to clone.
#[derive(Clone)]
pub struct PeerManager {
    commands: mpsc::UnboundedSender<Command>,
}

impl PeerManager {
    /// Starts the actor. It reads the gateway's events from `signaling_in`
    /// (see [`SIGNALING_QUEUE`] for a size) and writes offers, answers and
    /// candidates to `signaling_out`.
    pub fn spawn(
        config: PeerConfig,
        signaling_in: mpsc::Receiver<SignalingEvent>,
        signaling_out: mpsc::UnboundedSender<OutgoingSignal>,
    ) -> PeerManager {
        // Unbounded: every caller but `inject` waits for the answer to its
        // command, so the queue holds at most one command per waiting task.
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (actor, reports) = actor::Actor::new(config, signaling_out);
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
    /// [`framing::MAX_TEXT`] bytes of UTF-8).
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
