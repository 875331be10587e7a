// PROTOCOL.md §3: media:state / media:state_changed, ping / pong.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ack, closeAll, connect, setupRoom } from '../lib/client.js';
import { useTarget } from '../lib/target.js';

const target = useTarget();
after(closeAll);

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe('media:state', () => {
  test('in a room: media:state_changed { peerId, isVideoEnabled, isAudioEnabled } to the other peers, not the sender; ack { ok: true }', async () => {
    const { clients: [a, b, c] } = await setupRoom(target.url, 3);
    const other = await setupRoom(target.url, 1);
    for (const [isVideoEnabled, isAudioEnabled] of [[false, true], [true, false], [false, false], [true, true]]) {
      assert.deepEqual(await ack(a.socket, 'media:state', { isVideoEnabled, isAudioEnabled }), { ok: true });
      const expected = { peerId: a.id, isVideoEnabled, isAudioEnabled };
      assert.deepEqual(await b.rec.next('media:state_changed'), expected);
      assert.deepEqual(await c.rec.next('media:state_changed'), expected);
    }
    await Promise.all([a.rec.none(), b.rec.none(), c.rec.none(), other.clients[0].rec.none()]);
  });

  test('peerId is always the real sender: a spoofed peerId (or any extra field) is not broadcast', async () => {
    const { clients: [a, b, c] } = await setupRoom(target.url, 3);
    await ack(a.socket, 'media:state', { isVideoEnabled: true, isAudioEnabled: false, peerId: c.id, note: 'x' });
    const expected = { peerId: a.id, isVideoEnabled: true, isAudioEnabled: false };
    assert.deepEqual(await b.rec.next('media:state_changed'), expected);
    assert.deepEqual(await c.rec.next('media:state_changed'), expected);
  });

  test('without an ack it is broadcast too', async () => {
    const { clients: [a, b] } = await setupRoom(target.url, 2);
    b.socket.emit('media:state', { isVideoEnabled: true, isAudioEnabled: false });
    assert.deepEqual(await a.rec.next('media:state_changed'), {
      peerId: b.id,
      isVideoEnabled: true,
      isAudioEnabled: false,
    });
  });

  test('outside a room: quietly ignored, acked { ok: true }, no event to anyone', async () => {
    const { clients: [a] } = await setupRoom(target.url, 1);
    const loner = await connect(target.url);
    assert.deepEqual(await ack(loner.socket, 'media:state', { isVideoEnabled: true, isAudioEnabled: true }), {
      ok: true,
    });
    await Promise.all([a.rec.none(), loner.rec.none()]);
  });

  test('after leave:room nobody hears it any more', async () => {
    const { clients: [a, b], roomId } = await setupRoom(target.url, 2);
    await ack(a.socket, 'leave:room');
    assert.deepEqual(await a.rec.next('room:left'), { roomId });
    assert.deepEqual(await b.rec.next('peer:left'), { peerId: a.id });
    assert.deepEqual(await ack(a.socket, 'media:state', { isVideoEnabled: false, isAudioEnabled: false }), {
      ok: true,
    });
    await Promise.all([a.rec.none(), b.rec.none()]);
  });
});

describe('ping / pong', () => {
  test('ping with an ack: pong { timestamp } (ISO 8601, toISOString form, now) as event and ack', async () => {
    const c = await connect(target.url);
    const before = Date.now();
    const reply = await ack(c.socket, 'ping');
    const afterMs = Date.now();
    assert.deepEqual(Object.keys(reply), ['timestamp']);
    assert.match(reply.timestamp, ISO);
    const t = Date.parse(reply.timestamp);
    assert.ok(t >= before - 2000 && t <= afterMs + 2000, `timestamp ${reply.timestamp} is now`);
    assert.deepEqual(await c.rec.next('pong'), reply);
    await c.rec.none();
  });

  test('ping without an ack: pong event', async () => {
    const c = await connect(target.url);
    c.socket.emit('ping');
    const pong = await c.rec.next('pong');
    assert.deepEqual(Object.keys(pong), ['timestamp']);
    assert.match(pong.timestamp, ISO);
  });

  test('ping ignores any payload; works in and out of rooms; only the sender gets pong', async () => {
    const { clients: [a, b] } = await setupRoom(target.url, 2);
    const reply = await ack(a.socket, 'ping', { anything: [1, 2, 3] });
    assert.match(reply.timestamp, ISO);
    assert.deepEqual(await a.rec.next('pong'), reply);
    await b.rec.none();
    const loner = await connect(target.url);
    assert.match((await ack(loner.socket, 'ping', 'hello')).timestamp, ISO);
  });

  test('timestamps advance', async () => {
    const c = await connect(target.url);
    const first = await ack(c.socket, 'ping');
    await new Promise((r) => setTimeout(r, 20));
    const second = await ack(c.socket, 'ping');
    assert.ok(Date.parse(second.timestamp) >= Date.parse(first.timestamp));
  });
});
