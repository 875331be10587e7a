//! Lookups as queries on the app's PostgreSQL database. The SQL is the
//! operator's configuration, never built from client input: it is prepared
//! once at start-up, which checks its parameters and the columns it returns
//! (a clear start error rather than a failing handshake), and then always run
//! as a prepared statement with bound parameters.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{
    Column, Connection, Either, Executor, PgConnection, PgPool, Postgres, Row, Statement, Type,
    TypeInfo,
};

use super::source::{AppRoom, AppUser, LookupError, RoomSource, SetupError, UserSource};

/// Connections to the app's database. Lookups are single-row reads by key,
/// and answers are cached: a few connections serve many sockets.
const MAX_CONNECTIONS: u32 = 8;

/// How long the start-up checks (the first connection, preparing the queries)
/// may take at least: a lookup's `APP_LOOKUP_TIMEOUT` is about answering a
/// client in time, and a busy host or a cold database can take longer to
/// open its first connections without anything being wrong.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A pool on the app's database, separate from the account store's.
pub async fn connect(url: &str, timeout: Duration) -> Result<PgPool, SetupError> {
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(SetupError::Invalid(
            "APP_DATABASE_URL must be a postgres:// URL".into(),
        ));
    }
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e| SetupError::Invalid(format!("APP_DATABASE_URL: {e}")))?;
    // One direct connection first: the pool would only say that it timed out,
    // this says why (refused, unknown database, authentication).
    let startup = timeout.max(STARTUP_TIMEOUT);
    let probe = tokio::time::timeout(startup, PgConnection::connect_with(&options))
        .await
        .map_err(|_| SetupError::Connect(format!("no answer within {startup:?}")))?
        .map_err(|e| SetupError::Connect(e.to_string()))?;
    let _ = probe.close().await;
    Ok(PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(timeout)
        .connect_lazy_with(options))
}

/// `USER_QUERY`: `$1` the user id; returns `username`, optionally `token_version`.
pub struct SqlUsers {
    pool: PgPool,
    query: Prepared,
    username: Field,
    token_version: Option<Field>,
}

impl SqlUsers {
    pub async fn prepare(pool: PgPool, sql: &str) -> Result<Self, SetupError> {
        let query = Prepared::new(&pool, "USER_QUERY", sql, 1..=1).await?;
        let username = query.column("username", Kind::Text)?.ok_or_else(|| {
            query.missing(
                "username",
                "the name other peers see, e.g. `SELECT name AS username`",
            )
        })?;
        let token_version = query.column("token_version", Kind::Int)?;
        Ok(Self {
            pool,
            query,
            username,
            token_version,
        })
    }
}

#[async_trait]
impl UserSource for SqlUsers {
    async fn user(&self, id: &str, _token: Option<&str>) -> Result<Option<AppUser>, LookupError> {
        let Some(row) = self.query.fetch(&self.pool, &[id]).await? else {
            return Ok(None);
        };
        Ok(Some(AppUser {
            username: self.username.text(&row)?,
            token_version: self
                .token_version
                .map(|c| c.int(&row))
                .transpose()?
                .flatten(),
        }))
    }

    fn kind(&self) -> &'static str {
        "app database"
    }

    async fn check(&self) -> Result<(), LookupError> {
        ping(&self.pool).await
    }
}

/// `ROOM_QUERY`: `$1` the lower-cased code, `$2` (optional) the user id;
/// a row means the room exists (for that user); optionally `code`, `max_peers`.
pub struct SqlRooms {
    pool: PgPool,
    query: Prepared,
    code: Option<Field>,
    max_peers: Option<Field>,
}

impl SqlRooms {
    pub async fn prepare(pool: PgPool, sql: &str) -> Result<Self, SetupError> {
        let query = Prepared::new(&pool, "ROOM_QUERY", sql, 1..=2).await?;
        Ok(Self {
            code: query.column("code", Kind::Text)?,
            max_peers: query.column("max_peers", Kind::Int)?,
            pool,
            query,
        })
    }
}

#[async_trait]
impl RoomSource for SqlRooms {
    async fn room(&self, code: &str, user_id: &str) -> Result<Option<AppRoom>, LookupError> {
        let values = [code, user_id];
        let Some(row) = self
            .query
            .fetch(&self.pool, &values[..self.query.params.len()])
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(AppRoom {
            code: self.code.map(|c| c.text(&row)).transpose()?.flatten(),
            max_peers: self.max_peers.map(|c| c.int(&row)).transpose()?.flatten(),
        }))
    }

    fn per_user(&self) -> bool {
        self.query.params.len() == 2
    }

    fn kind(&self) -> &'static str {
        "app database"
    }

    async fn check(&self) -> Result<(), LookupError> {
        ping(&self.pool).await
    }
}

async fn ping(pool: &PgPool) -> Result<(), LookupError> {
    sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .map(drop)
        .map_err(unavailable)
}

fn unavailable(e: sqlx::Error) -> LookupError {
    LookupError::Unavailable(format!("app database: {e}"))
}

/// How a parameter is bound: as the type PostgreSQL inferred for it, so the
/// statement prepared at start-up and the one run later agree.
#[derive(Debug, Clone, Copy)]
enum Param {
    Text,
    Int2,
    Int4,
    Int8,
    Uuid,
}

impl Param {
    fn of(ty: &sqlx::postgres::PgTypeInfo) -> Option<Self> {
        Some(if <String as Type<Postgres>>::compatible(ty) {
            Param::Text
        } else if <i16 as Type<Postgres>>::compatible(ty) {
            Param::Int2
        } else if <i32 as Type<Postgres>>::compatible(ty) {
            Param::Int4
        } else if <i64 as Type<Postgres>>::compatible(ty) {
            Param::Int8
        } else if <sqlx::types::Uuid as Type<Postgres>>::compatible(ty) {
            Param::Uuid
        } else {
            return None;
        })
    }

    /// `None` when the value cannot equal anything of that type (a non-numeric
    /// id for an integer column): there is no such row. No value at all (no
    /// user, when `create:room` asks) is NULL, which equals nothing either,
    /// but leaves the rest of the condition (`"isPublic" OR …`) to decide.
    fn bind<'q>(
        self,
        query: sqlx::query::Query<'q, Postgres, PgArguments>,
        value: &str,
    ) -> Option<sqlx::query::Query<'q, Postgres, PgArguments>> {
        if value.is_empty() {
            return Some(match self {
                Param::Text => query.bind(None::<String>),
                Param::Int2 => query.bind(None::<i16>),
                Param::Int4 => query.bind(None::<i32>),
                Param::Int8 => query.bind(None::<i64>),
                Param::Uuid => query.bind(None::<sqlx::types::Uuid>),
            });
        }
        Some(match self {
            Param::Text => query.bind(value.to_owned()),
            Param::Int2 => query.bind(value.parse::<i16>().ok()?),
            Param::Int4 => query.bind(value.parse::<i32>().ok()?),
            Param::Int8 => query.bind(value.parse::<i64>().ok()?),
            Param::Uuid => query.bind(sqlx::types::Uuid::parse_str(value).ok()?),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Int,
}

/// A column read from the row, by position, decoded as the type it was declared with.
#[derive(Debug, Clone, Copy)]
struct Field {
    index: usize,
    decode: Decode,
}

#[derive(Debug, Clone, Copy)]
enum Decode {
    Text,
    I16,
    I32,
    I64,
}

impl Field {
    fn text(self, row: &PgRow) -> Result<Option<String>, LookupError> {
        row.try_get::<Option<String>, _>(self.index).map_err(bad)
    }

    fn int(self, row: &PgRow) -> Result<Option<i64>, LookupError> {
        Ok(match self.decode {
            Decode::I16 => row
                .try_get::<Option<i16>, _>(self.index)
                .map_err(bad)?
                .map(i64::from),
            Decode::I32 => row
                .try_get::<Option<i32>, _>(self.index)
                .map_err(bad)?
                .map(i64::from),
            Decode::I64 | Decode::Text => row.try_get::<Option<i64>, _>(self.index).map_err(bad)?,
        })
    }
}

fn bad(e: sqlx::Error) -> LookupError {
    LookupError::BadAnswer(format!("app database row: {e}"))
}

/// An operator's query, checked at start-up.
struct Prepared {
    name: &'static str,
    sql: String,
    params: Vec<Param>,
    columns: Vec<(String, sqlx::postgres::PgTypeInfo)>,
}

impl Prepared {
    async fn new(
        pool: &PgPool,
        name: &'static str,
        sql: &str,
        params: std::ops::RangeInclusive<usize>,
    ) -> Result<Self, SetupError> {
        // The pool gives up after a lookup's timeout; start-up may wait longer.
        let deadline = tokio::time::Instant::now() + STARTUP_TIMEOUT;
        let mut conn = loop {
            match pool.acquire().await {
                Ok(conn) => break conn,
                Err(sqlx::Error::PoolTimedOut) if tokio::time::Instant::now() < deadline => {}
                Err(e) => return Err(SetupError::Connect(e.to_string())),
            }
        };
        let statement = conn
            .prepare_with(sql, &[])
            .await
            .map_err(|e| SetupError::Invalid(format!("{name} does not prepare: {e}")))?;
        let types = match statement.parameters() {
            Some(Either::Left(types)) => types.to_vec(),
            _ => Vec::new(),
        };
        if !params.contains(&types.len()) {
            let allowed = if params.end() == params.start() {
                "$1".to_owned()
            } else {
                "$1, optionally $2".to_owned()
            };
            return Err(SetupError::Invalid(format!(
                "{name} must use {allowed} and no other parameter; it uses {}",
                types.len()
            )));
        }
        let params = types
            .iter()
            .enumerate()
            .map(|(i, ty)| {
                Param::of(ty).ok_or_else(|| {
                    SetupError::Invalid(format!(
                        "{name}: ${} is compared as {}; compare it with a text, integer or uuid column, or cast it (${}::text)",
                        i + 1,
                        ty.name(),
                        i + 1
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let columns = statement
            .columns()
            .iter()
            .map(|c| (c.name().to_owned(), c.type_info().clone()))
            .collect();
        Ok(Self {
            name,
            sql: sql.to_owned(),
            params,
            columns,
        })
    }

    /// The column `name`, when the query returns it, checked to be of `kind`.
    fn column(&self, name: &str, kind: Kind) -> Result<Option<Field>, SetupError> {
        let Some(index) = self.columns.iter().position(|(n, _)| n == name) else {
            return Ok(None);
        };
        let ty = &self.columns[index].1;
        let decode = match kind {
            Kind::Text if <String as Type<Postgres>>::compatible(ty) => Decode::Text,
            Kind::Int if <i16 as Type<Postgres>>::compatible(ty) => Decode::I16,
            Kind::Int if <i32 as Type<Postgres>>::compatible(ty) => Decode::I32,
            Kind::Int if <i64 as Type<Postgres>>::compatible(ty) => Decode::I64,
            _ => {
                let want = match kind {
                    Kind::Text => "text",
                    Kind::Int => "an integer",
                };
                let cast = if kind == Kind::Text { "text" } else { "int" };
                return Err(SetupError::Invalid(format!(
                    "{}: column `{name}` is {}, not {want}; cast it: `…::{cast} AS {name}`",
                    self.name,
                    ty.name(),
                )));
            }
        };
        Ok(Some(Field { index, decode }))
    }

    fn missing(&self, column: &str, what: &str) -> SetupError {
        let returned: Vec<&str> = self.columns.iter().map(|(n, _)| n.as_str()).collect();
        SetupError::Invalid(format!(
            "{} returns no `{column}` column (it returns: {}); add {what}",
            self.name,
            if returned.is_empty() {
                "nothing".to_owned()
            } else {
                returned.join(", ")
            }
        ))
    }

    /// Runs the statement with `values` bound in order; the first row, if any.
    async fn fetch(&self, pool: &PgPool, values: &[&str]) -> Result<Option<PgRow>, LookupError> {
        let mut query = sqlx::query(&self.sql);
        for (param, value) in self.params.iter().zip(values) {
            match param.bind(query, value) {
                Some(bound) => query = bound,
                None => return Ok(None),
            }
        }
        query.fetch_optional(pool).await.map_err(unavailable)
    }
}
