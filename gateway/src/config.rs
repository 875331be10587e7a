//! The gateway's configuration: one struct, read once at start-up from flags and
//! environment variables. Nothing else in the crate reads the environment.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, ValueEnum};

/// What a refused handshake looks like to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthFailure {
    /// `connect_error` with message "Unauthorized" (the socket never connects).
    Refuse,
    /// The incumbent's behaviour: connect, emit `UNAUTHORIZED` on the error event(s), disconnect.
    Event,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Every setting of the gateway, grouped by the part of it that uses them;
/// each group is handed whole to that part. Each flag also reads the
/// environment variable named beside it; flags win over the environment.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "gateway",
    version,
    about = "Socket.IO WebRTC signaling gateway"
)]
pub struct Config {
    #[command(flatten)]
    pub http: HttpConfig,

    #[command(flatten)]
    pub auth: AuthConfig,

    #[command(flatten)]
    pub rooms: RoomsConfig,

    #[command(flatten)]
    pub limits: LimitsConfig,

    #[command(flatten)]
    pub cluster: ClusterConfig,

    #[command(flatten)]
    pub app_data: AppDataConfig,
}

/// Where and how the gateway serves: address, origins, HTTP time limits, runtime, logs, the demo page.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "HTTP and operations")]
pub struct HttpConfig {
    /// Address to bind.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,

    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3000)]
    pub port: u16,

    /// Allowed browser origins (comma-separated); CORS with credentials.
    #[arg(
        long = "client-url",
        env = "CLIENT_URL",
        default_value = "http://localhost:5173",
        value_delimiter = ','
    )]
    pub client_urls: Vec<String>,

    /// Connections the kernel queues before the gateway accepts them (capped
    /// by net.core.somaxconn); a full queue drops SYNs, delaying clients ~1 s.
    #[arg(long, env = "LISTEN_BACKLOG", default_value_t = 1024)]
    pub listen_backlog: u32,

    /// Runtime worker threads (default: one per CPU core). Set it to the
    /// cores the gateway can count on: more runnable threads than cores only
    /// add scheduling delay to the latency tail.
    #[arg(long, env = "WORKER_THREADS")]
    pub worker_threads: Option<std::num::NonZeroUsize>,

    /// Longest wait for a request's head, from connecting or from the end of
    /// the previous response on a keep-alive connection (which it closes).
    #[arg(long, env = "HEADER_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub header_timeout: Duration,

    /// Longest pause while a request body is being received.
    #[arg(long, env = "BODY_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub body_timeout: Duration,

    /// How long shutdown waits for sockets to close and relays to drain.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// `text` or `json` logs (filter with RUST_LOG).
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Serve the demo call page (`web/`) at `/demo/`; turn it off in production.
    #[arg(long, env = "DEMO", default_value_t = true, action = ArgAction::Set)]
    pub demo: bool,

    /// Where the built demo page is (`npm --prefix web run build` writes it).
    #[arg(long, env = "DEMO_DIR", default_value = "web/dist")]
    pub demo_dir: PathBuf,
}

/// Who a handshake names: tokens (JWT), the account store, password hashing.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Authentication and accounts")]
pub struct AuthConfig {
    /// HS256 secret for access tokens (alias: JWT_ACCESS_SECRET). Generated and kept
    /// in the data directory when unset.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// PEM public key (file path) accepted for RS256/ES256 tokens.
    #[arg(long, env = "JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<PathBuf>,

    /// JWKS file accepted for RS256/ES256 tokens (keys picked by `kid`).
    #[arg(long, env = "JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<PathBuf>,

    /// Required `iss` claim, when set.
    #[arg(long, env = "JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim, when set.
    #[arg(long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Claims naming the user id, tried in order (comma-separated).
    #[arg(
        long = "jwt-user-id-claim",
        env = "JWT_USER_ID_CLAIM",
        default_value = "sub,id",
        value_delimiter = ','
    )]
    pub jwt_user_id_claims: Vec<String>,

    /// Claims naming the display name, tried in order, then the user id. `email`
    /// is not among the defaults: add it to show e-mail addresses to other peers.
    #[arg(
        long = "jwt-username-claim",
        env = "JWT_USERNAME_CLAIM",
        default_value = "username,preferred_username,name",
        value_delimiter = ','
    )]
    pub jwt_username_claims: Vec<String>,

    /// `refuse`: connect_error "Unauthorized"; `event`: the incumbent's error event then disconnect.
    #[arg(long, env = "AUTH_FAILURE", value_enum, default_value = "refuse")]
    pub auth_failure: AuthFailure,

    /// Lifetime of the access tokens `POST /token` issues.
    #[arg(long, env = "TOKEN_TTL", default_value = "1h", value_parser = parse_duration)]
    pub token_ttl: Duration,

    /// Where the gateway keeps its files (generated JWT secret, SQLite database).
    #[arg(long, env = "DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Account store: `sqlite://…` or `postgres://…`. Default: a SQLite file in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Password hashes computed at once (argon2id, 19 MiB each). Default: one per core.
    #[arg(long, env = "HASH_CONCURRENCY")]
    pub hash_concurrency: Option<std::num::NonZeroUsize>,

    /// Password checks that may wait for a hashing slot; beyond them, 503.
    #[arg(long, env = "HASH_QUEUE", default_value_t = 32)]
    pub hash_queue: usize,
}

/// Rooms, the ICE servers handed out on join, and how errors are reported.
#[derive(Debug, Clone, Args)]
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

/// Every per-client bound (see `limits` for what each protects).
#[derive(Debug, Clone, Args)]
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

    /// Time a new Engine.IO session has to send Socket.IO's CONNECT, and a
    /// packet with binary attachments to arrive whole.
    #[arg(long, env = "HANDSHAKE_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    pub handshake_timeout: Duration,

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

/// A cluster over Redis (`REDIS_URL`); unset: one node.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Cluster")]
pub struct ClusterConfig {
    /// Redis for a cluster (`redis://host:6379`, Redis 7+): rooms, relays and
    /// membership events are shared by every node that names the same Redis.
    /// Unset: one node, rooms in memory.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of the cluster's Redis keys (a hash tag) and pub/sub channels;
    /// clusters sharing one Redis need different prefixes.
    #[arg(long, env = "REDIS_PREFIX", default_value = "gw")]
    pub redis_prefix: String,

    /// How long one Redis command may take before the event that needed it
    /// fails with INTERNAL_ERROR (while Redis is unreachable, for instance).
    #[arg(long, env = "REDIS_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub redis_timeout: Duration,

    /// How often a cluster node refreshes its liveness key.
    #[arg(long, env = "NODE_HEARTBEAT", default_value = "2s", value_parser = parse_duration)]
    pub node_heartbeat: Duration,

    /// How long a silent node counts as alive: past it, another node reports
    /// its sockets `peer:left` and frees their seats. At least twice NODE_HEARTBEAT.
    #[arg(long, env = "NODE_TIMEOUT", default_value = "6s", value_parser = parse_duration)]
    pub node_timeout: Duration,
}

/// The app's own users and rooms: its database or its API.
#[derive(Debug, Clone, Args)]
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

impl AuthConfig {
    /// The account store's URL: `DATABASE_URL`, or `gateway.db` in the data directory.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("gateway.db").display()
            )
        })
    }
}

impl Default for AppDataConfig {
    /// No lookups: the defaults of every setting.
    fn default() -> Self {
        Config::defaults().app_data
    }
}

impl Config {
    /// Reads flags and environment once, applying aliases and dropping empty list items.
    pub fn load() -> Self {
        Self::from_parsed(Config::parse(), |name| std::env::var(name).ok())
    }

    fn from_parsed(mut cfg: Config, env: impl Fn(&str) -> Option<String>) -> Self {
        if cfg.auth.jwt_secret.as_deref().is_none_or(str::is_empty) {
            cfg.auth.jwt_secret = env("JWT_ACCESS_SECRET").filter(|s| !s.is_empty());
        }
        for list in [
            &mut cfg.http.client_urls,
            &mut cfg.rooms.error_events,
            &mut cfg.rooms.stun_urls,
            &mut cfg.rooms.turn_urls,
            &mut cfg.auth.jwt_user_id_claims,
            &mut cfg.auth.jwt_username_claims,
        ] {
            list.iter_mut().for_each(|s| *s = s.trim().to_owned());
            list.retain(|s| !s.is_empty());
        }
        if cfg.rooms.error_events.is_empty() {
            cfg.rooms.error_events.push("error".to_owned());
        }
        if cfg.auth.jwt_user_id_claims.is_empty() {
            cfg.auth.jwt_user_id_claims = vec!["sub".to_owned(), "id".to_owned()];
        }
        for opt in [
            &mut cfg.rooms.sfu_url,
            &mut cfg.rooms.turn_secret,
            &mut cfg.auth.jwt_issuer,
            &mut cfg.auth.jwt_audience,
            &mut cfg.app_data.app_database_url,
            &mut cfg.app_data.user_query,
            &mut cfg.app_data.room_query,
            &mut cfg.app_data.user_lookup_url,
            &mut cfg.app_data.room_lookup_url,
            &mut cfg.app_data.app_lookup_token,
            &mut cfg.cluster.redis_url,
        ] {
            if opt.as_deref().is_some_and(|s| s.trim().is_empty()) {
                *opt = None;
            }
        }
        cfg
    }

    /// A configuration with every default, for tests and embedding.
    pub fn defaults() -> Self {
        Self::from_parsed(Config::parse_from(["gateway"]), |_| None)
    }
}

/// Parses `10.0.0.1`, `10.0.0.0/8` or `::1`.
pub fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("`{s}` is not an IP address or CIDR"))
}

/// A duration that is not zero.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d.is_zero() => Err(format!("`{s}`: must be more than zero")),
        d => Ok(d),
    }
}

/// Parses a bare number of seconds (`90`, `0.5`) or a humantime duration
/// (`30s`, `10m`, `2h`, `1h 30m`, `500ms`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.starts_with(|c: char| c.is_ascii_digit() || c == '.')
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        let secs: f64 = s
            .parse()
            .map_err(|_| format!("`{s}` is not a number of seconds"))?;
        return Duration::try_from_secs_f64(secs).map_err(|e| format!("`{s}`: {e}"));
    }
    humantime::parse_duration(s)
        .map_err(|e| format!("`{s}` is not a duration ({e}; use e.g. 90, 30s, 10m or 2h)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_seconds_or_a_suffix() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = Config::defaults();
        assert_eq!(c.http.port, 3000);
        assert_eq!(c.http.client_urls, vec!["http://localhost:5173"]);
        assert_eq!(c.rooms.error_events, vec!["error"]);
        assert_eq!(c.rooms.room_ttl, Duration::from_secs(600));
        assert_eq!(c.rooms.max_room_size, 10);
        assert_eq!(c.limits.rate_limit_burst, 1000);
        assert_eq!(c.limits.rate_limit_per_sec, 200.0);
        assert_eq!(c.limits.max_payload, 1_000_000);
        assert!(!c.rooms.auto_create_rooms);
        assert!(c.rooms.stun_urls.is_empty());
        assert_eq!(c.http.worker_threads, None);
        assert_eq!(c.http.listen_backlog, 1024);
        assert_eq!(c.cluster.redis_url, None);
        assert_eq!(c.cluster.redis_prefix, "gw");
        assert_eq!(
            (
                c.cluster.node_heartbeat,
                c.cluster.node_timeout,
                c.cluster.redis_timeout
            ),
            (
                Duration::from_secs(2),
                Duration::from_secs(6),
                Duration::from_secs(2)
            )
        );
        assert!(c.limits.trusted_proxies.is_empty());
        assert_eq!(
            (c.rooms.max_rooms, c.rooms.max_rooms_per_user),
            (10_000, 20)
        );
        assert_eq!(c.limits.login_backoff, Duration::from_secs(30));
        assert!(c.http.demo);
        assert_eq!(c.http.demo_dir, PathBuf::from("web/dist"));
        assert_eq!(
            (
                c.http.header_timeout,
                c.http.body_timeout,
                c.limits.handshake_timeout
            ),
            (
                Duration::from_secs(10),
                Duration::from_secs(10),
                Duration::from_secs(10)
            )
        );
        assert_eq!(
            (
                c.limits.max_connections_per_address,
                c.limits.max_sockets_per_address,
                c.limits.max_sockets_per_user
            ),
            (1000, 500, 20)
        );
        assert_eq!(c.limits.max_send_buffer, 2 * 1024 * 1024);
        assert_eq!(c.limits.handshake_max_failures_per_address, 60);
        assert_eq!(c.limits.handshake_failure_window, Duration::from_secs(60));
    }

    #[test]
    fn trusted_proxies_take_addresses_and_cidrs() {
        let c = Config::from_parsed(
            Config::parse_from(["gateway", "--trusted-proxies", "10.0.0.0/8, 127.0.0.1,::1"]),
            |_| None,
        );
        let want: Vec<ipnet::IpNet> = ["10.0.0.0/8", "127.0.0.1/32", "::1/128"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(c.limits.trusted_proxies, want);
        assert!(parse_net("nope").is_err());
    }

    #[test]
    fn timeouts_are_not_zero_and_the_send_buffer_fits_a_relay() {
        assert!(parse_timeout("0").is_err());
        assert_eq!(parse_timeout("0.5"), Ok(Duration::from_millis(500)));
        assert!(Config::try_parse_from(["gateway", "--max-send-buffer", "1000"]).is_err());
    }

    #[test]
    fn lists_split_on_commas_and_drop_blanks() {
        let c = Config::from_parsed(
            Config::parse_from([
                "gateway",
                "--client-url",
                "http://a.test, http://b.test,",
                "--error-event",
                "error,exception",
            ]),
            |_| None,
        );
        assert_eq!(c.http.client_urls, vec!["http://a.test", "http://b.test"]);
        assert_eq!(c.rooms.error_events, vec!["error", "exception"]);
    }

    #[test]
    fn app_lookups_are_off_and_names_never_the_email_by_default() {
        let c = Config::defaults();
        assert_eq!(c.auth.jwt_user_id_claims, vec!["sub", "id"]);
        assert_eq!(
            c.auth.jwt_username_claims,
            vec!["username", "preferred_username", "name"]
        );
        assert_eq!(
            (
                &c.app_data.app_database_url,
                &c.app_data.user_query,
                &c.app_data.room_query,
                &c.app_data.user_lookup_url,
                &c.app_data.room_lookup_url,
                &c.app_data.app_lookup_token
            ),
            (&None, &None, &None, &None, &None, &None)
        );
        assert_eq!(c.app_data.app_lookup_timeout, Duration::from_secs(2));
        assert_eq!(c.app_data.app_lookup_cache_ttl, Duration::from_secs(5));
        assert_eq!(c.app_data.app_lookup_cache_size, 10_000);
    }

    #[test]
    fn claim_lists_and_blank_lookups_are_read_as_meant() {
        let c = Config::from_parsed(
            Config::parse_from([
                "gateway",
                "--jwt-user-id-claim",
                " ",
                "--jwt-username-claim",
                "username, email",
                "--user-query",
                "  ",
                "--app-lookup-cache-ttl",
                "0",
            ]),
            |_| None,
        );
        // No id claim at all makes no sense: the default stays.
        assert_eq!(c.auth.jwt_user_id_claims, vec!["sub", "id"]);
        assert_eq!(c.auth.jwt_username_claims, vec!["username", "email"]);
        assert_eq!(c.app_data.user_query, None);
        assert_eq!(c.app_data.app_lookup_cache_ttl, Duration::ZERO);
        // An empty name list: the user id is every name.
        let ids_only = Config::from_parsed(
            Config::parse_from(["gateway", "--jwt-username-claim", ""]),
            |_| None,
        );
        assert!(ids_only.auth.jwt_username_claims.is_empty());
    }

    #[test]
    fn jwt_access_secret_is_an_alias() {
        let c = Config::from_parsed(Config::parse_from(["gateway"]), |k| {
            (k == "JWT_ACCESS_SECRET").then(|| "s3cret".to_owned())
        });
        assert_eq!(c.auth.jwt_secret.as_deref(), Some("s3cret"));
    }
}
