// PROTOCOL.md §1: both transports, WebSocket and HTTP long-polling (with upgrade).

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { io } from 'socket.io-client';
import {
  ack,
  clientOptions,
  closeAll,
  connect,
  createRoom,
  expectError,
  joinRoom,
  newUser,
  roomCode,
  SEED_CANDIDATE,
  SEED_OFFER,
  sleep,
  tokenFor,
} from '../lib/client.js';
import { useTarget } from '../lib/target.js';

const target = useTarget();
after(closeAll);

async function scenario(modeA, modeB) {
  const a = await connect(target.url, { transport: modeA });
  const b = await connect(target.url, { transport: modeB });
  const code = roomCode(`T-${modeA}-${modeB}`);
  const created = await createRoom(a, { roomCode: code });
  assert.deepEqual(created, { roomId: `room_${code.toLowerCase()}`, roomCode: code });
  await joinRoom(a, code);
  const joined = await joinRoom(b, code);
  assert.deepEqual(joined.peers, [{ id: a.id, userInfo: a.user }]);
  assert.deepEqual(await a.rec.next('peer:joined'), { peerId: b.id, userInfo: b.user });

  assert.deepEqual(await ack(a.socket, 'webrtc:offer', { targetPeerId: b.id, offer: SEED_OFFER }), { ok: true });
  assert.deepEqual(await b.rec.next('webrtc:offer'), { fromPeerId: a.id, targetPeerId: b.id, offer: SEED_OFFER });
  const answer = { type: 'answer', sdp: 'v=0\r\n...' };
  assert.deepEqual(await ack(b.socket, 'webrtc:answer', { targetPeerId: a.id, answer }), { ok: true });
  assert.deepEqual(await a.rec.next('webrtc:answer'), { fromPeerId: b.id, targetPeerId: a.id, answer });
  assert.deepEqual(await ack(b.socket, 'webrtc:ice', { targetPeerId: a.id, candidate: SEED_CANDIDATE }), { ok: true });
  assert.deepEqual(await a.rec.next('webrtc:ice'), { fromPeerId: b.id, targetPeerId: a.id, candidate: SEED_CANDIDATE });

  assert.deepEqual(await ack(a.socket, 'media:state', { isVideoEnabled: false, isAudioEnabled: true }), { ok: true });
  assert.deepEqual(await b.rec.next('media:state_changed'), { peerId: a.id, isVideoEnabled: false, isAudioEnabled: true });
  assert.match((await ack(b.socket, 'ping')).timestamp, /Z$/);
  await b.rec.next('pong');

  await expectError(a, 'webrtc:offer', { targetPeerId: 'nobody', offer: SEED_OFFER }, 'PEER_NOT_FOUND', {
    targetPeerId: 'nobody',
  });

  // Server-initiated traffic without a prior request (long-polling must deliver it).
  const bId = b.id;
  b.socket.close();
  assert.deepEqual(await a.rec.next('peer:left'), { peerId: bId });
  assert.deepEqual(await ack(a.socket, 'leave:room'), { ok: true });
  assert.deepEqual(await a.rec.next('room:left'), { roomId: `room_${code.toLowerCase()}` });
  await a.rec.none();
  return a;
}

describe('one scenario over each transport', () => {
  test('websocket only', async () => {
    const a = await scenario('websocket', 'websocket');
    assert.equal(a.socket.io.engine.transport.name, 'websocket');
  });

  test('polling only (no upgrade)', async () => {
    const a = await scenario('polling', 'polling');
    assert.equal(a.socket.io.engine.transport.name, 'polling');
  });

  test('polling with upgrade to websocket', async () => {
    const a = await connect(target.url, { transport: 'upgrade' });
    const deadline = Date.now() + 5000;
    while (a.socket.io.engine.transport.name !== 'websocket' && Date.now() < deadline) await sleep(20);
    assert.equal(a.socket.io.engine.transport.name, 'websocket', 'upgraded to websocket');
    const code = roomCode('Up');
    await createRoom(a, { roomCode: code });
    await joinRoom(a, code);
    const b = await connect(target.url, { transport: 'upgrade' });
    // Events right after the handshake, while the upgrade may still be in flight.
    const joined = await joinRoom(b, code);
    assert.deepEqual(joined.peers, [{ id: a.id, userInfo: a.user }]);
    assert.deepEqual(await a.rec.next('peer:joined'), { peerId: b.id, userInfo: b.user });
    for (let i = 0; i < 20; i++) b.socket.emit('webrtc:ice', { targetPeerId: a.id, candidate: `candidate:${i}` });
    for (let i = 0; i < 20; i++) {
      assert.deepEqual(await a.rec.next('webrtc:ice'), {
        fromPeerId: b.id,
        targetPeerId: a.id,
        candidate: `candidate:${i}`,
      });
    }
  });

  test('the full scenario with upgrade', () => scenario('upgrade', 'upgrade'));
  test('mixed room: websocket peer and polling peer', () => scenario('websocket', 'polling'));
  test('mixed room: polling peer and websocket peer', () => scenario('polling', 'websocket'));
});

test('polling: many server events queued between polls all arrive, in order', async () => {
  const a = await connect(target.url, { transport: 'websocket' });
  const b = await connect(target.url, { transport: 'polling' });
  const code = roomCode('Burst');
  await createRoom(a, { roomCode: code });
  await joinRoom(a, code);
  await joinRoom(b, code);
  await a.rec.next('peer:joined');
  for (let i = 0; i < 200; i++) a.socket.emit('webrtc:ice', { targetPeerId: b.id, candidate: `candidate:${i}` });
  for (let i = 0; i < 200; i++) {
    assert.equal((await b.rec.next('webrtc:ice')).candidate, `candidate:${i}`);
  }
});

describe('events sent the moment the socket connects are handled', () => {
  // A frontend typically does socket.on('connect', () => socket.emit('join:room', …)).
  // Node's socket.io registers the handlers before the client can send anything.
  for (const transport of ['websocket', 'polling']) {
    test(`${transport}: 60 fresh connections, each pinging from its connect handler, all get their ack`, async () => {
      const lost = [];
      for (let i = 0; i < 60; i++) {
        const c = await connect(target.url, { transport });
        try {
          const reply = await ack(c.socket, 'ping', undefined, 2000);
          assert.match(reply.timestamp, /Z$/);
        } catch (err) {
          lost.push(`#${i}: ${err.message}`);
        }
        c.socket.close();
      }
      assert.deepEqual(lost, [], `${lost.length} of 60 first events were dropped`);
    });
  }

  test('an event emitted before the connection is established (client-side buffer) is handled', async () => {
    const lost = [];
    for (let i = 0; i < 30; i++) {
      const socket = io(target.url, clientOptions({ transports: ['websocket'], auth: { token: tokenFor(newUser()) } }));
      try {
        const reply = await socket.timeout(2000).emitWithAck('ping');
        assert.match(reply.timestamp, /Z$/);
      } catch (err) {
        lost.push(`#${i}: ${err.message}`);
      }
      socket.close();
    }
    assert.deepEqual(lost, [], `${lost.length} of 30 buffered first events were dropped`);
  });
});
