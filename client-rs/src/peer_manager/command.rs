//! What handles ask the actor, and what goes to a peer's writer task.

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::events::{PeerError, PeerEvent, PeerMessage};
use crate::signaling::{IceServer, PeerId, SignalingEvent};

/// One message for a peer's writer task.
pub(crate) enum Outgoing {
    Binary(Bytes),
    Text(String),
}

pub(crate) struct WriteRequest {
    pub data: Outgoing,
    pub done: oneshot::Sender<Result<(), PeerError>>,
}

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
