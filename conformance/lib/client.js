// Client-side helpers: tokens, connections with an event recorder, assertions
// on what a socket receives (and what it does not).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';
import { JWT_SECRET } from './target.js';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** How long "receives nothing" waits. Long enough for a loopback round trip many times over. */
export const QUIET_MS = 300;
/** Default wait for an expected event. */
export const WAIT_MS = 5000;

let userSeq = 0;
const runId = randomBytes(3).toString('hex');

/** A fresh user: `{ userId, username }` as `userInfo` should show it. */
export function newUser(name = 'user') {
  userSeq += 1;
  return { userId: `u-${runId}-${userSeq}`, username: `${name}${userSeq}` };
}

/** An HS256 token as `@nestjs/jwt` signs it: `{ sub, username, iat, exp }`. */
export function tokenFor(user, { secret = JWT_SECRET, expiresIn = '1h', claims = {} } = {}) {
  // expiresIn: null signs without exp (or with the exp given in claims).
  return jwt.sign({ sub: user.userId, username: user.username, ...claims }, secret, {
    algorithm: 'HS256',
    ...(expiresIn === null ? {} : { expiresIn }),
  });
}

/** A random room code unique to this run (mixed case on purpose). */
export function roomCode(prefix = 'Room') {
  return `${prefix}-${randomBytes(4).toString('hex').toUpperCase()}`.slice(0, 64);
}

/**
 * A Socket.IO client that records every server event (`onAny`) from creation on.
 * `rec.next(event)` consumes the oldest unconsumed `event`, waiting for it;
 * `rec.none(event)` asserts that no unconsumed `event` is there or arrives.
 */
export class Recorder {
  constructor(socket) {
    this.socket = socket;
    this.log = [];
    this.waiters = [];
    socket.onAny((event, ...args) => {
      this.log.push({ event, args, consumed: false });
      this.flush();
    });
  }

  flush() {
    for (const w of [...this.waiters]) {
      const entry = this.log.find((e) => !e.consumed && e.event === w.event);
      if (entry) {
        entry.consumed = true;
        this.waiters.splice(this.waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(entry.args[0]);
      }
    }
  }

  /** The payload of the next `event`. */
  next(event, timeout = WAIT_MS) {
    return new Promise((resolve, reject) => {
      const w = { event, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        const seen = this.log.map((e) => e.event).join(', ') || 'nothing';
        reject(new Error(`no "${event}" within ${timeout} ms (received: ${seen})`));
      }, timeout);
      this.waiters.push(w);
      this.flush();
    });
  }

  /** Unconsumed payloads of `event` received so far (consumes them). */
  take(event) {
    const out = [];
    for (const e of this.log) {
      if (!e.consumed && e.event === event) {
        e.consumed = true;
        out.push(e.args[0]);
      }
    }
    return out;
  }

  /** Asserts that nothing (or no `event`, if given) unconsumed arrives within `ms`. */
  async none(event, ms = QUIET_MS) {
    await sleep(ms);
    const extra = this.log.filter((e) => !e.consumed && (event === undefined || e.event === event));
    assert.deepEqual(
      extra.map((e) => ({ event: e.event, payload: e.args[0] })),
      [],
      `unexpected ${event ?? 'events'} on ${this.socket.id}`,
    );
  }
}

/** Client options for a transport mode: websocket | polling | upgrade. */
export function transportOptions(mode = 'websocket') {
  switch (mode) {
    case 'websocket':
      return { transports: ['websocket'] };
    case 'polling':
      return { transports: ['polling'], upgrade: false };
    case 'upgrade':
      return { transports: ['polling', 'websocket'], upgrade: true };
    default:
      throw new Error(`unknown transport mode ${mode}`);
  }
}

const openSockets = new Set();

/** Options for `io()`: never reconnect, never share a manager. */
export function clientOptions(extra = {}) {
  return { forceNew: true, reconnection: false, timeout: 5000, ...extra };
}

/**
 * Connects and resolves once connected (rejects with the connect_error).
 * Without `auth`/`token`/`noAuth` it authenticates a fresh user via `auth.token`.
 * @returns {Promise<{socket, rec, user, id}>}
 */
export function connect(url, opts = {}) {
  const { user = newUser(), transport = 'websocket', noAuth = false, ...rest } = opts;
  const options = clientOptions({ ...transportOptions(transport), ...rest });
  if (!noAuth && options.auth === undefined) options.auth = { token: tokenFor(user) };
  const socket = io(url, options);
  openSockets.add(socket);
  const rec = new Recorder(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      socket.close();
      reject(new Error('connect timed out'));
    }, WAIT_MS + 1000);
    const onConnect = () => {
      cleanup();
      resolve({ socket, rec, user, id: socket.id });
    };
    const onError = (err) => {
      cleanup();
      socket.close();
      reject(err);
    };
    const cleanup = () => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('connect_error', onError);
    };
    socket.on('connect', onConnect);
    socket.on('connect_error', onError);
  });
}

/** Resolves with the `connect_error` of a connection that must be refused. */
export function connectRefused(url, opts = {}) {
  const { transport = 'websocket', ...rest } = opts;
  const socket = io(url, clientOptions({ ...transportOptions(transport), ...rest }));
  openSockets.add(socket);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error('neither connect nor connect_error'));
    }, WAIT_MS);
    socket.on('connect', () => {
      clearTimeout(timer);
      socket.close();
      reject(new Error('connection was accepted but must be refused'));
    });
    socket.on('connect_error', (err) => {
      clearTimeout(timer);
      socket.close();
      resolve(err);
    });
  });
}

/** Closes every socket opened through this module. */
export function closeAll() {
  for (const s of openSockets) s.close();
  openSockets.clear();
}

/** Emits with an ack and resolves with the ack's argument. `payload === undefined` sends none. */
export function ack(socket, event, payload, timeout = WAIT_MS) {
  const s = socket.timeout(timeout);
  return payload === undefined ? s.emitWithAck(event) : s.emitWithAck(event, payload);
}

/** Resolves with the disconnect reason. */
export function disconnected(socket, timeout = WAIT_MS) {
  return new Promise((resolve, reject) => {
    if (!socket.connected && socket.io.engine?.readyState === 'closed') {
      resolve('already disconnected');
      return;
    }
    const timer = setTimeout(() => reject(new Error('no disconnect')), timeout);
    socket.once('disconnect', (reason) => {
      clearTimeout(timer);
      resolve(reason);
    });
  });
}

/** Creates a room and returns its `room:created` payload (asserting the ack and event agree). */
export async function createRoom(client, payload) {
  const reply = await ack(client.socket, 'create:room', payload);
  assert.ok(!reply.error, `create:room failed: ${JSON.stringify(reply)}`);
  assert.deepEqual(await client.rec.next('room:created'), reply);
  return reply;
}

/** Joins a room and returns its `room:joined` payload (asserting the ack and event agree). */
export async function joinRoom(client, code) {
  const reply = await ack(client.socket, 'join:room', { roomCode: code });
  assert.ok(!reply.error, `join:room ${code} failed: ${JSON.stringify(reply)}`);
  assert.deepEqual(await client.rec.next('room:joined'), reply);
  return reply;
}

/** The expected error ack. */
export function errorAck(code, message) {
  return { error: { code, message } };
}

/** The expected error event payload. */
export function errorEvent(code, message, event, extra = {}) {
  return { code, message, status: 'error', event, ...extra };
}

export const MESSAGES = {
  ROOM_NOT_FOUND: 'Room not found',
  ROOM_EXISTS: 'Room already exists',
  ROOM_FULL: 'Room is full',
  PEER_NOT_FOUND: 'Target peer not found',
  NOT_IN_ROOM: 'You are not in a room',
  RATE_LIMITED: 'Too many events',
  UNAUTHORIZED: 'Unauthorized',
  SERVICE_UNAVAILABLE: 'Service unavailable',
  INTERNAL_ERROR: 'Internal server error',
};

/**
 * Asserts a failure: the ack is exactly `{ error: { code, message } }` and the
 * sender alone gets the error event with `status`, `event` and `extra`.
 * For INVALID_PAYLOAD the message is free text: checked to be a non-empty string.
 */
export async function expectError(client, event, payload, code, extra = {}, errorEventName = 'error') {
  const reply = await ack(client.socket, event, payload);
  const errPayload = await client.rec.next(errorEventName);
  if (code === 'INVALID_PAYLOAD') {
    assert.equal(typeof reply?.error?.message, 'string', `ack: ${JSON.stringify(reply)}`);
    assert.ok(reply.error.message.length > 0);
    assert.deepEqual(reply, errorAck(code, reply.error.message));
    assert.deepEqual(errPayload, errorEvent(code, reply.error.message, event, extra));
  } else {
    assert.deepEqual(reply, errorAck(code, MESSAGES[code]));
    assert.deepEqual(errPayload, errorEvent(code, MESSAGES[code], event, extra));
  }
  assert.ok(client.socket.connected, 'the socket stays connected after an error');
  return reply;
}

/** A well-formed offer as the seed shows it. */
export const SEED_OFFER = { type: 'offer', sdp: 'v=0\r\n...' };
/** The seed's ICE candidate string. */
export const SEED_CANDIDATE = 'candidate:1 1 UDP 2130706431 192.168.1.1 54321 typ host';

/**
 * Connects `n` clients, creates a room with the first one and joins them all in
 * order; drains the `peer:joined` events this causes. Returns
 * `{ code, roomId, clients }`.
 */
export async function setupRoom(url, n, { code = roomCode(), create = {}, connectOpts = {} } = {}) {
  const clients = [];
  for (let i = 0; i < n; i++) clients.push(await connect(url, connectOpts));
  const created = await createRoom(clients[0], { roomCode: code, ...create });
  for (let i = 0; i < n; i++) {
    await joinRoom(clients[i], code);
    for (let j = 0; j < i; j++) {
      assert.deepEqual(await clients[j].rec.next('peer:joined'), {
        peerId: clients[i].id,
        userInfo: clients[i].user,
      });
    }
  }
  return { code, roomId: created.roomId, clients };
}

/** `promise`, or a rejection after `ms` (the timer never outlives the promise). */
export function withTimeout(promise, ms, message) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(typeof message === 'function' ? message() : message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
