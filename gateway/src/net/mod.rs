//! The TCP side of the gateway: the accept loop ([`accept`]) with its
//! per-address cap, HTTP time limits and request-head bound. The metered
//! stream it wraps every connection in belongs to the byte budget
//! ([`crate::send_buffer::meter`]).

pub mod accept;

pub use accept::{HttpLimits, serve};
