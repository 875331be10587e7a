import { WsException } from '@nestjs/websockets';
import type { ErrorCode } from './interfaces/index.js';

/** The exact messages of docs/WIRE-DETAILS.md. */
export const ERROR_MESSAGES: Record<Exclude<ErrorCode, 'INVALID_PAYLOAD'>, string> = {
  ROOM_NOT_FOUND: 'Room not found',
  ROOM_EXISTS: 'Room already exists',
  ROOM_FULL: 'Room is full',
  PEER_NOT_FOUND: 'Target peer not found',
  NOT_IN_ROOM: 'You are not in a room',
  RATE_LIMITED: 'Too many events',
  UNAUTHORIZED: 'Unauthorized',
  INTERNAL_ERROR: 'Internal server error',
};

/**
 * A failure the client is told about: `{ code, message, ...extra }` on the error
 * event(s), `{ error: { code, message } }` on the ack.
 */
export class SignalingException extends WsException {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }

  static of(code: Exclude<ErrorCode, 'INVALID_PAYLOAD'>, extra?: Record<string, unknown>) {
    return new SignalingException(code, ERROR_MESSAGES[code], extra);
  }

  static invalidPayload(message: string) {
    return new SignalingException('INVALID_PAYLOAD', message);
  }
}
