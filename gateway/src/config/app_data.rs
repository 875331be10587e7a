//! The app's own users and rooms: its database or its API.

use std::time::Duration;

use clap::Args;

use super::parse::parse_duration;

/// The app's own users and rooms: its database or its API.
#[derive(Clone, Args)]
#[command(next_help_heading = "The app's own users and rooms")]
pub struct AppDataConfig {
    /// The app's own PostgreSQL database, for USER_QUERY and ROOM_QUERY (not the
    /// account store of DATABASE_URL).
    #[arg(long, env = "APP_DATABASE_URL", hide_env_values = true)]
    pub app_database_url: Option<String>,

    /// Finds the user of a token at the handshake; `$1` is the token's user id.
    /// Returns `username`, optionally `token_version`.
    #[arg(long, env = "USER_QUERY")]
    pub user_query: Option<String>,

    /// Finds a room the registry does not know at `join:room`; `$1` is the code
    /// (lower-cased), `$2` (optional) the user id. Returns optionally `code`, `max_peers`.
    #[arg(long, env = "ROOM_QUERY")]
    pub room_query: Option<String>,

    /// The app's API instead of USER_QUERY: `{id}` is replaced by the user id;
    /// 200 + JSON `{ username, tokenVersion? }` or 404.
    #[arg(long, env = "USER_LOOKUP_URL")]
    pub user_lookup_url: Option<String>,

    /// The app's API instead of ROOM_QUERY: `{code}` is replaced by the code,
    /// `{userId}` by the user id; 200 + JSON `{ code?, maxPeers? }` or 404.
    #[arg(long, env = "ROOM_LOOKUP_URL")]
    pub room_lookup_url: Option<String>,

    /// Bearer token for USER_LOOKUP_URL / ROOM_LOOKUP_URL. Without it, user
    /// lookups carry the caller's own token.
    #[arg(long, env = "APP_LOOKUP_TOKEN", hide_env_values = true)]
    pub app_lookup_token: Option<String>,

    /// How long one lookup (query or API call) may take before it fails.
    #[arg(long, env = "APP_LOOKUP_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub app_lookup_timeout: Duration,

    /// How long a lookup's answer (found or not) is reused; 0 turns the cache off.
    #[arg(long, env = "APP_LOOKUP_CACHE_TTL", default_value = "5s", value_parser = parse_duration)]
    pub app_lookup_cache_ttl: Duration,

    /// Most answers kept in the lookup cache (users and rooms each).
    #[arg(long, env = "APP_LOOKUP_CACHE_SIZE", default_value_t = 10_000)]
    pub app_lookup_cache_size: u64,
}
