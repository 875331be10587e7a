import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import type { Socket } from 'socket.io';
import { config } from '../config.js';
import type { SocketData } from './interfaces/index.js';
import { SignalingException } from './signaling.exception.js';

/**
 * A token bucket per socket: every client event costs one token;
 * RATE_LIMIT_BURST tokens, refilled continuously at RATE_LIMIT_PER_SEC.
 * Runs before the payload pipes, so a rate-limited event is not even parsed.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const client = context.switchToWs().getClient<Socket>();
    const data = client.data as SocketData;
    const now = performance.now();
    const bucket = (data.rateLimit ??= { tokens: config.rateLimitBurst, updatedAt: now });
    bucket.tokens = Math.min(
      config.rateLimitBurst,
      bucket.tokens + ((now - bucket.updatedAt) / 1000) * config.rateLimitPerSec,
    );
    bucket.updatedAt = now;
    if (bucket.tokens < 1) throw SignalingException.of('RATE_LIMITED');
    bucket.tokens -= 1;
    return true;
  }
}
