// PROTOCOL.md §3 (rooms), §4 (ROOM_* errors), §5; WIRE-DETAILS.md payload rules.
// Default configuration only.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  ack,
  closeAll,
  connect,
  createRoom,
  errorAck,
  expectError,
  joinRoom,
  MESSAGES,
  roomCode,
  SEED_CANDIDATE,
  SEED_OFFER,
  setupRoom,
} from '../lib/client.js';
import { URL_MODE, useTarget } from '../lib/target.js';

const target = useTarget();
after(closeAll);

/** Default config: no STUN/TURN. A shared deployment may configure some. */
function expectedIce(joined) {
  assert.ok(Array.isArray(joined.iceServers), 'iceServers is an array');
  return URL_MODE ? joined.iceServers : [];
}

describe('create:room', () => {
  test('with a code: room:created { roomId: room_<lower>, roomCode } as event and ack', async () => {
    const c = await connect(target.url);
    const code = roomCode('MiXeD');
    const reply = await ack(c.socket, 'create:room', { roomCode: code });
    const expected = { roomId: `room_${code.toLowerCase()}`, roomCode: code };
    assert.deepEqual(reply, expected);
    assert.deepEqual(await c.rec.next('room:created'), expected);
    await c.rec.none();
  });

  test('without payload: a fresh 12-character [A-Z0-9] code (not guessable, unlike 6)', async () => {
    const c = await connect(target.url);
    const reply = await ack(c.socket, 'create:room');
    assert.match(reply.roomCode, /^[A-Z0-9]{12}$/);
    assert.deepEqual(reply, { roomId: `room_${reply.roomCode.toLowerCase()}`, roomCode: reply.roomCode });
    assert.deepEqual(await c.rec.next('room:created'), reply);

    const second = await ack(c.socket, 'create:room', {});
    assert.match(second.roomCode, /^[A-Z0-9]{12}$/);
    assert.notEqual(second.roomCode, reply.roomCode);
    assert.deepEqual(await c.rec.next('room:created'), second);

    // The generated room is joinable by its code, in any case.
    const other = await connect(target.url);
    const joined = await joinRoom(other, reply.roomCode.toLowerCase());
    assert.equal(joined.roomCode, reply.roomCode);
  });

  test('without an ack: room:created is still emitted', async () => {
    const c = await connect(target.url);
    const code = roomCode('NoAck');
    c.socket.emit('create:room', { roomCode: code });
    assert.deepEqual(await c.rec.next('room:created'), {
      roomId: `room_${code.toLowerCase()}`,
      roomCode: code,
    });
  });

  test('creating a room does not join it', async () => {
    const c = await connect(target.url);
    const code = roomCode();
    await createRoom(c, { roomCode: code });
    await expectError(c, 'webrtc:offer', { targetPeerId: 'nobody', offer: SEED_OFFER }, 'NOT_IN_ROOM');
    const other = await connect(target.url);
    const joined = await joinRoom(other, code);
    assert.deepEqual(joined.peers, []);
    await c.rec.none();
  });

  test('ROOM_EXISTS for a code in use, in any case; the room keeps its first code', async () => {
    const a = await connect(target.url);
    const b = await connect(target.url);
    const code = roomCode('Taken');
    await createRoom(a, { roomCode: code });
    await expectError(b, 'create:room', { roomCode: code }, 'ROOM_EXISTS');
    await expectError(b, 'create:room', { roomCode: code.toLowerCase() }, 'ROOM_EXISTS');
    await expectError(a, 'create:room', { roomCode: code.toUpperCase(), maxPeers: 3 }, 'ROOM_EXISTS');
    const joined = await joinRoom(b, code.toLowerCase());
    assert.equal(joined.roomCode, code);
    await a.rec.none();
  });

  test('unknown fields in create:room and join:room are ignored', async () => {
    const c = await connect(target.url);
    const code = roomCode('Extra');
    const created = await createRoom(c, { roomCode: code, topic: 'standup', private: true });
    assert.deepEqual(created, { roomId: `room_${code.toLowerCase()}`, roomCode: code });
    const joined = await joinRoom(c, code);
    assert.equal(joined.roomCode, code);
    const other = await connect(target.url);
    const again = await ack(other.socket, 'join:room', { roomCode: code, password: 'x', peerId: 'spoof' });
    assert.equal(again.peerId, other.id);
    assert.deepEqual(again.peers, [{ id: c.id, userInfo: c.user }]);
  });

  test('codes of 1 and 64 characters of [A-Za-z0-9_-] are valid', async () => {
    const c = await connect(target.url);
    const long = `${roomCode('L')}_${'x'.repeat(64)}`.slice(0, 64);
    assert.equal(long.length, 64);
    const reply = await createRoom(c, { roomCode: long });
    assert.deepEqual(reply, { roomId: `room_${long.toLowerCase()}`, roomCode: long });
    const single = URL_MODE ? undefined : 'Q';
    if (single) {
      assert.deepEqual(await createRoom(c, { roomCode: single }), { roomId: 'room_q', roomCode: 'Q' });
    }
  });
});

describe('join:room', () => {
  test('first joiner: room:joined { roomId, roomCode, peerId: socket.id, peers: [], iceServers } as event and ack', async () => {
    const c = await connect(target.url);
    const code = roomCode('First');
    await createRoom(c, { roomCode: code });
    const reply = await ack(c.socket, 'join:room', { roomCode: code });
    assert.deepEqual(reply, {
      roomId: `room_${code.toLowerCase()}`,
      roomCode: code,
      peerId: c.socket.id,
      peers: [],
      iceServers: expectedIce(reply),
    });
    assert.deepEqual(await c.rec.next('room:joined'), reply);
    await c.rec.none();
  });

  test('later joiners: peers in join order with userInfo; peer:joined to every other peer, never the joiner', async () => {
    const [a, b, c, outsider] = await Promise.all([
      connect(target.url),
      connect(target.url),
      connect(target.url),
      connect(target.url),
    ]);
    const code = roomCode('Order');
    await createRoom(a, { roomCode: code });
    await joinRoom(a, code);

    const bJoined = await joinRoom(b, code);
    assert.deepEqual(bJoined, {
      roomId: `room_${code.toLowerCase()}`,
      roomCode: code,
      peerId: b.id,
      peers: [{ id: a.id, userInfo: a.user }],
      iceServers: expectedIce(bJoined),
    });
    assert.deepEqual(await a.rec.next('peer:joined'), { peerId: b.id, userInfo: b.user });

    const cJoined = await joinRoom(c, code);
    assert.deepEqual(cJoined.peers, [
      { id: a.id, userInfo: a.user },
      { id: b.id, userInfo: b.user },
    ]);
    assert.equal(cJoined.peerId, c.id);
    assert.deepEqual(await a.rec.next('peer:joined'), { peerId: c.id, userInfo: c.user });
    assert.deepEqual(await b.rec.next('peer:joined'), { peerId: c.id, userInfo: c.user });

    await Promise.all([a.rec.none(), b.rec.none(), c.rec.none(), outsider.rec.none()]);
  });

  test('without an ack: room:joined is still emitted', async () => {
    const c = await connect(target.url);
    const code = roomCode();
    await createRoom(c, { roomCode: code });
    c.socket.emit('join:room', { roomCode: code });
    const joined = await c.rec.next('room:joined');
    assert.equal(joined.peerId, c.id);
  });

  test('codes are case-insensitive; roomCode stays as created', async () => {
    const a = await connect(target.url);
    const b = await connect(target.url);
    const code = `CaseTest-${roomCode('')}`.slice(0, 40);
    await createRoom(a, { roomCode: code });
    const ja = await joinRoom(a, code.toUpperCase());
    const jb = await joinRoom(b, code.toLowerCase());
    for (const j of [ja, jb]) {
      assert.equal(j.roomId, `room_${code.toLowerCase()}`);
      assert.equal(j.roomCode, code);
    }
    assert.deepEqual(jb.peers, [{ id: a.id, userInfo: a.user }]);
    assert.deepEqual(await a.rec.next('peer:joined'), { peerId: b.id, userInfo: b.user });
  });

  test('ROOM_NOT_FOUND for a code never created; the socket stays usable', async () => {
    const c = await connect(target.url);
    await expectError(c, 'join:room', { roomCode: roomCode('Ghost') }, 'ROOM_NOT_FOUND');
    assert.deepEqual(await ack(c.socket, 'leave:room'), { ok: true });
    await c.rec.none();
  });

  test('rejoining the same room: room:joined again (peers without yourself), nothing to the others', async () => {
    const { clients: [a, b, c], code } = await setupRoom(target.url, 3);
    const again = await joinRoom(b, code.toLowerCase());
    assert.deepEqual(again.peers, [
      { id: a.id, userInfo: a.user },
      { id: c.id, userInfo: c.user },
    ]);
    assert.equal(again.peerId, b.id);
    await Promise.all([a.rec.none(), b.rec.none(), c.rec.none()]);
  });

  test('joining another room: peer:left to the old room, room:left then room:joined to the mover, peer:joined to the new room', async () => {
    const r1 = await setupRoom(target.url, 3);
    const r2 = await setupRoom(target.url, 1);
    const [a, mover, c] = r1.clients;
    const [d] = r2.clients;

    const joined = await ack(mover.socket, 'join:room', { roomCode: r2.code });
    assert.deepEqual(joined, {
      roomId: r2.roomId,
      roomCode: r2.code,
      peerId: mover.id,
      peers: [{ id: d.id, userInfo: d.user }],
      iceServers: expectedIce(joined),
    });
    assert.deepEqual(await mover.rec.next('room:left'), { roomId: r1.roomId });
    assert.deepEqual(await mover.rec.next('room:joined'), joined);
    const order = mover.rec.log.map((e) => e.event).filter((e) => e.startsWith('room:'));
    assert.deepEqual(order.slice(-2), ['room:left', 'room:joined'], 'room:left before room:joined');

    assert.deepEqual(await a.rec.next('peer:left'), { peerId: mover.id });
    assert.deepEqual(await c.rec.next('peer:left'), { peerId: mover.id });
    assert.deepEqual(await d.rec.next('peer:joined'), { peerId: mover.id, userInfo: mover.user });
    await Promise.all([a.rec.none(), mover.rec.none(), c.rec.none(), d.rec.none()]);

    // The old room no longer lists the mover; the new one does.
    const late1 = await connect(target.url);
    assert.deepEqual((await joinRoom(late1, r1.code)).peers.map((p) => p.id), [a.id, c.id]);
    const late2 = await connect(target.url);
    assert.deepEqual((await joinRoom(late2, r2.code)).peers.map((p) => p.id), [d.id, mover.id]);
  });
});

describe('leaving', () => {
  test('leave:room: ack { ok: true }, room:left { roomId } to the sender, peer:left to the remaining peers', async () => {
    const { clients: [a, b, c], roomId } = await setupRoom(target.url, 3);
    assert.deepEqual(await ack(b.socket, 'leave:room'), { ok: true });
    assert.deepEqual(await b.rec.next('room:left'), { roomId });
    assert.deepEqual(await a.rec.next('peer:left'), { peerId: b.id });
    assert.deepEqual(await c.rec.next('peer:left'), { peerId: b.id });
    await Promise.all([a.rec.none(), b.rec.none(), c.rec.none()]);

    // Gone from the room: relays to it fail, and relays from it too.
    await expectError(a, 'webrtc:offer', { targetPeerId: b.id, offer: SEED_OFFER }, 'PEER_NOT_FOUND', {
      targetPeerId: b.id,
    });
    await expectError(b, 'webrtc:offer', { targetPeerId: a.id, offer: SEED_OFFER }, 'NOT_IN_ROOM');
  });

  test('leave:room ignores any payload', async () => {
    const { clients: [a, b], roomId } = await setupRoom(target.url, 2);
    assert.deepEqual(await ack(b.socket, 'leave:room', { roomCode: 'whatever', x: 1 }), { ok: true });
    assert.deepEqual(await b.rec.next('room:left'), { roomId });
    assert.deepEqual(await a.rec.next('peer:left'), { peerId: b.id });
  });

  test('leave:room outside a room: ack { ok: true }, no event to anyone', async () => {
    const { clients: [a] } = await setupRoom(target.url, 1);
    const c = await connect(target.url);
    assert.deepEqual(await ack(c.socket, 'leave:room'), { ok: true });
    c.socket.emit('leave:room');
    await Promise.all([a.rec.none(), c.rec.none()]);
  });

  test('disconnect: peer:left to every remaining peer', async () => {
    const { clients: [a, b, c] } = await setupRoom(target.url, 3);
    const leaverId = b.id;
    b.socket.close();
    assert.deepEqual(await a.rec.next('peer:left'), { peerId: leaverId });
    assert.deepEqual(await c.rec.next('peer:left'), { peerId: leaverId });
    await Promise.all([a.rec.none(), c.rec.none()]);
  });

  test('a room outlives its members leaving (ROOM_TTL default 10 minutes)', async () => {
    const { clients: [a], code } = await setupRoom(target.url, 1);
    await ack(a.socket, 'leave:room');
    const b = await connect(target.url);
    const joined = await joinRoom(b, code);
    assert.deepEqual(joined.peers, []);
  });
});

describe('room size', () => {
  test('ROOM_FULL once maxPeers members are in (no sfuUrl without SFU_URL); a freed seat can be taken', async () => {
    const { clients: [a, b], code } = await setupRoom(target.url, 2, { create: { maxPeers: 2 } });
    const c = await connect(target.url);
    await expectError(c, 'join:room', { roomCode: code }, 'ROOM_FULL');
    await Promise.all([a.rec.none(), b.rec.none(), c.rec.none()]);

    await ack(b.socket, 'leave:room');
    const joined = await joinRoom(c, code);
    assert.deepEqual(joined.peers, [{ id: a.id, userInfo: a.user }]);
  });

  test('maxPeers above MAX_ROOM_SIZE (default 10) is capped: the 11th joiner gets ROOM_FULL', async () => {
    const { clients, code } = await setupRoom(target.url, 10, { create: { maxPeers: 500 } });
    assert.equal(clients.length, 10);
    const eleventh = await connect(target.url);
    await expectError(eleventh, 'join:room', { roomCode: code }, 'ROOM_FULL');
    await Promise.all(clients.map((c) => c.rec.none(undefined, 100)));
  });

  test('without maxPeers the limit is MAX_ROOM_SIZE (default 10)', async () => {
    const { code } = await setupRoom(target.url, 10);
    const eleventh = await connect(target.url);
    await expectError(eleventh, 'join:room', { roomCode: code }, 'ROOM_FULL');
  });

  test('rejoining a full room you are in is a rejoin, not ROOM_FULL', async () => {
    const { clients: [a, b], code } = await setupRoom(target.url, 2, { create: { maxPeers: 2 } });
    const again = await joinRoom(b, code);
    assert.deepEqual(again.peers, [{ id: a.id, userInfo: a.user }]);
    await Promise.all([a.rec.none(), b.rec.none()]);
  });

  test('a failed join (ROOM_FULL, ROOM_NOT_FOUND, INVALID_PAYLOAD) leaves the socket in its room, and nobody hears of it', async () => {
    const full = await setupRoom(target.url, 1, { create: { maxPeers: 1 } });
    const { clients: [a, b], roomId } = await setupRoom(target.url, 2);
    await expectError(b, 'join:room', { roomCode: full.code }, 'ROOM_FULL');
    await expectError(b, 'join:room', { roomCode: roomCode('Nowhere') }, 'ROOM_NOT_FOUND');
    await expectError(b, 'join:room', { roomCode: 'bad code' }, 'INVALID_PAYLOAD');
    await Promise.all([a.rec.none(), b.rec.none(), full.clients[0].rec.none()]);
    assert.deepEqual(await ack(b.socket, 'webrtc:ice', { targetPeerId: a.id, candidate: SEED_CANDIDATE }), { ok: true });
    assert.deepEqual(await a.rec.next('webrtc:ice'), { fromPeerId: b.id, targetPeerId: a.id, candidate: SEED_CANDIDATE });
    assert.deepEqual(await ack(b.socket, 'leave:room'), { ok: true });
    assert.deepEqual(await b.rec.next('room:left'), { roomId });
  });

  test('maxPeers 1: a one-seat room', async () => {
    const { code } = await setupRoom(target.url, 1, { create: { maxPeers: 1 } });
    const b = await connect(target.url);
    const reply = await ack(b.socket, 'join:room', { roomCode: code });
    assert.deepEqual(reply, errorAck('ROOM_FULL', MESSAGES.ROOM_FULL));
  });
});
