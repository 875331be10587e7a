//! The app's own database, as a NestJS + Prisma app has it: a throwaway
//! PostgreSQL database with `conformance/fixtures/app-schema.sql` loaded.

use sqlx::{Connection, PgConnection};

use super::PgDatabase;

pub const SCHEMA: &str = include_str!("../../../conformance/fixtures/app-schema.sql");

/// The issue's example queries, verbatim.
pub const USER_QUERY: &str =
    r#"SELECT id, username, "tokenVersion" AS token_version FROM "User" WHERE id = $1"#;
pub const ROOM_QUERY: &str = r#"SELECT slug AS code, "maxParticipants" AS max_peers FROM "Room" WHERE slug = $1 AND status = 'active'"#;
/// ROOM_QUERY with who may join: public rooms, and private ones for their owner.
pub const ROOM_QUERY_PER_USER: &str = r#"SELECT slug AS code, "maxParticipants" AS max_peers FROM "Room" WHERE slug = $1 AND status = 'active' AND ("isPublic" OR "ownerId" = $2)"#;

pub struct AppDb {
    pub db: PgDatabase,
}

impl AppDb {
    pub async fn create() -> Self {
        let db = PgDatabase::create().await;
        let mut conn = PgConnection::connect(&db.url).await.expect("connect");
        sqlx::raw_sql(SCHEMA)
            .execute(&mut conn)
            .await
            .expect("load the app schema");
        Self { db }
    }

    pub fn url(&self) -> &str {
        &self.db.url
    }

    /// Runs one statement with text parameters.
    pub async fn exec(&self, sql: &str, params: &[&str]) {
        let mut conn = PgConnection::connect(&self.db.url).await.expect("connect");
        let mut query = sqlx::query(sql);
        for p in params {
            query = query.bind(p.to_string());
        }
        query.execute(&mut conn).await.expect(sql);
    }

    pub async fn add_user(&self, id: &str, username: &str, token_version: i32) {
        let mut conn = PgConnection::connect(&self.db.url).await.expect("connect");
        sqlx::query(
            r#"INSERT INTO "User" (id, email, username, password, "tokenVersion", "updatedAt")
               VALUES ($1, $2, $3, 'argon2-hash', $4, now())"#,
        )
        .bind(id)
        .bind(email_of(id))
        .bind(username)
        .bind(token_version)
        .execute(&mut conn)
        .await
        .expect("insert user");
    }

    pub async fn add_room(&self, slug: &str, max: i32, status: &str, public: bool, owner: &str) {
        let mut conn = PgConnection::connect(&self.db.url).await.expect("connect");
        sqlx::query(
            r#"INSERT INTO "Room" (id, slug, name, "maxParticipants", status, "isPublic", "ownerId")
               VALUES ($1, $2, $3, $4, $5::"RoomStatus", $6, $7)"#,
        )
        .bind(format!("room-{slug}"))
        .bind(slug)
        .bind(format!("Room {slug}"))
        .bind(max)
        .bind(status)
        .bind(public)
        .bind(owner)
        .execute(&mut conn)
        .await
        .expect("insert room");
    }

    pub async fn drop_now(self) {
        self.db.drop_now().await;
    }
}

/// The e-mail address the app keeps for a user (never to be shown to peers).
pub fn email_of(id: &str) -> String {
    format!("{id}@mail.example.test")
}
