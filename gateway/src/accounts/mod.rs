//! User accounts behind the REST API (PROTOCOL.md §6): an sqlx store that is an
//! embedded SQLite file by default and PostgreSQL when `DATABASE_URL` says so.
//! The same portable SQL serves both.

pub mod hashing;
pub mod secrets;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

use crate::auth::{ApiKeys, Identity};
use hashing::{Busy, HashPool};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("username must be 3-32 characters of [A-Za-z0-9_.-]")]
    InvalidUsername,
    #[error("password must be 8-256 characters")]
    InvalidPassword,
    #[error("username is taken")]
    UsernameTaken,
    #[error("wrong username or password")]
    WrongCredentials,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("password hashing: {0}")]
    Hashing(String),
    #[error(transparent)]
    Busy(#[from] Busy),
}

/// A user as the REST API shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
}

impl From<User> for Identity {
    fn from(u: User) -> Self {
        Identity {
            user_id: u.id,
            username: u.username,
        }
    }
}

#[derive(Clone)]
pub struct AccountStore {
    pool: AnyPool,
    hashing: Arc<HashPool>,
}

pub fn validate_username(name: &str) -> Result<(), AccountError> {
    let ok = (3..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    ok.then_some(()).ok_or(AccountError::InvalidUsername)
}

pub fn validate_password(password: &str) -> Result<(), AccountError> {
    (8..=256)
        .contains(&password.chars().count())
        .then_some(())
        .ok_or(AccountError::InvalidPassword)
}

impl AccountStore {
    /// Connects (creating a SQLite file if needed) and applies migrations.
    pub async fn connect(url: &str) -> Result<Self, AccountError> {
        install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(if url.starts_with("sqlite") { 4 } else { 16 })
            .connect(url)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            hashing: Arc::new(HashPool::per_core(32)),
        })
    }

    /// Runs password hashing and verification in `hashing`.
    pub fn with_hashing(mut self, hashing: HashPool) -> Self {
        self.hashing = Arc::new(hashing);
        self
    }

    pub async fn ping(&self) -> Result<(), AccountError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Creates a user; returns it with its API key (the only time the key exists in clear).
    pub async fn register(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(User, String), AccountError> {
        validate_username(username)?;
        validate_password(password)?;
        let hash = self.hash(password).await?;
        let api_key = secrets::new_api_key();
        let id = new_user_id();
        let now = unix_now();
        let inserted = sqlx::query(
            "INSERT INTO users (id, username, username_key, password_hash, api_key_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .bind(&id)
        .bind(username)
        .bind(username.to_ascii_lowercase())
        .bind(&hash)
        .bind(secrets::hash_api_key(&api_key))
        .bind(now)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok((
                User {
                    id,
                    username: username.to_owned(),
                },
                api_key,
            )),
            // The unique index decides between two simultaneous registrations.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(AccountError::UsernameTaken)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a username and password, in time that does not depend on whether
    /// the user exists.
    pub async fn login(&self, username: &str, password: &str) -> Result<User, AccountError> {
        let row =
            sqlx::query("SELECT id, username, password_hash FROM users WHERE username_key = $1")
                .bind(username.to_ascii_lowercase())
                .fetch_optional(&self.pool)
                .await?;
        let (user, phc) = match row {
            Some(r) => (
                Some(User {
                    id: r.try_get("id")?,
                    username: r.try_get("username")?,
                }),
                Some(r.try_get::<String, _>("password_hash")?),
            ),
            None => (None, None),
        };
        let password = password.to_owned();
        // An unknown user costs the same check, in the same queue.
        let ok = self
            .hashing
            .run(move || {
                secrets::verify_password(&password, phc.as_deref().unwrap_or(secrets::dummy_hash()))
            })
            .await?
            .map_err(|e| AccountError::Hashing(e.to_string()))?;
        match user {
            Some(user) if ok => Ok(user),
            _ => Err(AccountError::WrongCredentials),
        }
    }

    /// Replaces the user's API key; the old one stops working at once.
    pub async fn regenerate_api_key(&self, user: &User) -> Result<String, AccountError> {
        let api_key = secrets::new_api_key();
        sqlx::query("UPDATE users SET api_key_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(secrets::hash_api_key(&api_key))
            .bind(unix_now())
            .bind(&user.id)
            .execute(&self.pool)
            .await?;
        Ok(api_key)
    }

    pub async fn set_password(&self, user: &User, new_password: &str) -> Result<(), AccountError> {
        validate_password(new_password)?;
        let hash = self.hash(new_password).await?;
        sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
            .bind(hash)
            .bind(unix_now())
            .bind(&user.id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn hash(&self, password: &str) -> Result<String, AccountError> {
        let password = password.to_owned();
        self.hashing
            .run(move || secrets::hash_password(&password))
            .await?
            .map_err(|e| AccountError::Hashing(e.to_string()))?
            .map_err(|e| AccountError::Hashing(e.to_string()))
    }

    pub async fn user_for_api_key(&self, api_key: &str) -> Result<Option<User>, AccountError> {
        let hash = secrets::hash_api_key(api_key);
        let row =
            sqlx::query("SELECT id, username, api_key_hash FROM users WHERE api_key_hash = $1")
                .bind(&hash)
                .fetch_optional(&self.pool)
                .await?;
        let Some(row) = row else { return Ok(None) };
        // The index found it; compare again in constant time all the same.
        let stored: String = row.try_get("api_key_hash")?;
        if !secrets::hashes_match(&stored, &hash) {
            return Ok(None);
        }
        Ok(Some(User {
            id: row.try_get("id")?,
            username: row.try_get("username")?,
        }))
    }
}

#[async_trait]
impl ApiKeys for AccountStore {
    async fn identity_for_key(&self, api_key: &str) -> Option<Identity> {
        match self.user_for_api_key(api_key).await {
            Ok(user) => user.map(Identity::from),
            Err(e) => {
                tracing::error!(error = %e, "API key lookup failed");
                None
            }
        }
    }
}

fn new_user_id() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_and_password_rules() {
        assert!(validate_username("bob").is_ok());
        assert!(validate_username("a.b-c_d").is_ok());
        assert!(validate_username(&"x".repeat(32)).is_ok());
        for bad in ["ab", "has space", "émile", &"x".repeat(33)] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password("1234567").is_err());
        assert!(validate_password(&"p".repeat(257)).is_err());
    }

    #[tokio::test]
    async fn a_sqlite_store_registers_logs_in_and_rotates_keys() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/accounts.db?mode=rwc", dir.path().display());
        let store = AccountStore::connect(&url).await.unwrap();
        let (user, key) = store.register("Alice", "password1").await.unwrap();
        assert!(matches!(
            store.register("alice", "password2").await,
            Err(AccountError::UsernameTaken)
        ));
        assert_eq!(store.login("ALICE", "password1").await.unwrap(), user);
        assert!(matches!(
            store.login("alice", "nope-nope").await,
            Err(AccountError::WrongCredentials)
        ));
        assert!(matches!(
            store.login("nobody", "password1").await,
            Err(AccountError::WrongCredentials)
        ));
        assert_eq!(
            store.user_for_api_key(&key).await.unwrap(),
            Some(user.clone())
        );
        let new_key = store.regenerate_api_key(&user).await.unwrap();
        assert_eq!(store.user_for_api_key(&key).await.unwrap(), None);
        assert_eq!(
            store.user_for_api_key(&new_key).await.unwrap(),
            Some(user.clone())
        );
        store.set_password(&user, "password9").await.unwrap();
        assert!(store.login("alice", "password1").await.is_err());
        assert!(store.login("alice", "password9").await.is_ok());
    }
}
