-- Accounts of the REST API. Portable SQL: the same file runs on SQLite and PostgreSQL.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    -- As registered; `username_key` (lower-cased) makes names unique without case.
    username      TEXT NOT NULL,
    username_key  TEXT NOT NULL UNIQUE,
    -- argon2id PHC string.
    password_hash TEXT NOT NULL,
    -- SHA-256 of the API key, hex. The key itself is shown once and never stored.
    api_key_hash  TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
