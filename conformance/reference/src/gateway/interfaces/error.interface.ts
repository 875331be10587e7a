export type ErrorCode =
  | 'ROOM_NOT_FOUND'
  | 'ROOM_EXISTS'
  | 'ROOM_FULL'
  | 'PEER_NOT_FOUND'
  | 'NOT_IN_ROOM'
  | 'INVALID_PAYLOAD'
  | 'RATE_LIMITED'
  | 'UNAUTHORIZED'
  | 'INTERNAL_ERROR';

/** Emitted on the error event(s) to the sender alone. */
export interface ErrorPayload {
  code: ErrorCode;
  message: string;
  status: 'error';
  /** The client event that failed (`connection` for UNAUTHORIZED). */
  event: string;
  sfuUrl?: string;
  targetPeerId?: string;
}

/** What an ack callback receives on failure. */
export interface ErrorAck {
  error: { code: ErrorCode; message: string };
}
