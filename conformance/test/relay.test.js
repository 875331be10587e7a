// PROTOCOL.md §3 relays, §4 PEER_NOT_FOUND / NOT_IN_ROOM; WIRE-DETAILS.md order of checks.

import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import {
  ack,
  closeAll,
  connect,
  expectError,
  SEED_CANDIDATE,
  SEED_OFFER,
  setupRoom,
  withTimeout,
} from '../lib/client.js';
import { useTarget } from '../lib/target.js';

const target = useTarget();
after(closeAll);

const RELAYS = {
  'webrtc:offer': { field: 'offer', value: { type: 'offer', sdp: 'v=0\r\no=- 46117317 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' } },
  'webrtc:answer': { field: 'answer', value: { type: 'answer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n' } },
  'webrtc:ice': { field: 'candidate', value: SEED_CANDIDATE },
};

describe('relay to exactly the target', () => {
  for (const [event, { field, value }] of Object.entries(RELAYS)) {
    test(`${event}: target gets { fromPeerId, targetPeerId, ${field} }, sender acked { ok: true }, nobody else gets anything`, async () => {
      const { clients: [a, b, c] } = await setupRoom(target.url, 3);
      const other = await setupRoom(target.url, 2);
      const reply = await ack(a.socket, event, { targetPeerId: b.id, [field]: value });
      assert.deepEqual(reply, { ok: true });
      assert.deepEqual(await b.rec.next(event), { fromPeerId: a.id, targetPeerId: b.id, [field]: value });
      await Promise.all([
        a.rec.none(),
        b.rec.none(),
        c.rec.none(),
        ...other.clients.map((o) => o.rec.none()),
      ]);
    });

    test(`${event} without an ack is relayed too`, async () => {
      const { clients: [a, b] } = await setupRoom(target.url, 2);
      a.socket.emit(event, { targetPeerId: b.id, [field]: value });
      assert.deepEqual(await b.rec.next(event), { fromPeerId: a.id, targetPeerId: b.id, [field]: value });
      await a.rec.none();
    });
  }

  const candidates = {
    'an RTCIceCandidateInit object': {
      candidate: 'candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 0.0.0.0 rport 0 generation 0 ufrag sXyZ network-cost 999',
      sdpMid: '0',
      sdpMLineIndex: 0,
      usernameFragment: 'sXyZ',
    },
    'end-of-candidates (empty candidate string)': { candidate: '', sdpMid: '0', sdpMLineIndex: 0 },
    'null sdpMid / sdpMLineIndex / usernameFragment': {
      candidate: SEED_CANDIDATE,
      sdpMid: null,
      sdpMLineIndex: null,
      usernameFragment: null,
    },
    'only the candidate field': { candidate: SEED_CANDIDATE },
    'the empty string': '',
  };
  for (const [name, candidate] of Object.entries(candidates)) {
    test(`webrtc:ice forwards ${name} exactly as received`, async () => {
      const { clients: [a, b] } = await setupRoom(target.url, 2);
      assert.deepEqual(await ack(a.socket, 'webrtc:ice', { targetPeerId: b.id, candidate }), { ok: true });
      assert.deepEqual(await b.rec.next('webrtc:ice'), { fromPeerId: a.id, targetPeerId: b.id, candidate });
    });
  }

  test('fromPeerId is always the real sender: a spoofed fromPeerId (or any extra top-level field) is not relayed', async () => {
    const { clients: [a, b, c] } = await setupRoom(target.url, 3);
    for (const [event, field, value] of [
      ['webrtc:offer', 'offer', SEED_OFFER],
      ['webrtc:answer', 'answer', { type: 'answer', sdp: 'v=0\r\n...' }],
      ['webrtc:ice', 'candidate', SEED_CANDIDATE],
    ]) {
      const reply = await ack(a.socket, event, {
        targetPeerId: b.id,
        [field]: value,
        fromPeerId: c.id,
        roomId: 'room_elsewhere',
        extra: { admin: true },
      });
      assert.deepEqual(reply, { ok: true });
      assert.deepEqual(await b.rec.next(event), { fromPeerId: a.id, targetPeerId: b.id, [field]: value });
    }
    await Promise.all([a.rec.none(), c.rec.none()]);
  });

  test('offer/answer/candidate values are forwarded exactly, unknown keys inside them included', async () => {
    const { clients: [a, b] } = await setupRoom(target.url, 2);
    const offer = { type: 'offer', sdp: 'v=0\r\n...', vendorHint: { simulcast: [1, 2, 3] } };
    await ack(a.socket, 'webrtc:offer', { targetPeerId: b.id, offer });
    assert.deepEqual((await b.rec.next('webrtc:offer')).offer, offer);
    const candidate = { candidate: SEED_CANDIDATE, sdpMid: 'audio', sdpMLineIndex: 1, usernameFragment: null, foo: 'bar' };
    await ack(a.socket, 'webrtc:ice', { targetPeerId: b.id, candidate });
    assert.deepEqual((await b.rec.next('webrtc:ice')).candidate, candidate);
  });

  test('SDP content is not checked: any string type/sdp is forwarded, unicode included', async () => {
    const { clients: [a, b] } = await setupRoom(target.url, 2);
    const offer = { type: 'pranswer', sdp: 'not really sdp – ünïcødé ✓ 🎥\n\u0000end' };
    assert.deepEqual(await ack(a.socket, 'webrtc:offer', { targetPeerId: b.id, offer }), { ok: true });
    assert.deepEqual(await b.rec.next('webrtc:offer'), { fromPeerId: a.id, targetPeerId: b.id, offer });
  });

  test('a full offer/answer/ICE exchange both ways', async () => {
    const { clients: [a, b] } = await setupRoom(target.url, 2);
    await ack(a.socket, 'webrtc:offer', { targetPeerId: b.id, offer: SEED_OFFER });
    const offer = await b.rec.next('webrtc:offer');
    assert.equal(offer.fromPeerId, a.id);
    await ack(b.socket, 'webrtc:answer', { targetPeerId: offer.fromPeerId, answer: { type: 'answer', sdp: 'v=0\r\n...' } });
    assert.deepEqual(await a.rec.next('webrtc:answer'), {
      fromPeerId: b.id,
      targetPeerId: a.id,
      answer: { type: 'answer', sdp: 'v=0\r\n...' },
    });
    await ack(a.socket, 'webrtc:ice', { targetPeerId: b.id, candidate: SEED_CANDIDATE });
    await ack(b.socket, 'webrtc:ice', { targetPeerId: a.id, candidate: SEED_CANDIDATE });
    assert.equal((await b.rec.next('webrtc:ice')).fromPeerId, a.id);
    assert.equal((await a.rec.next('webrtc:ice')).fromPeerId, b.id);
    await Promise.all([a.rec.none(), b.rec.none()]);
  });
});

describe('PEER_NOT_FOUND (carries targetPeerId) and NOT_IN_ROOM', () => {
  for (const [event, { field, value }] of Object.entries(RELAYS)) {
    test(`${event}: unknown target`, async () => {
      const { clients: [a, b] } = await setupRoom(target.url, 2);
      await expectError(a, event, { targetPeerId: 'no-such-socket', [field]: value }, 'PEER_NOT_FOUND', {
        targetPeerId: 'no-such-socket',
      });
      await b.rec.none();
    });

    test(`${event}: target connected but in another room (which gets nothing)`, async () => {
      const { clients: [a, b] } = await setupRoom(target.url, 2);
      const { clients: [x, y] } = await setupRoom(target.url, 2);
      await expectError(a, event, { targetPeerId: x.id, [field]: value }, 'PEER_NOT_FOUND', {
        targetPeerId: x.id,
      });
      await Promise.all([b.rec.none(), x.rec.none(), y.rec.none()]);
    });

    test(`${event}: target connected but in no room`, async () => {
      const { clients: [a] } = await setupRoom(target.url, 1);
      const loner = await connect(target.url);
      await expectError(a, event, { targetPeerId: loner.id, [field]: value }, 'PEER_NOT_FOUND', {
        targetPeerId: loner.id,
      });
      await loner.rec.none();
    });

    test(`${event}: the sender itself`, async () => {
      const { clients: [a, b] } = await setupRoom(target.url, 2);
      await expectError(a, event, { targetPeerId: a.id, [field]: value }, 'PEER_NOT_FOUND', {
        targetPeerId: a.id,
      });
      await Promise.all([a.rec.none(), b.rec.none()]);
    });

    test(`${event}: sender in no room → NOT_IN_ROOM (checked before the target)`, async () => {
      const { clients: [a, b] } = await setupRoom(target.url, 2);
      const loner = await connect(target.url);
      await expectError(loner, event, { targetPeerId: a.id, [field]: value }, 'NOT_IN_ROOM');
      await expectError(loner, event, { targetPeerId: 'no-such-socket', [field]: value }, 'NOT_IN_ROOM');
      await Promise.all([a.rec.none(), b.rec.none(), loner.rec.none()]);
    });
  }

  test('a target that disconnected is not found', async () => {
    const { clients: [a, b] } = await setupRoom(target.url, 2);
    const goneId = b.id;
    b.socket.close();
    assert.deepEqual(await a.rec.next('peer:left'), { peerId: goneId });
    await expectError(a, 'webrtc:ice', { targetPeerId: goneId, candidate: SEED_CANDIDATE }, 'PEER_NOT_FOUND', {
      targetPeerId: goneId,
    });
  });

  test('errors go to the sender alone; the socket keeps working afterwards', async () => {
    const { clients: [a, b, c] } = await setupRoom(target.url, 3);
    await expectError(a, 'webrtc:offer', { targetPeerId: 'nope', offer: SEED_OFFER }, 'PEER_NOT_FOUND', {
      targetPeerId: 'nope',
    });
    await Promise.all([b.rec.none(), c.rec.none()]);
    assert.deepEqual(await ack(a.socket, 'webrtc:offer', { targetPeerId: c.id, offer: SEED_OFFER }), { ok: true });
    assert.deepEqual(await c.rec.next('webrtc:offer'), { fromPeerId: a.id, targetPeerId: c.id, offer: SEED_OFFER });
  });
});

describe('ordering', () => {
  test('1,000 webrtc:ice messages from one sender to one target arrive in order', async () => {
    const { clients: [a, b] } = await setupRoom(target.url, 2);
    // Let the sender's token bucket refill after the join (default burst 1,000).
    await new Promise((r) => setTimeout(r, 500));
    const N = 1000;
    const received = [];
    const done = new Promise((resolve) => {
      b.socket.on('webrtc:ice', (p) => {
        received.push(p);
        if (received.length === N) resolve();
      });
    });
    for (let i = 0; i < N; i++) {
      a.socket.emit('webrtc:ice', {
        targetPeerId: b.id,
        candidate: { candidate: `candidate:${i} 1 UDP 2130706431 192.168.1.1 ${10000 + i} typ host`, sdpMid: '0', sdpMLineIndex: 0 },
      });
    }
    await withTimeout(done, 20_000, () => `only ${received.length} of ${N} arrived`);
    const expected = Array.from({ length: N }, (_, i) => ({
      fromPeerId: a.id,
      targetPeerId: b.id,
      candidate: { candidate: `candidate:${i} 1 UDP 2130706431 192.168.1.1 ${10000 + i} typ host`, sdpMid: '0', sdpMLineIndex: 0 },
    }));
    assert.deepEqual(received, expected);
    assert.deepEqual(a.rec.take('error'), [], 'no error for the sender');
  });

  test('interleaved offer, answer and ICE from one sender keep their order', async () => {
    const { clients: [a, b] } = await setupRoom(target.url, 2);
    const seq = [];
    for (const ev of ['webrtc:offer', 'webrtc:answer', 'webrtc:ice']) b.socket.on(ev, (p) => seq.push([ev, p]));
    const sent = [];
    for (let i = 0; i < 30; i++) {
      const [ev, field, value] =
        i % 3 === 0
          ? ['webrtc:offer', 'offer', { type: 'offer', sdp: `v=0 #${i}` }]
          : i % 3 === 1
            ? ['webrtc:answer', 'answer', { type: 'answer', sdp: `v=0 #${i}` }]
            : ['webrtc:ice', 'candidate', `candidate:${i} 1 UDP 1 10.0.0.1 ${i} typ host`];
      a.socket.emit(ev, { targetPeerId: b.id, [field]: value });
      sent.push([ev, { fromPeerId: a.id, targetPeerId: b.id, [field]: value }]);
    }
    await ack(a.socket, 'ping');
    const deadline = Date.now() + 5000;
    while (seq.length < sent.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seq, sent);
  });
});
