// PROTOCOL.md §4 RATE_LIMITED; WIRE-DETAILS.md "Rate limit" (token bucket per socket).

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  ack,
  closeAll,
  connect,
  createRoom,
  errorAck,
  errorEvent,
  MESSAGES,
  roomCode,
  sleep,
} from '../lib/client.js';
import { SKIP_SETTINGS, useTarget } from '../lib/target.js';

after(closeAll);

const LIMITED = errorAck('RATE_LIMITED', MESSAGES.RATE_LIMITED);
const isPong = (r) => typeof r?.timestamp === 'string';

describe('RATE_LIMIT_BURST=5, RATE_LIMIT_PER_SEC=1', { skip: SKIP_SETTINGS }, () => {
  const target = useTarget({ RATE_LIMIT_BURST: '5', RATE_LIMIT_PER_SEC: '1' });

  test('a burst of 8 pings: exactly 5 answered, 3 RATE_LIMITED (ack and error event), still connected', async () => {
    const c = await connect(target.url);
    const replies = await Promise.all(Array.from({ length: 8 }, () => ack(c.socket, 'ping')));
    assert.deepEqual(replies.map(isPong), [true, true, true, true, true, false, false, false]);
    assert.deepEqual(replies.slice(5), [LIMITED, LIMITED, LIMITED]);
    for (let i = 0; i < 5; i++) await c.rec.next('pong');
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await c.rec.next('error'), errorEvent('RATE_LIMITED', MESSAGES.RATE_LIMITED, 'ping'));
    }
    await c.rec.none();
    assert.ok(c.socket.connected);
  });

  test('tokens refill continuously: 1.2 s later exactly one more event passes', async () => {
    const c = await connect(target.url);
    await Promise.all(Array.from({ length: 6 }, () => ack(c.socket, 'ping')));
    await sleep(1200);
    const [first, second] = await Promise.all([ack(c.socket, 'ping'), ack(c.socket, 'ping')]);
    assert.ok(isPong(first), JSON.stringify(first));
    assert.deepEqual(second, LIMITED);
  });

  test('every event costs a token, and a rate-limited event is not processed (even if malformed)', async () => {
    const c = await connect(target.url);
    const code = roomCode('Limited');
    const replies = await Promise.all([
      ack(c.socket, 'ping'),
      ack(c.socket, 'leave:room'),
      ack(c.socket, 'media:state', { isVideoEnabled: true, isAudioEnabled: true }),
      ack(c.socket, 'join:room', { roomCode: 'missing-room-x' }),
      ack(c.socket, 'webrtc:ice', { targetPeerId: 'x', candidate: 'c' }),
      // Out of tokens from here on: rate limit is checked before shape and state.
      ack(c.socket, 'join:room', { roomCode: '' }),
      ack(c.socket, 'create:room', { roomCode: code }),
      ack(c.socket, 'webrtc:offer', { targetPeerId: 'x', offer: 'bad' }),
    ]);
    assert.ok(isPong(replies[0]));
    assert.deepEqual(replies[1], { ok: true });
    assert.deepEqual(replies[2], { ok: true });
    assert.equal(replies[3].error.code, 'ROOM_NOT_FOUND');
    assert.equal(replies[4].error.code, 'NOT_IN_ROOM');
    assert.deepEqual(replies.slice(5), [LIMITED, LIMITED, LIMITED]);
    const errors = c.rec.take('error');
    while (errors.length < 5) errors.push(await c.rec.next('error'));
    assert.deepEqual(
      errors.filter((e) => e.code === 'RATE_LIMITED').map((e) => e.event),
      ['join:room', 'create:room', 'webrtc:offer'],
    );
    assert.deepEqual(c.rec.take('room:created'), [], 'the rate-limited create:room did nothing');

    // Once refilled, the same code can be created: the limited attempt created nothing.
    await sleep(1100);
    await createRoom(c, { roomCode: code });
  });

  test('budgets are per socket', async () => {
    const a = await connect(target.url);
    const b = await connect(target.url);
    await Promise.all(Array.from({ length: 7 }, () => ack(a.socket, 'ping')));
    const replies = await Promise.all(Array.from({ length: 5 }, () => ack(b.socket, 'ping')));
    assert.ok(replies.every(isPong));
  });

  test('events without an ack are limited too (error event only)', async () => {
    const c = await connect(target.url);
    for (let i = 0; i < 7; i++) c.socket.emit('ping');
    for (let i = 0; i < 5; i++) await c.rec.next('pong');
    assert.deepEqual(await c.rec.next('error'), errorEvent('RATE_LIMITED', MESSAGES.RATE_LIMITED, 'ping'));
    assert.deepEqual(await c.rec.next('error'), errorEvent('RATE_LIMITED', MESSAGES.RATE_LIMITED, 'ping'));
    await c.rec.none();
  });
});

describe('default budget (burst 1,000, 200/s)', () => {
  const target = useTarget();

  test('1,000 back-to-back events pass; 1,300 in a burst hit RATE_LIMITED within the refill allowance', async () => {
    const c = await connect(target.url);
    await sleep(200); // full bucket
    const started = Date.now();
    const replies = await Promise.all(Array.from({ length: 1300 }, () => ack(c.socket, 'ping', undefined, 15_000)));
    const elapsed = (Date.now() - started) / 1000;
    const ok = replies.filter(isPong).length;
    assert.ok(replies.slice(0, 1000).every(isPong), 'the first 1,000 pass');
    assert.ok(replies.filter((r) => !isPong(r)).every((r) => JSON.stringify(r) === JSON.stringify(LIMITED)));
    assert.ok(ok < 1300, 'some events are rate limited');
    assert.ok(ok <= 1000 + Math.ceil(elapsed * 200) + 1, `${ok} passed in ${elapsed}s`);
    assert.ok(c.socket.connected);
  });
});
