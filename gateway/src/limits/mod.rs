//! Every bound a client can run into, in one place (the table below), and the
//! pieces they are built from.

pub mod bucket;
pub mod failures;
pub mod handshake;
pub mod login;
pub mod per_key;
pub mod rest;

use std::time::Duration;

/// A request refused by a rate limit: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited; retry in {retry_after:?}")]
pub struct Limited {
    pub retry_after: Duration,
}
