import { ArgumentsHost, Catch, Logger } from '@nestjs/common';
import { BaseWsExceptionFilter } from '@nestjs/websockets';
import type { Socket } from 'socket.io';
import { config } from '../config.js';
import type { ErrorAck, ErrorPayload } from './interfaces/index.js';
import { SignalingException } from './signaling.exception.js';

/** Emits `payload` on every configured error event (`ERROR_EVENT`, default `error`). */
export function emitError(client: Socket, payload: ErrorPayload): void {
  for (const event of config.errorEvents) client.emit(event, payload);
}

/**
 * Replaces NestJS's `BaseWsExceptionFilter` output (`exception` with
 * `{ status, message }`) with the incumbent's error shape, sent to the sender
 * alone, and answers the event's ack if the client passed one.
 */
@Catch()
export class SignalingExceptionFilter extends BaseWsExceptionFilter {
  private readonly logger = new Logger('SignalingExceptionFilter');

  override catch(exception: unknown, host: ArgumentsHost): void {
    const ws = host.switchToWs();
    const client = ws.getClient<Socket>();
    const event = ws.getPattern();
    // WS handler arguments are (client, data, ack?, pattern).
    const ack = host.getArgByIndex(2);

    let error: SignalingException;
    if (exception instanceof SignalingException) {
      error = exception;
    } else {
      this.logger.error(exception);
      error = SignalingException.of('INTERNAL_ERROR');
    }
    const message = error.message;

    emitError(client, { code: error.code, message, status: 'error', event, ...error.extra });
    if (typeof ack === 'function') {
      const reply: ErrorAck = { error: { code: error.code, message } };
      ack(reply);
    }
  }
}

