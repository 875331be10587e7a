// PROTOCOL.md §1: both transports, WebSocket and HTTP long-polling (with upgrade).

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  ack,
  closeAll,
  connect,
  createRoom,
  expectError,
  joinRoom,
  roomCode,
  SEED_CANDIDATE,
  SEED_OFFER,
  sleep,
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
