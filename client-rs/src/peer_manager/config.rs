//! How peer connections are built.

use std::time::Duration;

/// mDNS candidates policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MdnsMode {
    /// Query-only where it works, disabled where building a connection with it
    /// fails (a loopback-only host).
    #[default]
    Auto,
    QueryOnly,
    Disabled,
}

/// How peer connections are built.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// Local UDP addresses to bind. Empty: `0.0.0.0:0` when the host has a
    /// route out, else `127.0.0.1:0` (a loopback-only host).
    pub udp_addrs: Vec<String>,
    pub mdns: MdnsMode,
    /// Bytes a data channel may have in flight before sends wait.
    pub send_buffer_limit: usize,
    /// Largest message accepted from a peer (reassembled).
    pub max_message_size: usize,
    /// A newcomer waits this long for the peers already in the room to offer,
    /// then offers itself (for peers that never offer). `None`: never.
    pub newcomer_offer_after: Option<Duration>,
    /// A connection not connected within this time is dropped.
    pub connect_timeout: Duration,
}

impl Default for PeerConfig {
    fn default() -> Self {
        Self {
            udp_addrs: Vec::new(),
            mdns: MdnsMode::Auto,
            send_buffer_limit: 4 * 1024 * 1024,
            max_message_size: 256 * 1024 * 1024,
            newcomer_offer_after: Some(Duration::from_secs(5)),
            connect_timeout: Duration::from_secs(30),
        }
    }
}
