//! The app's own users and rooms. An app that keeps its users and rooms in
//! its own database (a NestJS + Prisma app, say) answers two questions for the
//! gateway: who is the user of this token, and may this room be joined. The
//! operator says how to ask: a query on the app's PostgreSQL database
//! ([`sql`]) or a call to its API ([`http`]). Both sit behind [`UserSource`] /
//! [`RoomSource`]; [`AppUsers`] / [`AppRooms`] put a time limit and a short,
//! bounded cache in front of them.
//!
//! The cache is moka's: besides expiry and a size bound it makes concurrent
//! misses of one key wait for a single load, so a room whose ten peers connect
//! at once costs the app one query, not ten.

pub mod http;
pub mod sql;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

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
}

/// The lookup settings, as `Config` has them.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub database_url: Option<String>,
    pub user_query: Option<String>,
    pub room_query: Option<String>,
    pub user_url: Option<String>,
    pub room_url: Option<String>,
    pub service_token: Option<String>,
    pub timeout: Duration,
    pub cache_ttl: Duration,
    pub cache_size: u64,
}

/// Every lookup the operator configured; both `None` by default.
#[derive(Clone, Default)]
pub struct AppData {
    pub users: Option<AppUsers>,
    pub rooms: Option<AppRooms>,
}

impl AppData {
    /// Connects what the settings name and checks the queries' shape.
    pub async fn connect(s: &Settings) -> Result<Self, SetupError> {
        let conflict = |a: &str, b: &str| SetupError::Invalid(format!("set {a} or {b}, not both"));
        if s.user_query.is_some() && s.user_url.is_some() {
            return Err(conflict("USER_QUERY", "USER_LOOKUP_URL"));
        }
        if s.room_query.is_some() && s.room_url.is_some() {
            return Err(conflict("ROOM_QUERY", "ROOM_LOOKUP_URL"));
        }
        let pool = match (
            &s.database_url,
            s.user_query.is_some() || s.room_query.is_some(),
        ) {
            (Some(url), true) => Some(sql::connect(url, s.timeout).await?),
            (Some(_), false) => {
                return Err(SetupError::Invalid(
                    "APP_DATABASE_URL is set but neither USER_QUERY nor ROOM_QUERY".into(),
                ));
            }
            (None, true) => {
                return Err(SetupError::Invalid(
                    "USER_QUERY and ROOM_QUERY need APP_DATABASE_URL".into(),
                ));
            }
            (None, false) => None,
        };
        let client = (s.user_url.is_some() || s.room_url.is_some())
            .then(|| http::client(s.timeout))
            .transpose()?;

        let users: Option<Arc<dyn UserSource>> = match (&pool, &s.user_query, &client, &s.user_url)
        {
            (Some(pool), Some(query), _, _) => {
                Some(Arc::new(sql::SqlUsers::prepare(pool.clone(), query).await?))
            }
            (_, _, Some(client), Some(url)) => Some(Arc::new(http::HttpUsers::new(
                client.clone(),
                url,
                s.service_token.clone(),
            )?)),
            _ => None,
        };
        let rooms: Option<Arc<dyn RoomSource>> = match (&pool, &s.room_query, &client, &s.room_url)
        {
            (Some(pool), Some(query), _, _) => {
                Some(Arc::new(sql::SqlRooms::prepare(pool.clone(), query).await?))
            }
            (_, _, Some(client), Some(url)) => Some(Arc::new(http::HttpRooms::new(
                client.clone(),
                url,
                s.service_token.clone(),
            )?)),
            _ => None,
        };
        Ok(Self {
            users: users.map(|source| AppUsers {
                source,
                memo: Memo::new(s),
            }),
            rooms: rooms.map(|source| AppRooms {
                source,
                memo: Memo::new(s),
            }),
        })
    }

    /// Whether every configured source answers (`/readyz`).
    pub async fn check(&self) -> Result<(), LookupError> {
        if let Some(users) = &self.users {
            users.memo.timed(users.source.check()).await?;
        }
        if let Some(rooms) = &self.rooms {
            rooms.memo.timed(rooms.source.check()).await?;
        }
        Ok(())
    }
}

/// The app's users, looked up at the handshake.
#[derive(Clone)]
pub struct AppUsers {
    source: Arc<dyn UserSource>,
    memo: Memo<AppUser>,
}

impl AppUsers {
    /// The user of `id`, `None` when the app has none.
    pub async fn find(
        &self,
        id: &str,
        token: Option<&str>,
    ) -> Result<Option<AppUser>, LookupError> {
        self.memo
            .get(id.to_owned(), self.source.user(id, token))
            .await
    }
}

/// The app's rooms, looked up at `join:room`.
#[derive(Clone)]
pub struct AppRooms {
    source: Arc<dyn RoomSource>,
    memo: Memo<AppRoom>,
}

impl AppRooms {
    /// The room of `code` (any case), `None` when the app has none (for this user).
    pub async fn find(&self, code: &str, user_id: &str) -> Result<Option<AppRoom>, LookupError> {
        let code = code.to_ascii_lowercase();
        // Codes are [A-Za-z0-9_-]: a newline cannot make two keys collide.
        let key = if self.per_user() {
            format!("{code}\n{user_id}")
        } else {
            code.clone()
        };
        self.memo
            .get(key, async { self.source.room(&code, user_id).await })
            .await
    }

    pub fn per_user(&self) -> bool {
        self.source.per_user()
    }
}

/// A time limit and a short-lived, bounded cache of answers (found and not
/// found alike; failures are not kept).
#[derive(Clone)]
struct Memo<V> {
    cache: Option<moka::future::Cache<String, Option<V>>>,
    timeout: Duration,
}

impl<V: Clone + Send + Sync + 'static> Memo<V> {
    fn new(s: &Settings) -> Self {
        let cache = (!s.cache_ttl.is_zero() && s.cache_size > 0).then(|| {
            moka::future::Cache::builder()
                .max_capacity(s.cache_size)
                .time_to_live(s.cache_ttl)
                .build()
        });
        Self {
            cache,
            timeout: s.timeout,
        }
    }

    async fn get(
        &self,
        key: String,
        load: impl Future<Output = Result<Option<V>, LookupError>> + Send,
    ) -> Result<Option<V>, LookupError> {
        let load = self.timed(load);
        match &self.cache {
            None => load.await,
            Some(cache) => cache
                .try_get_with(key, load)
                .await
                .map_err(|e| (*e).clone()),
        }
    }

    async fn timed<T>(
        &self,
        work: impl Future<Output = Result<T, LookupError>>,
    ) -> Result<T, LookupError> {
        tokio::time::timeout(self.timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(LookupError::Unavailable(format!(
                    "no answer within {:?}",
                    self.timeout
                )))
            })
    }
}
