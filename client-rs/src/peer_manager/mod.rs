//! The peer manager: every peer connection and its data channel, in one actor.
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
mod command;
mod config;
mod events;
pub mod framing;
mod handle;
mod negotiation;
mod peer;
mod runtime;
mod subscribers;

pub use config::{MdnsMode, PeerConfig};
pub use events::{MessageKind, PeerError, PeerEvent, PeerMessage};
pub use handle::PeerManager;
