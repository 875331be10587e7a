//! The lookups the operator configured, built from the settings: which source
//! answers users and which rooms, each behind its own cache.

use std::sync::Arc;

use super::cache::Memo;
use super::http;
use super::source::{AppRoom, AppUser, LookupError, RoomSource, Settings, SetupError, UserSource};
use super::sql;

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
        if s.user_query.is_some() && s.user_lookup_url.is_some() {
            return Err(conflict("USER_QUERY", "USER_LOOKUP_URL"));
        }
        if s.room_query.is_some() && s.room_lookup_url.is_some() {
            return Err(conflict("ROOM_QUERY", "ROOM_LOOKUP_URL"));
        }
        let pool = match (
            &s.app_database_url,
            s.user_query.is_some() || s.room_query.is_some(),
        ) {
            (Some(url), true) => Some(sql::connect(url, s.app_lookup_timeout).await?),
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
        let client = (s.user_lookup_url.is_some() || s.room_lookup_url.is_some())
            .then(|| http::client(s.app_lookup_timeout))
            .transpose()?;

        let users: Option<Arc<dyn UserSource>> =
            match (&pool, &s.user_query, &client, &s.user_lookup_url) {
                (Some(pool), Some(query), _, _) => {
                    Some(Arc::new(sql::SqlUsers::prepare(pool.clone(), query).await?))
                }
                (_, _, Some(client), Some(url)) => Some(Arc::new(http::HttpUsers::new(
                    client.clone(),
                    url,
                    s.app_lookup_token.clone(),
                )?)),
                _ => None,
            };
        let rooms: Option<Arc<dyn RoomSource>> =
            match (&pool, &s.room_query, &client, &s.room_lookup_url) {
                (Some(pool), Some(query), _, _) => {
                    Some(Arc::new(sql::SqlRooms::prepare(pool.clone(), query).await?))
                }
                (_, _, Some(client), Some(url)) => Some(Arc::new(http::HttpRooms::new(
                    client.clone(),
                    url,
                    s.app_lookup_token.clone(),
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

    /// Whether every configured source answers (`/readyz`); when one does
    /// not, what it is ("app database", "app API") and why.
    pub async fn check(&self) -> Result<(), (&'static str, LookupError)> {
        if let Some(users) = &self.users {
            let kind = users.source.kind();
            users
                .memo
                .timed(users.source.check())
                .await
                .map_err(|e| (kind, e))?;
        }
        if let Some(rooms) = &self.rooms {
            let kind = rooms.source.kind();
            rooms
                .memo
                .timed(rooms.source.check())
                .await
                .map_err(|e| (kind, e))?;
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
