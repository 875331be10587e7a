/**
 * Settings read from the environment once, at start-up.
 * Names and defaults follow docs/PROTOCOL.md and docs/WIRE-DETAILS.md.
 */

function list(value: string | undefined, fallback: string[] = []): string[] {
  if (value === undefined) return fallback;
  return value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

function int(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value.trim() === '') return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0) {
    throw new Error(`${name} must be a non-negative number, got "${value}"`);
  }
  return parsed;
}

/** A duration in seconds: `600`, `30s`, `10m`, `1h`. Returns milliseconds. */
export function parseDuration(name: string, value: string | undefined, fallbackMs: number): number {
  if (value === undefined || value.trim() === '') return fallbackMs;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$/i.exec(value);
  if (!match) throw new Error(`${name} must be seconds or take an s/m/h suffix, got "${value}"`);
  const unit = match[2].toLowerCase();
  const factor = unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : 1_000;
  return Math.round(Number(match[1]) * factor);
}

function bool(value: string | undefined): boolean {
  return value !== undefined && ['1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase());
}

const env = process.env;

const jwtSecret = env.JWT_SECRET || env.JWT_ACCESS_SECRET;
if (!jwtSecret) {
  throw new Error('JWT_SECRET (or JWT_ACCESS_SECRET) must be set');
}

export const config = {
  port: int('PORT', env.PORT, 3000),
  host: env.HOST || '0.0.0.0',
  clientUrls: list(env.CLIENT_URL, ['http://localhost:5173']),
  jwtSecret,
  /** `event`: connect, emit UNAUTHORIZED, disconnect (the incumbent's way). */
  authFailureAsEvent: (env.AUTH_FAILURE ?? '').trim().toLowerCase() === 'event',
  errorEvents: list(env.ERROR_EVENT, ['error']),
  roomTtlMs: parseDuration('ROOM_TTL', env.ROOM_TTL, 10 * 60_000),
  autoCreateRooms: bool(env.AUTO_CREATE_ROOMS),
  maxRoomSize: int('MAX_ROOM_SIZE', env.MAX_ROOM_SIZE, 10),
  sfuUrl: env.SFU_URL || undefined,
  stunUrls: list(env.STUN_URLS),
  turnUrls: list(env.TURN_URLS),
  turnSecret: env.TURN_SECRET || undefined,
  turnTtlSeconds: Math.round(parseDuration('TURN_TTL', env.TURN_TTL, 86_400_000) / 1000),
  rateLimitBurst: int('RATE_LIMIT_BURST', env.RATE_LIMIT_BURST, 1000),
  rateLimitPerSec: int('RATE_LIMIT_PER_SEC', env.RATE_LIMIT_PER_SEC, 200),
  maxPayload: int('MAX_PAYLOAD', env.MAX_PAYLOAD, 1e6),
  /** The app's own database: users by id, rooms by slug (as the incumbent's Prisma calls). */
  appDatabaseUrl: env.APP_DATABASE_URL || undefined,
} as const;

export type Config = typeof config;

/** Whether a request carrying this `Origin` header may reach the gateway. */
export function isOriginAllowed(origin: string | undefined): boolean {
  return origin === undefined || config.clientUrls.includes(origin);
}
