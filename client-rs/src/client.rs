//! The client facade: one signaling connection plus the peer manager, with
//! the seed's operations (`create_room`, `join_room`, `leave_room`,
//! `data_channel_opened`, `peer_messages`, `send_to_peer`, `client_id`).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::peer_manager::{PeerConfig, PeerError, PeerEvent, PeerManager, PeerMessage};
use crate::signaling::{
    Credential, PeerId, RoomCreated, RoomJoined, SignalingClient, SignalingError, SignalingOptions,
};

/// Failures of the facade.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Signaling(#[from] SignalingError),
    #[error(transparent)]
    Peer(#[from] PeerError),
}

/// Everything [`Client::connect_with`] needs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The gateway, `http://host:port`.
    pub url: String,
    pub credential: Credential,
    pub signaling: SignalingOptions,
    pub peers: PeerConfig,
}

impl ClientConfig {
    pub fn new(url: impl Into<String>, credential: Credential) -> Self {
        Self {
            url: url.into(),
            credential,
            signaling: SignalingOptions::default(),
            peers: PeerConfig::default(),
        }
    }
}

/// A stream of values from the client (also usable with [`Subscription::recv`]).
pub struct Subscription<T> {
    rx: Rx<T>,
}

enum Rx<T> {
    /// Peer messages: delivery waits while the queue is full.
    Bounded(mpsc::Receiver<T>),
    /// Events: few, and the peer actor never waits on a reader.
    Unbounded(mpsc::UnboundedReceiver<T>),
}

impl<T> Subscription<T> {
    /// The next value; `None` once the client is closed.
    pub async fn recv(&mut self) -> Option<T> {
        match &mut self.rx {
            Rx::Bounded(rx) => rx.recv().await,
            Rx::Unbounded(rx) => rx.recv().await,
        }
    }

    /// The next value if one is waiting.
    pub fn try_recv(&mut self) -> Option<T> {
        match &mut self.rx {
            Rx::Bounded(rx) => rx.try_recv().ok(),
            Rx::Unbounded(rx) => rx.try_recv().ok(),
        }
    }
}

impl<T> Stream for Subscription<T> {
    type Item = T;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match &mut self.rx {
            Rx::Bounded(rx) => rx.poll_recv(cx),
            Rx::Unbounded(rx) => rx.poll_recv(cx),
        }
    }
}

/// A connected client.
pub struct Client {
    signaling: SignalingClient,
    peers: PeerManager,
    forwarder: JoinHandle<()>,
}

impl Client {
    /// Connects to the gateway with default settings.
    pub async fn connect(url: &str, credential: Credential) -> Result<Client, ClientError> {
        Self::connect_with(ClientConfig::new(url, credential)).await
    }

    /// Connects to the gateway.
    pub async fn connect_with(config: ClientConfig) -> Result<Client, ClientError> {
        let (signaling, events) =
            SignalingClient::connect(&config.url, &config.credential, config.signaling).await?;
        // Unbounded: the peer actor must not wait on the socket, and what it
        // sends is a handful of signals per connection (an offer or answer,
        // its candidates), themselves bounded by the peers in the room.
        let (out_tx, mut out_rx) = mpsc::unbounded_channel();
        let peers = PeerManager::spawn(config.peers, events, out_tx);
        let forwarder = tokio::spawn({
            let signaling = signaling.clone();
            async move {
                while let Some(signal) = out_rx.recv().await {
                    if let Err(e) = signaling.send_signal(&signal).await {
                        tracing::warn!(error = %e, "could not send a signaling message");
                    }
                }
            }
        });
        Ok(Client {
            signaling,
            peers,
            forwarder,
        })
    }

    /// Creates a room; `None` lets the gateway pick the code. Does not join.
    pub async fn create_room(&self, room_code: Option<&str>) -> Result<RoomCreated, ClientError> {
        Ok(self.signaling.create_room(room_code, None).await?)
    }

    /// Joins a room. The reply lists the peers already there: they offer to
    /// us, and their data channels open as [`Client::data_channel_opened`]
    /// reports.
    pub async fn join_room(&self, room_code: &str) -> Result<RoomJoined, ClientError> {
        Ok(self.signaling.join_room(room_code).await?)
    }

    /// Leaves the current room; every peer connection is closed.
    pub async fn leave_room(&self) -> Result<(), ClientError> {
        Ok(self.signaling.leave_room().await?)
    }

    /// Our peer id, as the room we joined gives it (`room:joined.peerId`);
    /// `None` before a join. It changes when the client reconnects after a
    /// dropped connection.
    pub fn client_id(&self) -> Option<PeerId> {
        self.signaling.peer_id()
    }

    /// Peers whose data channel opens, from now on, starting with those
    /// already open.
    pub async fn data_channel_opened(&self) -> Result<Subscription<PeerId>, ClientError> {
        let mut events = self.peers.events().await?;
        // Unbounded like the events it filters.
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if let PeerEvent::ChannelOpen(peer) = event
                    && tx.send(peer).is_err()
                {
                    break;
                }
            }
        });
        Ok(Subscription {
            rx: Rx::Unbounded(rx),
        })
    }

    /// Messages from peers, `{ from, data, kind }`, each as the peer sent it.
    /// Read it or drop it: once its queue is full, an unread subscription
    /// holds back every peer's messages (and, through SCTP, the senders).
    pub async fn peer_messages(&self) -> Result<Subscription<PeerMessage>, ClientError> {
        Ok(Subscription {
            rx: Rx::Bounded(self.peers.messages().await?),
        })
    }

    /// Every peer event: channel open, peer gone, and room/peer/error events
    /// from the gateway.
    pub async fn events(&self) -> Result<Subscription<PeerEvent>, ClientError> {
        Ok(Subscription {
            rx: Rx::Unbounded(self.peers.events().await?),
        })
    }

    /// Sends `data` to one peer as one message (chunked on the wire when
    /// large, reassembled by the receiver).
    pub async fn send_to_peer(
        &self,
        peer: &str,
        data: impl Into<Bytes>,
    ) -> Result<(), ClientError> {
        Ok(self.peers.send(peer, data.into()).await?)
    }

    /// Sends `text` to one peer as one text message (whole, at most
    /// [`framing::MAX_TEXT`](crate::peer_manager::framing::MAX_TEXT) bytes).
    pub async fn send_text_to_peer(&self, peer: &str, text: &str) -> Result<(), ClientError> {
        Ok(self.peers.send_text(peer, text.to_owned()).await?)
    }

    /// Sends `data` to every peer whose channel is open; returns how many.
    pub async fn broadcast(&self, data: impl Into<Bytes>) -> Result<usize, ClientError> {
        let data = data.into();
        self.to_every_open_peer(|pm, p| {
            let data = data.clone();
            async move { pm.send(&p, data).await }
        })
        .await
    }

    /// Sends `text` as a text message to every open peer; returns how many.
    pub async fn broadcast_text(&self, text: &str) -> Result<usize, ClientError> {
        self.to_every_open_peer(|pm, p| {
            let text = text.to_owned();
            async move { pm.send_text(&p, text).await }
        })
        .await
    }

    async fn to_every_open_peer<F, Fut>(&self, send: F) -> Result<usize, ClientError>
    where
        F: Fn(PeerManager, PeerId) -> Fut,
        Fut: std::future::Future<Output = Result<(), PeerError>>,
    {
        let peers = self.peers.open_peers().await?;
        let sends = peers.into_iter().map(|p| send(self.peers.clone(), p));
        let mut sent = 0;
        for r in futures_util::future::join_all(sends).await {
            match r {
                Ok(()) => sent += 1,
                Err(e) => tracing::debug!(error = %e, "a send to one peer failed"),
            }
        }
        Ok(sent)
    }

    /// Peers whose data channel is open now.
    pub async fn open_peers(&self) -> Result<Vec<PeerId>, ClientError> {
        Ok(self.peers.open_peers().await?)
    }

    /// The signaling connection (for ping, media state, raw emits).
    pub fn signaling(&self) -> &SignalingClient {
        &self.signaling
    }

    /// The peer manager.
    pub fn peer_manager(&self) -> &PeerManager {
        &self.peers
    }

    /// Closes every peer connection and the signaling connection.
    pub async fn close(&self) -> Result<(), ClientError> {
        let _ = self.peers.close().await;
        self.forwarder.abort();
        self.signaling.disconnect().await?;
        Ok(())
    }
}

impl Drop for Client {
    /// A client dropped without [`Client::close`] goes away like a killed
    /// process: its socket is disconnected (the room's peers get `peer:left`)
    /// and the peer manager stops with the last handle.
    fn drop(&mut self) {
        self.forwarder.abort();
        let signaling = self.signaling.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = signaling.disconnect().await;
            });
        }
    }
}
