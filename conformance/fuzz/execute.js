// Runs one generated sequence against one target with the stock
// socket.io-client and records what every client observes, in arrival order.
//
// Determinism without timing: every step is followed by a barrier, a `ping`
// with an ack from the acting client. Events of one socket are handled in
// order, so when the barrier's ack is back the step has been handled and
// whatever it sent to other sockets is queued on their connections ahead of
// anything a later step causes. A disconnect has no ack: the executor waits
// until the server has let the socket go (see `settleGone`). At the end, one
// barrier per connected client drains what is still on its way.

import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';

const CONNECT_MS = 5000;
const SYNC_MS = 5000;
const GONE_MS = 3000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The user a role connects as: the same on both targets. */
export function userOf(role) {
  return { userId: `fz-${role}`, username: `fuzz-${role.toLowerCase()}` };
}

function token(role, cred, secret) {
  const user = userOf(role);
  const claims = { sub: user.userId, username: user.username, ...(cred.claims ?? {}) };
  for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
  switch (cred.bad) {
    case undefined:
      return jwt.sign(claims, secret, { algorithm: 'HS256', expiresIn: '1h' });
    case 'signature':
      return jwt.sign(claims, `${secret}-other`, { algorithm: 'HS256', expiresIn: '1h' });
    case 'expired':
      return jwt.sign({ ...claims, exp: Math.floor(Date.now() / 1000) - 60 }, secret, { algorithm: 'HS256' });
    case 'nbf':
      return jwt.sign({ ...claims, nbf: Math.floor(Date.now() / 1000) + 3600 }, secret, { algorithm: 'HS256', expiresIn: '2h' });
    case 'none':
      return jwt.sign(claims, null, { algorithm: 'none' });
    default:
      return 'not-a-jwt';
  }
}

/** socket.io-client options carrying the credential `cred`. */
function credentialOptions(role, cred, secret) {
  const carrier = (where, value) => {
    switch (where) {
      case 'auth.token':
        return { auth: { token: value } };
      case 'bearer':
        return { extraHeaders: { Authorization: `Bearer ${value}` } };
      case 'cookie':
        return { extraHeaders: { Cookie: `access_token=${value}` } };
      case 'query':
        return { query: { token: value } };
      default:
        throw new Error(`unknown carrier ${where}`);
    }
  };
  if (cred.carrier === 'none') return {};
  if (cred.carrier === 'auth.raw') return { auth: { token: resolvePlain(cred.value) } };
  if (cred.first === 'bad') {
    const bad = carrier('auth.token', token(role, { ...cred, bad: 'signature' }, secret));
    const good = carrier(cred.then, token(role, cred, secret));
    return { ...good, ...bad };
  }
  return carrier(cred.carrier, token(role, cred, secret));
}

/** Whether a credential is refused: bad, missing, or naming no user. */
function refused(cred) {
  const sub = cred.claims && 'sub' in cred.claims ? cred.claims.sub : undefined;
  const subCounts = sub === undefined || sub === null || (typeof sub === 'string' && sub !== '') || typeof sub === 'number';
  return cred.bad !== undefined || cred.carrier === 'none' || cred.carrier === 'auth.raw' || cred.first === 'bad' || !subCounts;
}

function resolvePlain(v) {
  return v && typeof v === 'object' && v.$undefined ? undefined : v;
}

/** A string of exactly `bytes` UTF-8 bytes made of `unit`. */
function repeatBytes(unit, bytes) {
  const size = Buffer.byteLength(unit, 'utf8');
  const whole = Math.floor(bytes / size);
  return unit.repeat(whole) + 'a'.repeat(bytes - whole * size);
}

/**
 * Runs `steps` against the target at `url`.
 * `prefix`: this run's room-code prefix (digits and `-`, so case changes leave it alone).
 * @returns {Promise<{ logs: Record<string, object[]>, names: Map<string, string>, generated: string[] }>}
 */
export async function execute(url, steps, { prefix, secret }) {
  const run = new Run(url, prefix, secret);
  try {
    for (let i = 0; i < steps.length; i++) await run.step(i, steps[i]);
    for (const role of run.roleOrder) await run.sync(role);
  } finally {
    run.close();
  }
  return { logs: run.logs, names: run.names, generated: run.generated, witnesses: run.witnessIds };
}

class Run {
  constructor(url, prefix, secret) {
    this.url = url;
    this.prefix = prefix;
    this.secret = secret;
    /** role → { socket, id, generation, ids[] } */
    this.clients = new Map();
    /** role → observations */
    this.logs = {};
    /** socket id → client name (A, A2, …) */
    this.names = new Map();
    this.roleOrder = [];
    /** Codes the target generated, in order of appearance. */
    this.generated = [];
    this.sockets = [];
    this.witness = undefined;
    this.witnessIds = [];
  }

  log(role) {
    if (!this.logs[role]) {
      this.logs[role] = [];
      this.roleOrder.push(role);
    }
    return this.logs[role];
  }

  client(role) {
    let c = this.clients.get(role);
    if (!c) {
      c = { socket: undefined, id: undefined, generation: 0, ids: [] };
      this.clients.set(role, c);
    }
    return c;
  }

  noteGenerated(payload) {
    const code = payload?.roomCode;
    if (typeof code === 'string' && !code.startsWith(this.prefix) && !this.generated.includes(code)) {
      this.generated.push(code);
    }
  }

  resolve(value, role) {
    if (Array.isArray(value)) return value.map((v) => this.resolve(v, role));
    if (value === null || typeof value !== 'object') return value;
    if ('$undefined' in value) return undefined;
    if ('$peer' in value) return this.client(value.$peer).id ?? `gone-${value.$peer}`;
    if ('$stale' in value) {
      const ids = this.client(value.$stale).ids;
      return ids.length > 1 ? ids[ids.length - 2] : `stale-${value.$stale}`;
    }
    if ('$room' in value) {
      let code = this.prefix + value.$room;
      if (value.len) code = (code + 'x'.repeat(64)).slice(0, value.len);
      if (value.case === 'upper') code = code.toUpperCase();
      if (value.case === 'lower') code = code.toLowerCase();
      return code;
    }
    if ('$gen' in value) return this.generated[value.$gen] ?? 'NOGEN';
    if ('$repeat' in value) return repeatBytes(value.$repeat, value.bytes);
    if ('$nest' in value) {
      let v = 1;
      for (let i = 0; i < value.$nest; i++) v = { a: v };
      return v;
    }
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, { value: this.resolve(v, role), enumerable: true, writable: true, configurable: true });
    }
    return out;
  }

  async step(index, step) {
    const { c: role } = step;
    const log = this.log(role);
    switch (step.op) {
      case 'connect':
        await this.connect(role, step);
        return;
      case 'disconnect': {
        const c = this.client(role);
        if (!c.socket?.connected) return;
        // What is on its way to the client arrives first (polling holds it until the next poll).
        await this.sync(role);
        if (!c.socket.connected) return;
        c.socket.disconnect();
        await this.settleGone(role, c.id);
        return;
      }
      case 'emit':
      case 'flood': {
        const c = this.client(role);
        if (!c.socket?.connected) return;
        const n = step.op === 'flood' ? step.n : 1;
        for (let k = 0; k < n; k++) {
          const args = this.resolve(step.args, role);
          const tag = n === 1 ? `${index}` : `${index}.${k}`;
          if (step.ack) {
            c.socket.emit(step.event, ...args, (...reply) => {
              log.push({ ack: tag, v: reply.length === 1 ? reply[0] : reply });
              if (step.event === 'create:room') this.noteGenerated(reply[0]);
            });
          } else {
            c.socket.emit(step.event, ...args);
          }
        }
        await this.sync(role);
        return;
      }
      default:
        throw new Error(`unknown op ${step.op}`);
    }
  }

  async connect(role, step) {
    const c = this.client(role);
    if (c.socket?.connected) {
      await this.sync(role);
      if (c.socket.connected) c.socket.disconnect();
      await this.settleGone(role, c.id);
    }
    const log = this.log(role);
    c.generation += 1;
    const name = c.generation === 1 ? role : `${role}${c.generation}`;
    const transports = step.transport === 'polling' ? { transports: ['polling'], upgrade: false } : { transports: ['websocket'] };
    const socket = io(this.url, {
      forceNew: true,
      reconnection: false,
      timeout: CONNECT_MS,
      ...transports,
      ...credentialOptions(role, step.cred, this.secret),
    });
    this.sockets.push(socket);
    c.socket = socket;
    c.id = undefined;
    socket.onAny((event, ...args) => {
      log.push(args.length === 1 ? { on: event, p: args[0] } : { on: event, args });
      if (event === 'room:created') this.noteGenerated(args[0]);
    });
    socket.on('disconnect', (reason) => log.push({ disconnect: reason, of: name }));
    // Logged in the listeners themselves: what the server sends right after
    // CONNECT (AUTH_FAILURE=event) is handled in the same tick.
    const outcome = await new Promise((resolve) => {
      const timer = setTimeout(() => {
        log.push({ connect: 'timeout', as: name });
        resolve('timeout');
      }, CONNECT_MS + 1000);
      socket.once('connect', () => {
        clearTimeout(timer);
        c.id = socket.id;
        c.ids.push(socket.id);
        this.names.set(socket.id, name);
        log.push({ connect: 'ok', as: name });
        resolve('ok');
      });
      socket.once('connect_error', (err) => {
        clearTimeout(timer);
        log.push({ connect_error: err.message, as: name });
        resolve('error');
      });
    });
    if (outcome !== 'ok') socket.close();
    // Refused under AUTH_FAILURE=event: let the server finish the refusal
    // before the next step (a frontend told UNAUTHORIZED sends nothing more).
    if (outcome === 'ok' && refused(step.cred) && socket.connected) {
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, GONE_MS);
        socket.once('disconnect', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * The acting client's barrier: two pings, the second sent once the first is
   * answered. The reference (NestJS) answers a failing event a few microtasks
   * after a succeeding one, so the first ping's ack can overtake an error reply
   * to an earlier event; the second ping arrives as new I/O, which Node handles
   * only after every pending microtask, so its ack comes after everything sent
   * before the first.
   */
  async sync(role) {
    const c = this.client(role);
    const socket = c.socket;
    if (!socket?.connected) return;
    const log = this.log(role);
    const wasId = c.id;
    let outcome;
    for (let round = 0; round < 2; round++) {
      outcome = await this.ping(socket, log, round === 1);
      if (outcome !== 'ok') break;
    }
    if (outcome === 'timeout') log.push({ sync: 'timeout' });
    // The server closed the connection during the step: wait until it let go.
    if (outcome === 'disconnected' || !socket.connected) await this.settleGone(role, wasId);
  }

  ping(socket, log, record) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done('timeout'), SYNC_MS);
      const onDisconnect = () => done('disconnected');
      const done = (what) => {
        clearTimeout(timer);
        socket.off('disconnect', onDisconnect);
        resolve(what);
      };
      socket.once('disconnect', onDisconnect);
      socket.emit('ping', (reply) => {
        // The barrier's own pong is noise: drop it (it comes right before the ack).
        const i = log.findLastIndex((e) => e.on === 'pong' && e.p?.timestamp === reply?.timestamp);
        if (reply?.timestamp !== undefined && i >= 0) log.splice(i, 1);
        if (record) log.push({ sync: reply?.error ? reply.error.code : reply?.timestamp === undefined ? reply : 'ok' });
        // The first ping's reply is not a boundary: refused, it is one more error reply of the step.
        else if (reply?.timestamp === undefined) log.push({ ack: 'barrier', v: reply });
        done('ok');
      });
    });
  }

  /**
   * Waits until the server has handled the disconnect of socket `id`: until a
   * witness socket joining that socket's room no longer finds it among the
   * peers. The witness is hidden: what it causes is left out of the logs.
   */
  async settleGone(role, id) {
    const room = this.roomOf(this.logs[role] ?? [], id);
    if (!room || !id) return;
    const deadline = Date.now() + GONE_MS;
    while (Date.now() < deadline) {
      const w = await this.witnessSocket();
      if (!w) return;
      const reply = await w.timeout(SYNC_MS).emitWithAck('join:room', { roomCode: room }).catch(() => undefined);
      const present = reply?.peers?.some((p) => p.id === id);
      if (reply?.peers) await w.timeout(SYNC_MS).emitWithAck('leave:room').catch(() => undefined);
      if (reply?.peers && !present) return;
      // A witness out of budget is replaced by a fresh one.
      if (reply?.error?.code === 'RATE_LIMITED') w.close();
      else if (reply?.error && reply.error.code !== 'ROOM_FULL') return;
      await sleep(10);
    }
  }

  /** The room code socket `id` was last in, from its own observations. */
  roomOf(log, id) {
    const name = this.names.get(id);
    let room;
    let mine = false;
    for (const e of log) {
      if (e.as !== undefined) mine = e.as === name;
      if (!mine) continue;
      if (e.on === 'room:joined') room = e.p?.roomCode;
      else if (e.on === 'room:left') room = undefined;
      else if (e.ack !== undefined && e.v?.roomId && e.v?.peers) room = e.v.roomCode;
    }
    return room;
  }

  async witnessSocket() {
    if (this.witness?.connected) return this.witness;
    const user = userOf('W');
    const socket = io(this.url, {
      forceNew: true,
      reconnection: false,
      timeout: CONNECT_MS,
      transports: ['websocket'],
      auth: { token: jwt.sign({ sub: user.userId, username: user.username }, this.secret, { algorithm: 'HS256', expiresIn: '1h' }) },
    });
    this.sockets.push(socket);
    const ok = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), CONNECT_MS);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(true);
      });
      socket.once('connect_error', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (!ok) return undefined;
    this.witness = socket;
    this.witnessIds.push(socket.id);
    this.names.set(socket.id, 'W');
    return socket;
  }

  close() {
    for (const s of this.sockets) s.close();
  }
}
