//! Every bound a client can run into, in one place: [`BOUNDS`] names each one
//! (its setting, its default, what it protects and what a client gets when it
//! hits it), and the modules here are the pieces they are built from. One
//! bucket type serves every rate ([`bucket`], governor's).
//!
//! - [`bucket`]: the per-socket event budget and the quotas of every rate.
//! - [`per_key`]: a cap on concurrent things per key (connections and
//!   sessions per address, sockets per user), with the place given back on drop.
//! - [`failures`]: failed attempts per key in a sliding window.
//! - [`login`]: the login throttle (per username and address, per address).
//! - [`handshake`]: refused handshakes per address.
//! - [`rest`]: the REST API's per-address rates and failure counts.
//! - [`memory`]: the node-wide byte budget every holder of client bytes draws on.
//!
//! Bounds that belong to one structure stay beside it and are listed here:
//! room caps (`rooms::quota`), the slow-reader byte budget (`send_buffer`),
//! relay sizes (`events::relay::payload`), the hashing pool (`accounts::hashing`).

pub mod bucket;
pub mod failures;
pub mod handshake;
pub mod login;
pub mod memory;
pub mod per_key;
pub mod rest;

use std::time::Duration;

/// A request refused by a rate limit: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited; retry in {retry_after:?}")]
pub struct Limited {
    pub retry_after: Duration,
}

/// One bound, as an operator and a client see it.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The environment variable that sets it, or `None` for a fixed bound.
    pub setting: Option<&'static str>,
    /// Its default, as the README's table shows it.
    pub default: &'static str,
    /// What it protects.
    pub protects: &'static str,
    /// What a client gets when it hits it.
    pub at_limit: &'static str,
}

const fn set(
    setting: &'static str,
    default: &'static str,
    protects: &'static str,
    at_limit: &'static str,
) -> Bound {
    Bound {
        setting: Some(setting),
        default,
        protects,
        at_limit,
    }
}

const fn fixed(default: &'static str, protects: &'static str, at_limit: &'static str) -> Bound {
    Bound {
        setting: None,
        default,
        protects,
        at_limit,
    }
}

/// Every bound of the gateway.
pub const BOUNDS: &[Bound] = &[
    // Sockets.
    set(
        "RATE_LIMIT_BURST",
        "1000",
        "the node's CPU from one socket's flood of events",
        "`error` RATE_LIMITED for each event past the budget; the socket stays",
    ),
    set(
        "RATE_LIMIT_PER_SEC",
        "200",
        "the same, sustained",
        "as RATE_LIMIT_BURST",
    ),
    set(
        "MAX_PAYLOAD",
        "1000000",
        "memory per incoming message",
        "the connection is closed (Engine.IO)",
    ),
    set(
        "MAX_SEND_BUFFER",
        "2097152",
        "memory held for a socket that does not read its relays",
        "that socket is disconnected (its room sees peer:left); the sender gets PEER_NOT_FOUND",
    ),
    set(
        "MAX_NODE_SEND_BUFFER",
        "268435456",
        "the node's memory from many slow readers at once, each under its own budget",
        "the sockets holding the most are disconnected (their rooms see peer:left) until the relay fits",
    ),
    set(
        "MAX_NODE_MEMORY",
        "536870912",
        "the node's memory from every kind of client bytes together: queued relays, WebSocket frames being received, HTTP requests being read",
        "a relay cuts off the sockets holding the most; a frame or request read closes its own connection",
    ),
    set(
        "MAX_PRE_CONNECT_PAYLOAD",
        "16384",
        "memory held by connections that have not been admitted (a partial message each)",
        "the connection is closed",
    ),
    set(
        "HANDSHAKE_TIMEOUT",
        "10s",
        "sessions that never send CONNECT, or a binary attachment that never comes",
        "the session is closed",
    ),
    set(
        "MAX_SOCKETS_PER_USER",
        "20",
        "the node from one account's sockets",
        "connect_error \"Too many sockets for this user\"",
    ),
    fixed(
        "256 refusals",
        "memory of a socket far over its budget while its queue is busy",
        "RATE_LIMITED answered at once, out of turn",
    ),
    fixed(
        "1 attachment of 1 KiB",
        "binary attachments, which the protocol has none of",
        "INVALID_PAYLOAD; more closes the connection",
    ),
    fixed(
        "64 KiB SDP, 4 KiB candidate, 128 B target",
        "the relayed value the target has to parse",
        "INVALID_PAYLOAD",
    ),
    // Addresses.
    set(
        "MAX_CONNECTIONS_PER_ADDRESS",
        "1000",
        "file descriptors and memory from one address",
        "the TCP connection is closed at once",
    ),
    set(
        "MAX_SOCKETS_PER_ADDRESS",
        "500",
        "Engine.IO sessions from one address",
        "the handshake gets 429",
    ),
    set(
        "HANDSHAKE_MAX_FAILURES_PER_ADDRESS",
        "60",
        "credential guessing and the cost of checking",
        "connect_error \"Unauthorized\" without the credential being looked at",
    ),
    set(
        "HANDSHAKE_FAILURE_WINDOW",
        "1m",
        "the window of that count",
        "as HANDSHAKE_MAX_FAILURES_PER_ADDRESS",
    ),
    set(
        "HEADER_TIMEOUT",
        "10s",
        "connections that never finish a request head",
        "the connection is closed",
    ),
    set(
        "MAX_REQUEST_HEAD",
        "16384",
        "memory of connections that send huge request heads",
        "431 and the connection is closed",
    ),
    set(
        "BODY_TIMEOUT",
        "10s",
        "request bodies that trickle",
        "the connection is closed",
    ),
    fixed("16 KiB", "REST request bodies", "413 PAYLOAD_TOO_LARGE"),
    // Accounts and REST.
    set(
        "LOGIN_MAX_FAILURES",
        "5",
        "one user's password from guessing at one address",
        "429 TOO_MANY_ATTEMPTS with Retry-After",
    ),
    set(
        "LOGIN_BACKOFF",
        "30s",
        "the same, doubling",
        "as LOGIN_MAX_FAILURES",
    ),
    set(
        "LOGIN_MAX_FAILURES_PER_ADDRESS",
        "20",
        "every user's password from one address",
        "429 TOO_MANY_ATTEMPTS with Retry-After",
    ),
    set(
        "LOGIN_WINDOW",
        "15m",
        "the window of the login and API-key counts",
        "as the counts",
    ),
    set(
        "API_KEY_MAX_FAILURES_PER_ADDRESS",
        "20",
        "API keys from guessing",
        "429 TOO_MANY_ATTEMPTS with Retry-After",
    ),
    set(
        "AUTH_RATE_PER_MINUTE",
        "30",
        "the account routes (each login costs an argon2id hash)",
        "429 TOO_MANY_ATTEMPTS with Retry-After",
    ),
    set(
        "REGISTER_PER_HOUR",
        "10",
        "the account store from mass registration",
        "429 TOO_MANY_ATTEMPTS with Retry-After",
    ),
    set(
        "ROOM_LOOKUP_MISSES_PER_MINUTE",
        "30",
        "room codes from guessing",
        "429 TOO_MANY_ATTEMPTS with Retry-After",
    ),
    set(
        "HASH_QUEUE",
        "32",
        "CPU and memory (19 MiB per argon2id hash)",
        "503 SERVER_BUSY with Retry-After: 1",
    ),
    // Rooms.
    set(
        "MAX_ROOM_SIZE",
        "10",
        "a mesh's cost to each peer, and the relays a room can make",
        "`error` ROOM_FULL (with sfuUrl when SFU_URL is set)",
    ),
    set("MAX_ROOMS", "10000", "the room store", "TOO_MANY_ROOMS"),
    set(
        "MAX_ROOMS_PER_USER",
        "20",
        "the room store from one user",
        "TOO_MANY_ROOMS",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bound_says_what_it_protects_and_what_a_client_gets() {
        for b in BOUNDS {
            assert!(
                !b.default.is_empty() && !b.protects.is_empty() && !b.at_limit.is_empty(),
                "{b:?}"
            );
        }
        let mut names: Vec<_> = BOUNDS.iter().filter_map(|b| b.setting).collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all, "a setting listed twice");
    }
}
