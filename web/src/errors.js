// Words for every failure the user can meet: the gateway's error codes
// (docs/WIRE-DETAILS.md "Error messages"), refused handshakes, lost
// connections, missing media.

import { link } from './ui.js';

/** The parts of the notice for an `error` event `{ code, message, event, sfuUrl? }`. */
export function gatewayError(err, roomCode) {
  const room = roomCode ? `“${roomCode}”` : 'this room';
  switch (err.code) {
    case 'ROOM_FULL':
      return /^https?:\/\//i.test(err.sfuUrl ?? '')
        ? [`Room ${room} is full. Larger calls go through the SFU: `, link(err.sfuUrl, err.sfuUrl)]
        : [`Room ${room} is full: every seat is taken. Try again when someone leaves, or create a larger room.`];
    case 'ROOM_NOT_FOUND':
      return [`There is no room ${room}: it was never created, or it expired after standing empty. Check the code, or create it.`];
    case 'ROOM_EXISTS':
      return [`The room code ${room} is taken. Join it, or pick another code.`];
    case 'UNAUTHORIZED':
      return ['The gateway refused your credentials (Unauthorized). Sign in again.'];
    case 'RATE_LIMITED':
      return ['Too many events sent at once: the gateway dropped some. Slow down.'];
    case 'INVALID_PAYLOAD':
      return [`The gateway refused ${err.event ?? 'a request'}: ${err.message}`];
    case 'PEER_NOT_FOUND':
      return [`A peer left before a message reached it (${err.targetPeerId ?? 'unknown'}).`];
    case 'NOT_IN_ROOM':
      return ['You are not in a room any more.'];
    default:
      return [`The gateway reported ${err.code}: ${err.message}`];
  }
}

/** A refused handshake (`connect_error`) or a transport failure. */
export function connectError(err) {
  if (err.message === 'Unauthorized') return ['The gateway refused your credentials (Unauthorized). Sign in again.'];
  return [`Cannot reach the gateway (${err.message}); retrying…`];
}

export function disconnected(reason) {
  const why = {
    'transport close': 'the connection closed',
    'transport error': 'the connection failed',
    'ping timeout': 'the gateway stopped answering',
    'io server disconnect': 'the gateway closed the session',
  }[reason] ?? reason;
  return `Disconnected from the gateway: ${why}.`;
}

export function mediaError(err) {
  const why = {
    NotAllowedError: 'permission was refused',
    NotFoundError: 'there is no camera or microphone',
    NotReadableError: 'the device is in use',
  }[err.name] ?? err.message;
  return [`No camera or microphone (${why}): you are in the call without sending media.`];
}
