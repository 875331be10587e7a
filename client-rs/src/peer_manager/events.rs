//! What the peer manager tells its users: messages, peer events, errors.

use bytes::Bytes;

use crate::signaling::{PeerId, SignalingEvent};

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
