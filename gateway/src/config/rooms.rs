//! Rooms, the ICE servers handed out on join, and how errors are reported.

use std::time::Duration;

use clap::{ArgAction, Args};

use super::parse::parse_duration;

/// Rooms, the ICE servers handed out on join, and how errors are reported.
#[derive(Clone, Args)]
#[command(next_help_heading = "Rooms, ICE servers and errors")]
pub struct RoomsConfig {
    /// How long an empty room lives (seconds, or with an s/m/h suffix).
    #[arg(long, env = "ROOM_TTL", default_value = "10m", value_parser = parse_duration)]
    pub room_ttl: Duration,

    /// `join:room` creates missing rooms.
    #[arg(long, env = "AUTO_CREATE_ROOMS", default_value_t = false, action = ArgAction::Set)]
    pub auto_create_rooms: bool,

    /// Default and upper bound of a room's `maxPeers`.
    #[arg(long, env = "MAX_ROOM_SIZE", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_room_size: u32,

    /// Live rooms in all (across the cluster).
    #[arg(long, env = "MAX_ROOMS", default_value_t = 10_000)]
    pub max_rooms: usize,

    /// Live rooms one user may have created (counted per node).
    #[arg(long, env = "MAX_ROOMS_PER_USER", default_value_t = 20)]
    pub max_rooms_per_user: usize,

    /// Sent with `ROOM_FULL` so clients can fall back to an SFU.
    #[arg(long, env = "SFU_URL")]
    pub sfu_url: Option<String>,

    /// STUN URLs handed out in `iceServers` (comma-separated).
    #[arg(long, env = "STUN_URLS", value_delimiter = ',')]
    pub stun_urls: Vec<String>,

    /// TURN URLs handed out with REST-API credentials when TURN_SECRET is set.
    #[arg(long, env = "TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,

    /// coturn `static-auth-secret` used to mint TURN credentials.
    #[arg(long, env = "TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,

    /// Lifetime of TURN credentials.
    #[arg(long, env = "TURN_TTL", default_value = "86400", value_parser = parse_duration)]
    pub turn_ttl: Duration,

    /// Event name(s) errors are emitted on (comma-separated), e.g. `exception`.
    #[arg(
        long = "error-event",
        env = "ERROR_EVENT",
        default_value = "error",
        value_delimiter = ','
    )]
    pub error_events: Vec<String>,
}
