//! What every handler shares: built once from the [`Config`](crate::config::Config).

use std::sync::Arc;

use crate::accounts::AccountStore;
use crate::app_data::AppData;
use crate::auth::Authenticator;
use crate::auth::jwt::TokenIssuer;
use crate::delivery::Delivery;
use crate::ice::IceConfig;
use crate::limits::handshake::HandshakeThrottle;
use crate::limits::login::LoginThrottle;
use crate::limits::per_key::PerKey;
use crate::metrics::Metrics;
use crate::rooms::{RoomQuota, RoomRegistry, RoomTurns};
use crate::send_buffer::outbox::Outboxes;

/// Limits applied to each socket.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub rate_limit_burst: u32,
    pub rate_limit_per_sec: f64,
    /// Bytes of relays a socket may hold unsent (`MAX_SEND_BUFFER`).
    pub send_buffer: usize,
}

/// How failed events are reported (`ERROR_EVENT`, `SFU_URL`).
#[derive(Debug, Clone)]
pub struct ErrorReporting {
    /// The event name(s) every failure is emitted on.
    pub events: Vec<String>,
    /// Sent with `ROOM_FULL` as `sfuUrl`.
    pub sfu_url: Option<String>,
}

pub struct AppState {
    pub rooms: Arc<dyn RoomRegistry>,
    /// How relays and room events reach their peers, here or on other nodes.
    pub delivery: Arc<dyn Delivery>,
    /// The caps every room creation goes through.
    pub room_quota: RoomQuota,
    /// One room's changes on this node, one at a time with their news.
    pub room_turns: RoomTurns,
    pub auth: Authenticator,
    /// The app's own users and rooms, when configured (for `/readyz`; the
    /// lookups themselves sit in `auth` and `rooms`).
    pub app_data: AppData,
    pub accounts: AccountStore,
    pub throttle: LoginThrottle,
    pub tokens: TokenIssuer,
    pub ice: IceConfig,
    pub errors: ErrorReporting,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    /// Every socket's outbox, drawing on the node's `MAX_NODE_SEND_BUFFER`.
    pub outboxes: Outboxes,
    /// `AUTH_FAILURE=event`: let unauthenticated sockets connect to tell them why.
    pub auth_failure_as_event: bool,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client
    /// (read by [`client_ip`](crate::client_addr::client_ip)).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Connected sockets per user id (`MAX_SOCKETS_PER_USER`).
    pub user_sockets: Arc<PerKey<String>>,
    /// Refused handshakes per address (`HANDSHAKE_MAX_FAILURES_PER_ADDRESS`).
    pub handshakes: HandshakeThrottle,
}
