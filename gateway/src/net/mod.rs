//! The TCP side of the gateway: the accept loop with its per-address cap and
//! HTTP time limits ([`accept`]), per-address counting ([`address`]), the
//! metered stream under every connection ([`meter`]) and what it tells about
//! delivered relays ([`delivery`]).

pub mod accept;

pub use accept::{HttpLimits, serve};
