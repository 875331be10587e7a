//! The seam: what the gateway asks the app ([`UserSource`], [`RoomSource`]),
//! the answers ([`AppUser`], [`AppRoom`]) and the failures. The SQL and HTTP
//! implementations speak only these words.

use async_trait::async_trait;

/// A user as the app knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUser {
    /// The display name; `None` when the app has none (the user id is shown).
    pub username: Option<String>,
    /// The app bumps it to revoke a user's tokens (logout).
    pub token_version: Option<i64>,
}

/// A room as the app knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRoom {
    /// The code as the app spells it.
    pub code: Option<String>,
    /// The app's limit of peers (capped by `MAX_ROOM_SIZE`).
    pub max_peers: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// The app's database or API gave no answer: down, timed out, 5xx. The
    /// detail is for the logs.
    #[error("{0}")]
    Unavailable(String),
    /// It answered something the gateway cannot read.
    #[error("{0}")]
    BadAnswer(String),
}

/// Why the lookups could not be set up: a start error, naming the setting.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Invalid(String),
    #[error("APP_DATABASE_URL: cannot connect: {0}")]
    Connect(String),
}

/// Finds the app's user of a verified token.
#[async_trait]
pub trait UserSource: Send + Sync {
    /// `token` is the caller's JWT as presented, for an API that wants it.
    async fn user(&self, id: &str, token: Option<&str>) -> Result<Option<AppUser>, LookupError>;
    /// Whether the app answers at all (`/readyz`).
    async fn check(&self) -> Result<(), LookupError>;
    /// What answers, for `/readyz`: "app database" or "app API".
    fn kind(&self) -> &'static str;
}

/// Finds a room of the app, for one user when the app decides who may join.
#[async_trait]
pub trait RoomSource: Send + Sync {
    /// `code` is lower-cased: room codes match without case.
    async fn room(&self, code: &str, user_id: &str) -> Result<Option<AppRoom>, LookupError>;
    /// The answer depends on the user (`$2` in `ROOM_QUERY`, `{userId}` in
    /// `ROOM_LOOKUP_URL`): it is then asked on every join.
    fn per_user(&self) -> bool;
    async fn check(&self) -> Result<(), LookupError>;
    fn kind(&self) -> &'static str;
}

/// The lookup settings: the configuration's app-data group, as it is.
pub use crate::config::AppDataConfig as Settings;
