//! `wsc-app/1`, the protocol of chat lines and files on the data channel.
//!
//! The application protocol of the `webrtc-client` CLI and the demo page
//! (`docs/DATA-CHANNELS.md` §4), over one data channel. Text messages are
//! typed JSON ([`AppMessage`]); binary messages are the data of the file
//! being sent.
//!
//! - [`messages`]: the typed messages, their rules and parsing;
//! - [`receive`]: the receiving side as a state machine ([`Inbound`]);
//! - [`store`]: that state machine storing files on disk ([`Downloads`]);
//! - [`send`]: what a sender needs ([`offer_for`], [`PIECE`], [`new_id`]).

pub mod messages;
pub mod receive;
pub mod send;
pub mod store;

pub use messages::{AckCode, AckError, AppMessage, FileAck, FileOffer, Parsed, parse, safe_name};
pub use receive::{Inbound, Received};
pub use send::{MAX_PIECE, PIECE, new_id, offer_for};
pub use store::{Downloads, Outcome, Target};
