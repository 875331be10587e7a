import { Injectable } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import type { Socket } from 'socket.io';
import type { UserInfo } from './interfaces/index.js';

type Handshake = Socket['handshake'];

/** A user id longer than this (UTF-8 bytes) refuses the token. */
const MAX_USER_ID_BYTES = 256;
/** A display name is cut to this many characters (code points). */
const MAX_USERNAME_CHARS = 64;

/** Claims of an access token as `@nestjs/jwt` signs them. */
interface AccessTokenClaims {
  sub?: unknown;
  id?: unknown;
  username?: unknown;
  preferred_username?: unknown;
  name?: unknown;
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  }
  return undefined;
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** Handshake authentication (docs/PROTOCOL.md §2). */
@Injectable()
export class AuthService {
  constructor(private readonly jwt: JwtService) {}

  /**
   * The user the handshake authenticates, or undefined. The first carrier
   * present decides: a bad token there is refused, not passed over.
   */
  authenticate(handshake: Handshake): UserInfo | undefined {
    const credential = this.credentialOf(handshake);
    if (credential === undefined || credential.kind === 'apiKey') {
      // API keys belong to the REST API, which the incumbent does not have.
      return undefined;
    }
    return this.verify(credential.token);
  }

  private credentialOf(
    handshake: Handshake,
  ): { kind: 'jwt'; token: string } | { kind: 'apiKey' } | undefined {
    const auth = (handshake.auth ?? {}) as Record<string, unknown>;
    // An empty token is no token (`auth.token || header` in NestJS code).
    if (auth.token !== undefined && auth.token !== null && String(auth.token).trim() !== '') {
      return { kind: 'jwt', token: String(auth.token) };
    }

    const authorization = first(handshake.headers.authorization);
    const bearer = authorization && /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (bearer) {
      const value = bearer[1].trim();
      // A Bearer value that is not a JWT is an API key.
      return value.split('.').length === 3 ? { kind: 'jwt', token: value } : { kind: 'apiKey' };
    }

    const cookie = cookieValue(first(handshake.headers.cookie), 'access_token');
    if (cookie !== undefined) return { kind: 'jwt', token: cookie };

    const query = first(handshake.query.token as string | string[] | undefined);
    if (query !== undefined) return { kind: 'jwt', token: query };

    if (
      auth.apiKey !== undefined ||
      handshake.headers['x-api-key'] !== undefined ||
      handshake.headers['api-key'] !== undefined
    ) {
      return { kind: 'apiKey' };
    }
    return undefined;
  }

  private verify(token: string): UserInfo | undefined {
    let claims: AccessTokenClaims;
    try {
      // HS256 only: `alg: none` and algorithm confusion are refused; exp/nbf enforced.
      claims = this.jwt.verify<AccessTokenClaims>(token, { algorithms: ['HS256'] });
    } catch {
      return undefined;
    }
    // A claim counts when it is a non-empty string or a number; a name claim
    // that does not (true, {}, [], "") is passed over for the next one, a
    // `sub` that does not refuses the token (`sub ?? id`).
    const text = (v: unknown): string | undefined =>
      (typeof v === 'string' && v !== '') || (typeof v === 'number' && Number.isFinite(v))
        ? String(v)
        : undefined;
    const userId = text(claims.sub ?? claims.id);
    // Bounded as docs/SECURITY.md has it: every peer is sent these.
    if (userId === undefined || Buffer.byteLength(userId, 'utf8') > MAX_USER_ID_BYTES) return undefined;
    // Never the e-mail: other peers see this name (docs/WIRE-DETAILS.md).
    const username =
      text(claims.username) ?? text(claims.preferred_username) ?? text(claims.name) ?? userId;
    return { userId, username: Array.from(username).slice(0, MAX_USERNAME_CHARS).join('') };
  }
}
