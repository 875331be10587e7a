// The app's own database, as a NestJS + Prisma app has it: a throwaway
// PostgreSQL database with fixtures/app-schema.sql loaded, its rows, and
// tokens of the app's shape ({ id, email, tokenVersion }).

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import pg from 'pg';
import { JWT_SECRET } from './target.js';

const here = dirname(fileURLToPath(import.meta.url));
const SCHEMA = readFileSync(join(here, '..', 'fixtures', 'app-schema.sql'), 'utf8');

/** The server tests create their databases on (trust auth). */
export const ADMIN_URL =
  process.env.TEST_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

/** The README's queries for this schema, verbatim. */
export const USER_QUERY = 'SELECT id, username, "tokenVersion" AS token_version FROM "User" WHERE id = $1';
export const ROOM_QUERY =
  'SELECT slug AS code, "maxParticipants" AS max_peers FROM "Room" WHERE slug = $1 AND status = \'active\'';
export const ROOM_QUERY_PER_USER = `${ROOM_QUERY} AND ("isPublic" OR "ownerId" = $2)`;

export class AppDb {
  constructor(name, url) {
    this.name = name;
    this.url = url;
  }

  /** Creates the database and loads the app's schema. */
  static async create() {
    const name = `conformance_app_${process.pid}_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${name}`);
    } finally {
      await admin.end();
    }
    const url = new URL(ADMIN_URL);
    url.pathname = `/${name}`;
    const db = new AppDb(name, url.toString());
    await db.query(SCHEMA);
    return db;
  }

  async query(sql, params = []) {
    const client = new pg.Client({ connectionString: this.url });
    await client.connect();
    try {
      return await client.query(sql, params);
    } finally {
      await client.end();
    }
  }

  /** A row of "User"; the e-mail is `<id>@mail.example.test`. */
  async addUser({ id, username, tokenVersion = 0 }) {
    await this.query(
      'INSERT INTO "User" (id, email, username, password, "tokenVersion", "updatedAt") VALUES ($1, $2, $3, $4, $5, now())',
      [id, emailOf(id), username, 'argon2-hash', tokenVersion],
    );
    return { userId: id, username };
  }

  /** A row of "Room". */
  async addRoom({ slug, maxParticipants = 10, status = 'active', isPublic = true, ownerId }) {
    await this.query(
      'INSERT INTO "Room" (id, slug, name, "maxParticipants", status, "isPublic", "ownerId") VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [`room-${slug}`, slug, `Room ${slug}`, maxParticipants, status, isPublic, ownerId],
    );
  }

  async drop() {
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }
}

export const emailOf = (id) => `${id}@mail.example.test`;

/** The app's access token: HS256, `{ id, email, tokenVersion, iat, exp }`, no `sub`, no `username`. */
export function appToken(userId, { tokenVersion = 0, secret = JWT_SECRET } = {}) {
  const claims = { id: userId, email: emailOf(userId) };
  if (tokenVersion !== null) claims.tokenVersion = tokenVersion;
  return jwt.sign(claims, secret, { algorithm: 'HS256', expiresIn: '15m' });
}

/** Connection options that carry the token as the app's frontend does: the `access_token` cookie. */
export function withCookie(token, extra = {}) {
  return { noAuth: true, extraHeaders: { Cookie: `access_token=${token}` }, ...extra };
}
