// PROTOCOL.md §4–5 settings: ROOM_TTL, AUTO_CREATE_ROOMS, MAX_ROOM_SIZE, SFU_URL.
// Each describe starts its own target instance.

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
  setupRoom,
  sleep,
} from '../lib/client.js';
import { SKIP_SETTINGS, useTarget } from '../lib/target.js';

after(closeAll);

describe('ROOM_TTL=1 (seconds)', { skip: SKIP_SETTINGS }, () => {
  const target = useTarget({ ROOM_TTL: '1' });

  test('a room never joined expires 1 s after creation: ROOM_NOT_FOUND, and its code can be created again', async () => {
    const c = await connect(target.url);
    const code = roomCode('Ttl');
    await createRoom(c, { roomCode: code });
    await sleep(1300);
    await expectError(c, 'join:room', { roomCode: code }, 'ROOM_NOT_FOUND');
    const again = await createRoom(c, { roomCode: code.toLowerCase() });
    assert.deepEqual(again, { roomId: `room_${code.toLowerCase()}`, roomCode: code.toLowerCase() });
  });

  test('a room empty for less than the TTL still exists', async () => {
    const c = await connect(target.url);
    const code = roomCode('Young');
    await createRoom(c, { roomCode: code });
    await sleep(400);
    const joined = await joinRoom(c, code);
    assert.deepEqual(joined.peers, []);
  });

  test('an occupied room does not expire; it expires TTL after its last member left', async () => {
    const { clients: [a], code } = await setupRoom(target.url, 1);
    await sleep(1500);
    const b = await connect(target.url);
    const joined = await joinRoom(b, code);
    assert.deepEqual(joined.peers, [{ id: a.id, userInfo: a.user }]);
    await a.rec.next('peer:joined');

    await ack(a.socket, 'leave:room');
    await sleep(700);
    // Not empty yet (b is in). Then b goes; 300 ms later the room is still there.
    const c = await connect(target.url);
    b.socket.close();
    await sleep(300);
    assert.deepEqual((await joinRoom(c, code)).peers, []);
    await ack(c.socket, 'leave:room');
    await sleep(1300);
    await expectError(c, 'join:room', { roomCode: code }, 'ROOM_NOT_FOUND');
  });

  test('expiry is exact at join time: 1.3 s after the last member left (disconnect) the room is gone', async () => {
    const { clients: [a], code } = await setupRoom(target.url, 1);
    a.socket.close();
    await sleep(1300);
    const c = await connect(target.url);
    await expectError(c, 'join:room', { roomCode: code }, 'ROOM_NOT_FOUND');
  });
});

describe('ROOM_TTL=1s (suffix form)', { skip: SKIP_SETTINGS }, () => {
  const target = useTarget({ ROOM_TTL: '1s' });

  test('a room expires after 1 s', async () => {
    const c = await connect(target.url);
    const code = roomCode('Suffix');
    await createRoom(c, { roomCode: code });
    await sleep(300);
    await joinRoom(c, code);
    await ack(c.socket, 'leave:room');
    await sleep(1300);
    await expectError(c, 'join:room', { roomCode: code }, 'ROOM_NOT_FOUND');
  });
});

describe('AUTO_CREATE_ROOMS=true, MAX_ROOM_SIZE=3, SFU_URL set', { skip: SKIP_SETTINGS }, () => {
  const SFU = 'wss://sfu.example.test/rtc';
  const target = useTarget({ AUTO_CREATE_ROOMS: 'true', MAX_ROOM_SIZE: '3', SFU_URL: SFU });

  test('join:room for a missing code creates it with the code as given', async () => {
    const a = await connect(target.url);
    const code = roomCode('Auto');
    const joined = await ack(a.socket, 'join:room', { roomCode: code });
    assert.deepEqual(joined, {
      roomId: `room_${code.toLowerCase()}`,
      roomCode: code,
      peerId: a.id,
      peers: [],
      iceServers: [],
    });
    assert.deepEqual(await a.rec.next('room:joined'), joined);

    const b = await connect(target.url);
    const jb = await joinRoom(b, code.toLowerCase());
    assert.equal(jb.roomCode, code);
    assert.deepEqual(jb.peers, [{ id: a.id, userInfo: a.user }]);
    assert.deepEqual(await a.rec.next('peer:joined'), { peerId: b.id, userInfo: b.user });

    // It is a real room: create:room with that code is ROOM_EXISTS.
    await expectError(b, 'create:room', { roomCode: code }, 'ROOM_EXISTS');
  });

  test('an auto-created room holds MAX_ROOM_SIZE peers; the next gets ROOM_FULL with sfuUrl', async () => {
    const code = roomCode('AutoFull');
    const clients = [];
    for (let i = 0; i < 3; i++) {
      const c = await connect(target.url);
      await joinRoom(c, code);
      clients.push(c);
    }
    const fourth = await connect(target.url);
    await expectError(fourth, 'join:room', { roomCode: code }, 'ROOM_FULL', { sfuUrl: SFU });
  });

  test('create:room without maxPeers: MAX_ROOM_SIZE; ROOM_FULL event carries sfuUrl, the ack exactly { error: { code, message } }', async () => {
    const { code, clients } = await setupRoom(target.url, 3);
    const fourth = await connect(target.url);
    const reply = await ack(fourth.socket, 'join:room', { roomCode: code });
    assert.deepEqual(reply, errorAck('ROOM_FULL', MESSAGES.ROOM_FULL));
    assert.deepEqual(await fourth.rec.next('error'), {
      code: 'ROOM_FULL',
      message: 'Room is full',
      status: 'error',
      event: 'join:room',
      sfuUrl: SFU,
    });
    await Promise.all(clients.map((c) => c.rec.none()));
  });

  test('maxPeers above MAX_ROOM_SIZE is capped to it', async () => {
    const { code } = await setupRoom(target.url, 3, { create: { maxPeers: 10 } });
    const fourth = await connect(target.url);
    await expectError(fourth, 'join:room', { roomCode: code }, 'ROOM_FULL', { sfuUrl: SFU });
  });

  test('maxPeers below MAX_ROOM_SIZE is kept', async () => {
    const { code } = await setupRoom(target.url, 2, { create: { maxPeers: 2 } });
    const third = await connect(target.url);
    await expectError(third, 'join:room', { roomCode: code }, 'ROOM_FULL', { sfuUrl: SFU });
  });

  test('other errors carry no sfuUrl', async () => {
    const { clients: [a] } = await setupRoom(target.url, 1);
    await expectError(a, 'webrtc:offer', { targetPeerId: 'x', offer: { type: 'offer', sdp: '' } }, 'PEER_NOT_FOUND', {
      targetPeerId: 'x',
    });
    await expectError(a, 'join:room', { roomCode: '' }, 'INVALID_PAYLOAD');
  });
});
