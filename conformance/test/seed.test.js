// Every payload example of conformance/fixtures/nestjs-gateway-seed.md, verbatim.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import {
  ack,
  closeAll,
  connect,
  errorAck,
  joinRoom,
  MESSAGES,
  SEED_CANDIDATE,
} from '../lib/client.js';
import { URL_MODE, useTarget } from '../lib/target.js';

const target = useTarget();
after(closeAll);

test('seed: join:room {"roomCode":"ABC123"} → room:joined roomId room_abc123; offer and ICE examples relayed verbatim', async () => {
  const alice = await connect(target.url, { user: { userId: 'seed-alice', username: 'alice' } });
  const bob = await connect(target.url, { user: { userId: 'seed-bob', username: 'bob' } });

  const created = await ack(alice.socket, 'create:room', JSON.parse('{"roomCode":"ABC123"}'));
  if (URL_MODE && created.error) {
    // A shared deployment may still hold ABC123 from an earlier run.
    assert.deepEqual(created, errorAck('ROOM_EXISTS', MESSAGES.ROOM_EXISTS));
    await alice.rec.next('error');
  } else {
    assert.deepEqual(created, { roomId: 'room_abc123', roomCode: 'ABC123' });
    assert.deepEqual(await alice.rec.next('room:created'), created);
  }

  // The seed's join:room example, byte for byte.
  const joinPayload = JSON.parse('{\n  "roomCode": "ABC123"\n}');
  const aliceJoined = await ack(alice.socket, 'join:room', joinPayload);
  assert.equal(aliceJoined.roomId, 'room_abc123');
  assert.equal(aliceJoined.roomCode, 'ABC123');
  assert.equal(aliceJoined.peerId, alice.id);
  assert.deepEqual(aliceJoined.peers, []);
  assert.deepEqual(await alice.rec.next('room:joined'), aliceJoined);

  const bobJoined = await joinRoom(bob, 'ABC123');
  // Seed: room:joined { roomId, peerId, peers: [{ id, userInfo: { username } }] }.
  assert.equal(bobJoined.roomId, 'room_abc123');
  assert.equal(bobJoined.peerId, bob.id);
  assert.deepEqual(bobJoined.peers, [
    { id: alice.id, userInfo: { userId: 'seed-alice', username: 'alice' } },
  ]);
  assert.deepEqual(await alice.rec.next('peer:joined'), {
    peerId: bob.id,
    userInfo: { userId: 'seed-bob', username: 'bob' },
  });

  // The seed's webrtc:offer example (targetPeerId replaced by a live socket id).
  const offerExample = JSON.parse(
    '{"targetPeerId":"socket_def456","offer":{"type":"offer","sdp":"v=0\\r\\n..."}}',
  );
  assert.equal(offerExample.offer.sdp, 'v=0\r\n...');
  const offerAck = await ack(alice.socket, 'webrtc:offer', { ...offerExample, targetPeerId: bob.id });
  assert.deepEqual(offerAck, { ok: true });
  assert.deepEqual(await bob.rec.next('webrtc:offer'), {
    fromPeerId: alice.id,
    targetPeerId: bob.id,
    offer: { type: 'offer', sdp: 'v=0\r\n...' },
  });

  // webrtc:answer, the seed's "Target peer sends webrtc:answer to caller".
  const answer = { type: 'answer', sdp: 'v=0\r\n...' };
  assert.deepEqual(await ack(bob.socket, 'webrtc:answer', { targetPeerId: alice.id, answer }), {
    ok: true,
  });
  assert.deepEqual(await alice.rec.next('webrtc:answer'), {
    fromPeerId: bob.id,
    targetPeerId: alice.id,
    answer,
  });

  // The seed's webrtc:ice example.
  const iceExample = JSON.parse(
    '{"targetPeerId":"socket_def456","candidate":"candidate:1 1 UDP 2130706431 192.168.1.1 54321 typ host"}',
  );
  assert.equal(iceExample.candidate, SEED_CANDIDATE);
  assert.deepEqual(
    await ack(bob.socket, 'webrtc:ice', { ...iceExample, targetPeerId: alice.id }),
    { ok: true },
  );
  assert.deepEqual(await alice.rec.next('webrtc:ice'), {
    fromPeerId: bob.id,
    targetPeerId: alice.id,
    candidate: SEED_CANDIDATE,
  });

  // Seed edge case "Target peer not found": the seed's own placeholder id.
  const notFound = await ack(alice.socket, 'webrtc:offer', offerExample);
  assert.deepEqual(notFound, errorAck('PEER_NOT_FOUND', MESSAGES.PEER_NOT_FOUND));
  assert.deepEqual(await alice.rec.next('error'), {
    code: 'PEER_NOT_FOUND',
    message: MESSAGES.PEER_NOT_FOUND,
    status: 'error',
    event: 'webrtc:offer',
    targetPeerId: 'socket_def456',
  });

  // Seed use case 2: leave:room → peer:left to the remaining peers.
  assert.deepEqual(await ack(bob.socket, 'leave:room'), { ok: true });
  assert.deepEqual(await bob.rec.next('room:left'), { roomId: 'room_abc123' });
  assert.deepEqual(await alice.rec.next('peer:left'), { peerId: bob.id });
  await Promise.all([alice.rec.none(), bob.rec.none()]);
});

test('seed: join:room for a code that was never created → ROOM_NOT_FOUND ("Room Not Found" edge case)', async () => {
  const c = await connect(target.url);
  const reply = await ack(c.socket, 'join:room', { roomCode: 'NEVER-CREATED-7F3A9C' });
  assert.deepEqual(reply, errorAck('ROOM_NOT_FOUND', MESSAGES.ROOM_NOT_FOUND));
  assert.deepEqual(await c.rec.next('error'), {
    code: 'ROOM_NOT_FOUND',
    message: 'Room not found',
    status: 'error',
    event: 'join:room',
  });
  assert.ok(c.socket.connected);
});
