// PROTOCOL.md §3: a whole message over MAX_PAYLOAD closes the connection, as Socket.IO does.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ack, closeAll, connect, disconnected, setupRoom } from '../lib/client.js';
import { SKIP_SETTINGS, useTarget } from '../lib/target.js';

after(closeAll);

describe('MAX_PAYLOAD=10000', { skip: SKIP_SETTINGS }, () => {
  const target = useTarget({ MAX_PAYLOAD: '10000' });

  for (const transport of ['websocket', 'polling']) {
    test(`${transport}: an 8,000-byte offer passes; a 20,000-byte one closes the sender's connection; the target gets nothing`, async () => {
      const { clients: [a, b, c] } = await setupRoom(target.url, 3, { connectOpts: { transport } });
      const small = { type: 'offer', sdp: 'v=0\r\n' + 'a'.repeat(8000) };
      assert.deepEqual(await ack(a.socket, 'webrtc:offer', { targetPeerId: b.id, offer: small }), { ok: true });
      assert.deepEqual((await b.rec.next('webrtc:offer')).offer, small);

      const closed = disconnected(a.socket);
      const big = { type: 'offer', sdp: 'v=0\r\n' + 'a'.repeat(20_000) };
      a.socket.emit('webrtc:offer', { targetPeerId: b.id, offer: big });
      const reason = await closed;
      assert.match(reason, /^transport (close|error)$/, `disconnect reason ${reason}`);
      assert.equal(a.socket.connected, false);

      // The others see the sender leave, not the message; they stay connected.
      assert.deepEqual(await b.rec.next('peer:left'), { peerId: a.id });
      assert.deepEqual(await c.rec.next('peer:left'), { peerId: a.id });
      await Promise.all([b.rec.none(), c.rec.none()]);
      assert.ok(b.socket.connected && c.socket.connected);
    });
  }
});

describe('default MAX_PAYLOAD (1 MB)', () => {
  const target = useTarget();

  test('a 200 KB message (over the SDP limit, under 1 MB) is INVALID_PAYLOAD, not a disconnect', async () => {
    const { clients: [a, b] } = await setupRoom(target.url, 2);
    const reply = await ack(a.socket, 'webrtc:offer', { targetPeerId: b.id, offer: { type: 'offer', sdp: 'a'.repeat(200_000) } });
    assert.equal(reply.error.code, 'INVALID_PAYLOAD');
    assert.ok(a.socket.connected);
  });

  test('a 1.1 MB message closes the connection', async () => {
    const { clients: [a, b] } = await setupRoom(target.url, 2);
    const closed = disconnected(a.socket);
    a.socket.emit('webrtc:offer', { targetPeerId: b.id, offer: { type: 'offer', sdp: 'a'.repeat(1_100_000) } });
    assert.match(await closed, /^transport (close|error)$/);
    assert.deepEqual(await b.rec.next('peer:left'), { peerId: a.id });
  });
});
