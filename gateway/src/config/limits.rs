//! Every per-client bound; `crate::limits::BOUNDS` says what each protects.

use std::time::Duration;

use clap::Args;

use super::parse::{parse_duration, parse_net, parse_timeout};

/// Every per-client bound (see `limits` for what each protects).
#[derive(Clone, Args)]
#[command(next_help_heading = "Limits")]
pub struct LimitsConfig {
    /// Events a socket may send in a burst.
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 1000)]
    pub rate_limit_burst: u32,

    /// Events per second refilled into a socket's budget.
    #[arg(long, env = "RATE_LIMIT_PER_SEC", default_value_t = 200.0)]
    pub rate_limit_per_sec: f64,

    /// Largest Engine.IO message in bytes; a bigger one closes the connection.
    #[arg(long, env = "MAX_PAYLOAD", default_value_t = 1_000_000)]
    pub max_payload: u64,

    /// Bytes of relays a socket may have queued and not yet read (at least
    /// 256 KiB); a relay past it disconnects that socket.
    #[arg(long, env = "MAX_SEND_BUFFER", default_value_t = 2 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(256 * 1024..))]
    pub max_send_buffer: u64,

    /// Bytes of relays all sockets of the node together may have queued and
    /// not yet read (at least 1 MiB); past it the sockets holding the most
    /// are disconnected.
    #[arg(long, env = "MAX_NODE_SEND_BUFFER", default_value_t = 256 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024 * 1024..))]
    pub max_node_send_buffer: u64,

    /// Bytes the node may hold for all its clients together (at least 16
    /// MiB): queued relays, WebSocket frames being received, HTTP requests
    /// being read. Past it the holder asking for more is refused or cut off.
    #[arg(long, env = "MAX_NODE_MEMORY", default_value_t = 512 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(16 * 1024 * 1024..))]
    pub max_node_memory: u64,

    /// Bytes a connection may send before its Socket.IO CONNECT is accepted
    /// (its CONNECT included); more closes it.
    #[arg(long, env = "MAX_PRE_CONNECT_PAYLOAD", default_value_t = 16 * 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1024..=1024 * 1024))]
    pub max_pre_connect_payload: usize,

    /// Time a new Engine.IO session has to send Socket.IO's CONNECT, and a
    /// packet with binary attachments to arrive whole.
    #[arg(long, env = "HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub handshake_timeout: Duration,

    /// Largest HTTP request head in bytes (Node's own default); a bigger one
    /// gets 431 and the connection is closed.
    #[arg(long, env = "MAX_REQUEST_HEAD", default_value_t = 16 * 1024, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(8192..=1024 * 1024))]
    pub max_request_head: usize,

    /// Open TCP connections per client address (TRUSTED_PROXIES are not counted).
    #[arg(long, env = "MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 1000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_connections_per_address: usize,

    /// Engine.IO sessions per client address, connected or not yet.
    #[arg(long, env = "MAX_SOCKETS_PER_ADDRESS", default_value_t = 500, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_sockets_per_address: usize,

    /// Connected sockets per user.
    #[arg(long, env = "MAX_SOCKETS_PER_USER", default_value_t = 20, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_sockets_per_user: usize,

    /// Refused handshakes per client address within HANDSHAKE_FAILURE_WINDOW
    /// before further ones are refused unchecked.
    #[arg(long, env = "HANDSHAKE_MAX_FAILURES_PER_ADDRESS", default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..))]
    pub handshake_max_failures_per_address: u32,

    /// Window of the handshake throttle, from an address's first refusal.
    #[arg(long, env = "HANDSHAKE_FAILURE_WINDOW", default_value = "1m", value_parser = parse_timeout)]
    pub handshake_failure_window: Duration,

    /// Proxies whose `X-Forwarded-For` is believed (IPs or CIDRs, comma-separated).
    /// Empty: the client address is the TCP peer's.
    #[arg(long = "trusted-proxies", env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Failed logins per (username, client address) before backoff starts.
    #[arg(long, env = "LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,

    /// First wait once a (username, address) pair is over LOGIN_MAX_FAILURES;
    /// doubled by each further failure, up to LOGIN_WINDOW.
    #[arg(long, env = "LOGIN_BACKOFF", default_value = "30s", value_parser = parse_duration)]
    pub login_backoff: Duration,

    /// Failed logins per client address within LOGIN_WINDOW before 429.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_ADDRESS", default_value_t = 20)]
    pub login_max_failures_per_address: u32,

    /// Window over which failed logins and API keys are counted.
    #[arg(long, env = "LOGIN_WINDOW", default_value = "15m", value_parser = parse_duration)]
    pub login_window: Duration,

    /// Unknown API keys per client address within LOGIN_WINDOW before 429.
    #[arg(long, env = "API_KEY_MAX_FAILURES_PER_ADDRESS", default_value_t = 20)]
    pub api_key_max_failures_per_address: u32,

    /// Requests per minute per client address to /register, /token,
    /// /regenerate and /newpassword (also the burst).
    #[arg(long, env = "AUTH_RATE_PER_MINUTE", default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..))]
    pub auth_rate_per_minute: u32,

    /// Accounts one client address may register per hour (also the burst).
    #[arg(long, env = "REGISTER_PER_HOUR", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub register_per_hour: u32,

    /// `GET /rooms/{code}` misses per client address per minute before 429.
    #[arg(long, env = "ROOM_LOOKUP_MISSES_PER_MINUTE", default_value_t = 30)]
    pub room_lookup_misses_per_minute: u32,
}
