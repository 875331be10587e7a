//! Who a handshake names: tokens (JWT), the account store, password hashing.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::parse::parse_duration;

/// What a refused handshake looks like to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthFailure {
    /// `connect_error` with message "Unauthorized" (the socket never connects).
    Refuse,
    /// The incumbent's behaviour: connect, emit `UNAUTHORIZED` on the error event(s), disconnect.
    Event,
}

/// Who a handshake names: tokens (JWT), the account store, password hashing.
#[derive(Clone, Args)]
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
