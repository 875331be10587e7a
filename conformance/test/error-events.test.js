// PROTOCOL.md §2 AUTH_FAILURE=event and §4 ERROR_EVENT.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { io } from 'socket.io-client';
import {
  ack,
  clientOptions,
  closeAll,
  connect,
  errorAck,
  errorEvent,
  MESSAGES,
  Recorder,
  roomCode,
  setupRoom,
  tokenFor,
  newUser,
  transportOptions,
  WAIT_MS,
  withTimeout,
} from '../lib/client.js';
import { SKIP_SETTINGS, useTarget } from '../lib/target.js';

after(closeAll);

const UNAUTHORIZED = { code: 'UNAUTHORIZED', message: 'Unauthorized', status: 'error', event: 'connection' };

/** Connects without valid credentials; resolves with what happened, in order. */
function unauthorizedSession(url, opts) {
  const { transport = 'websocket', ...rest } = opts;
  const socket = io(url, clientOptions({ ...transportOptions(transport), ...rest }));
  const rec = new Recorder(socket);
  const seq = [];
  socket.on('connect', () => seq.push('connect'));
  socket.on('connect_error', (err) => seq.push(`connect_error:${err.message}`));
  const done = new Promise((resolve) => {
    socket.on('disconnect', (reason) => {
      seq.push(`disconnect:${reason}`);
      resolve();
    });
    socket.on('connect_error', () => resolve());
  });
  return withTimeout(done, WAIT_MS, () => `no disconnect; saw ${seq.join(', ')}`).then(() => {
    socket.close();
    return { seq, rec };
  });
}

describe('AUTH_FAILURE=event', { skip: SKIP_SETTINGS }, () => {
  const target = useTarget({ AUTH_FAILURE: 'event' });

  for (const [name, opts] of Object.entries({
    'no credential (websocket)': {},
    'no credential (polling)': { transport: 'polling' },
    'bad signature': { auth: { token: tokenFor(newUser(), { secret: 'wrong' }) } },
  })) {
    test(`${name}: connects, gets UNAUTHORIZED on error, then the server disconnects it`, async () => {
      const { seq, rec } = await unauthorizedSession(target.url, opts);
      assert.deepEqual(seq, ['connect', 'disconnect:io server disconnect']);
      assert.deepEqual(rec.take('error'), [UNAUTHORIZED]);
      assert.deepEqual(rec.log.map((e) => e.event), ['error']);
    });
  }

  test('valid credentials work as usual, with no error', async () => {
    const { clients: [a, b] } = await setupRoom(target.url, 2);
    assert.deepEqual(await ack(a.socket, 'webrtc:ice', { targetPeerId: b.id, candidate: 'candidate:1' }), { ok: true });
    await b.rec.next('webrtc:ice');
    await Promise.all([a.rec.none('error'), b.rec.none('error')]);
  });
});

describe('ERROR_EVENT=exception', { skip: SKIP_SETTINGS }, () => {
  const target = useTarget({ ERROR_EVENT: 'exception' });

  test('errors arrive on "exception", not on "error"; acks unchanged', async () => {
    const c = await connect(target.url);
    const code = roomCode('Exc');
    const reply = await ack(c.socket, 'join:room', { roomCode: code });
    assert.deepEqual(reply, errorAck('ROOM_NOT_FOUND', MESSAGES.ROOM_NOT_FOUND));
    assert.deepEqual(await c.rec.next('exception'), errorEvent('ROOM_NOT_FOUND', MESSAGES.ROOM_NOT_FOUND, 'join:room'));
    await c.rec.none('error');
  });

  test('every error kind goes to "exception" (PEER_NOT_FOUND with targetPeerId, INVALID_PAYLOAD, NOT_IN_ROOM)', async () => {
    const { clients: [a] } = await setupRoom(target.url, 1);
    await ack(a.socket, 'webrtc:offer', { targetPeerId: 'ghost', offer: { type: 'offer', sdp: 'v=0' } });
    assert.deepEqual(await a.rec.next('exception'), errorEvent('PEER_NOT_FOUND', MESSAGES.PEER_NOT_FOUND, 'webrtc:offer', { targetPeerId: 'ghost' }));
    const bad = await ack(a.socket, 'media:state', {});
    assert.deepEqual(await a.rec.next('exception'), errorEvent('INVALID_PAYLOAD', bad.error.message, 'media:state'));
    const loner = await connect(target.url);
    await ack(loner.socket, 'webrtc:ice', { targetPeerId: a.id, candidate: 'c' });
    assert.deepEqual(await loner.rec.next('exception'), errorEvent('NOT_IN_ROOM', MESSAGES.NOT_IN_ROOM, 'webrtc:ice'));
    await Promise.all([a.rec.none('error'), loner.rec.none('error')]);
  });
});

describe('ERROR_EVENT=error,exception with AUTH_FAILURE=event', { skip: SKIP_SETTINGS }, () => {
  const target = useTarget({ ERROR_EVENT: 'error,exception', AUTH_FAILURE: 'event' });

  test('an error is emitted on both events', async () => {
    const c = await connect(target.url);
    await ack(c.socket, 'join:room', { roomCode: roomCode('Both') });
    const expected = errorEvent('ROOM_NOT_FOUND', MESSAGES.ROOM_NOT_FOUND, 'join:room');
    assert.deepEqual(await c.rec.next('error'), expected);
    assert.deepEqual(await c.rec.next('exception'), expected);
    await c.rec.none();
  });

  test('UNAUTHORIZED is emitted on both events before the disconnect', async () => {
    const { seq, rec } = await unauthorizedSession(target.url, {});
    assert.deepEqual(seq, ['connect', 'disconnect:io server disconnect']);
    assert.deepEqual(rec.take('error'), [UNAUTHORIZED]);
    assert.deepEqual(rec.take('exception'), [UNAUTHORIZED]);
  });
});
