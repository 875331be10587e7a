//! The bench's Socket.IO client: Engine.IO v4 / Socket.IO v5 over a hand-rolled WebSocket.
//!
//! Lean on purpose: one read buffer that starts at 512 bytes, one write buffer,
//! frames parsed in place, writes batched into one `write` per flush, engine
//! pings (`2`) answered with `3` inside the parser. No fragmentation, no
//! extensions (we never offer permessage-deflate). Acked emits' answers are
//! read in place too ([`parse_ack`]).

mod ack;
mod conn;
mod frame;
mod scan;

pub use ack::{Answer, parse_ack};
pub use conn::Conn;
pub use scan::{extract_str, find, parse_u64};
