import { Injectable, OnModuleDestroy } from '@nestjs/common';
import pg from 'pg';
import { config } from '../config.js';

/** A row of the app's `User` table, as Prisma's `user.findUnique` returns it. */
export interface AppUserRow {
  id: string;
  username: string;
}

/**
 * The app's own database (`APP_DATABASE_URL`), read as the incumbent read it
 * through Prisma: `user.findUnique({ where: { id } })` at the handshake and
 * `room.findUnique({ where: { slug } })` at `join:room`. The incumbent had
 * these two calls hard-coded against its Prisma schema (`"User"`, `"Room"`);
 * it did not check `tokenVersion`, `status` or `maxParticipants`.
 */
@Injectable()
export class AppDatabaseService implements OnModuleDestroy {
  private readonly pool = config.appDatabaseUrl
    ? new pg.Pool({ connectionString: config.appDatabaseUrl, max: 4 })
    : undefined;

  constructor() {
    // An idle client losing its server must not crash the process.
    this.pool?.on('error', () => {});
  }

  get enabled(): boolean {
    return this.pool !== undefined;
  }

  async findUser(id: string): Promise<AppUserRow | undefined> {
    const result = await this.pool!.query<AppUserRow>(
      'SELECT "id", "username" FROM "User" WHERE "id" = $1 LIMIT 1',
      [id],
    );
    return result.rows[0];
  }

  /** Whether a room of this slug exists (exact match, as Prisma compares). */
  async roomExists(slug: string): Promise<boolean> {
    const result = await this.pool!.query('SELECT 1 FROM "Room" WHERE "slug" = $1 LIMIT 1', [slug]);
    return result.rowCount !== null && result.rowCount > 0;
  }

  async onModuleDestroy(): Promise<void> {
    await this.pool?.end();
  }
}
