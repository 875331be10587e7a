//! The gateway's bounds against clients that misbehave (issue 11, transport
//! side), each checked against the real binary: what a slow reader may make
//! it hold (`slow_reader`), HTTP time limits and connection caps (`http`),
//! socket caps and handshake bounds (`sockets`), a polling session that never
//! collects its data (`uncollected`). One test binary for all.

#[path = "../support/mod.rs"]
mod support;

mod http;
mod node_memory;
mod slow_reader;
mod sockets;
mod uncollected;
