// WIRE-DETAILS.md "Payload rules": INVALID_PAYLOAD for every wrong shape,
// the SDP (64 KiB) and candidate (4 KiB) limits in UTF-8 bytes, order of checks.

import assert from 'node:assert/strict';
import { after, beforeEach, describe, test } from 'node:test';
import {
  ack,
  closeAll,
  connect,
  expectError,
  roomCode,
  SEED_CANDIDATE,
  SEED_OFFER,
  setupRoom,
} from '../lib/client.js';
import { useTarget } from '../lib/target.js';

const target = useTarget();
after(closeAll);

// One room of two for all shape tests: a and b stay connected throughout.
let a;
let b;
let loner;
let ready;
function fixture() {
  ready ??= (async () => {
    ({ clients: [a, b] } = await setupRoom(target.url, 2));
    loner = await connect(target.url);
  })();
  return ready;
}
beforeEach(fixture);

async function invalid(client, event, payload) {
  await expectError(client, event, payload, 'INVALID_PAYLOAD');
}

describe('create:room', () => {
  const cases = {
    'a string payload': 'ABC123',
    'a number payload': 42,
    'an array payload': [{ roomCode: 'ABC123' }],
    'roomCode a number': { roomCode: 123456 },
    'roomCode empty': { roomCode: '' },
    'roomCode of 65 characters': { roomCode: 'a'.repeat(65) },
    'roomCode with a space': { roomCode: 'abc def' },
    'roomCode with a dot': { roomCode: 'abc.def' },
    'roomCode with a non-ASCII letter': { roomCode: 'café' },
    'maxPeers 0': { maxPeers: 0 },
    'maxPeers negative': { maxPeers: -1 },
    'maxPeers fractional': { maxPeers: 2.5 },
    'maxPeers a string': { maxPeers: '5' },
    'maxPeers a boolean': { maxPeers: true },
  };
  for (const [name, payload] of Object.entries(cases)) {
    test(`${name} → INVALID_PAYLOAD`, () => invalid(loner, 'create:room', payload));
  }

  test('an invalid create:room creates nothing', async () => {
    const code = roomCode();
    await invalid(loner, 'create:room', { roomCode: code, maxPeers: 0 });
    await expectError(loner, 'join:room', { roomCode: code }, 'ROOM_NOT_FOUND');
  });
});

describe('join:room', () => {
  const cases = {
    'no payload': undefined,
    'an empty object': {},
    'a string payload (the bare code)': 'ABC123',
    'a number payload': 7,
    'roomCode a number': { roomCode: 123 },
    'roomCode null': { roomCode: null },
    'roomCode empty': { roomCode: '' },
    'roomCode of 65 characters': { roomCode: 'b'.repeat(65) },
    'roomCode with a slash': { roomCode: 'room/1' },
    'the code in an array': ['ABC123'],
  };
  for (const [name, payload] of Object.entries(cases)) {
    test(`${name} → INVALID_PAYLOAD`, () => invalid(loner, 'join:room', payload));
  }
});

describe('relays', () => {
  const target1 = () => b.id;
  const cases = {
    'webrtc:offer': {
      'no payload': () => undefined,
      'an empty object': () => ({}),
      'a string payload': () => 'v=0',
      'targetPeerId missing': () => ({ offer: SEED_OFFER }),
      'targetPeerId empty': () => ({ targetPeerId: '', offer: SEED_OFFER }),
      'targetPeerId a number': () => ({ targetPeerId: 5, offer: SEED_OFFER }),
      'offer missing': () => ({ targetPeerId: target1() }),
      'offer a string': () => ({ targetPeerId: target1(), offer: 'v=0\r\n...' }),
      'offer null': () => ({ targetPeerId: target1(), offer: null }),
      'offer without sdp': () => ({ targetPeerId: target1(), offer: { type: 'offer' } }),
      'offer without type': () => ({ targetPeerId: target1(), offer: { sdp: 'v=0\r\n...' } }),
      'offer.type a number': () => ({ targetPeerId: target1(), offer: { type: 1, sdp: 'v=0' } }),
      'offer.sdp an array': () => ({ targetPeerId: target1(), offer: { type: 'offer', sdp: ['v=0'] } }),
      'offer under the key answer': () => ({ targetPeerId: target1(), answer: SEED_OFFER }),
      'the fields by position in an array': () => [target1(), SEED_OFFER, null, null],
    },
    'webrtc:answer': {
      'an empty object': () => ({}),
      'answer missing': () => ({ targetPeerId: target1() }),
      'answer a string': () => ({ targetPeerId: target1(), answer: 'v=0' }),
      'answer without sdp': () => ({ targetPeerId: target1(), answer: { type: 'answer' } }),
      'answer.sdp a number': () => ({ targetPeerId: target1(), answer: { type: 'answer', sdp: 0 } }),
      'targetPeerId missing': () => ({ answer: { type: 'answer', sdp: 'v=0' } }),
      'the fields by position in an array': () => [target1(), null, { type: 'answer', sdp: 'v=0' }, null],
    },
    'webrtc:ice': {
      'an empty object': () => ({}),
      'candidate missing': () => ({ targetPeerId: target1() }),
      'candidate null': () => ({ targetPeerId: target1(), candidate: null }),
      'candidate a number': () => ({ targetPeerId: target1(), candidate: 5 }),
      'candidate an array': () => ({ targetPeerId: target1(), candidate: [SEED_CANDIDATE] }),
      'candidate.candidate null': () => ({ targetPeerId: target1(), candidate: { candidate: null, sdpMid: '0' } }),
      'candidate.candidate missing': () => ({ targetPeerId: target1(), candidate: { sdpMid: '0', sdpMLineIndex: 0 } }),
      'sdpMid a number': () => ({ targetPeerId: target1(), candidate: { candidate: SEED_CANDIDATE, sdpMid: 0 } }),
      'sdpMLineIndex fractional': () => ({ targetPeerId: target1(), candidate: { candidate: SEED_CANDIDATE, sdpMLineIndex: 0.5 } }),
      'sdpMLineIndex a string': () => ({ targetPeerId: target1(), candidate: { candidate: SEED_CANDIDATE, sdpMLineIndex: '0' } }),
      'usernameFragment a number': () => ({ targetPeerId: target1(), candidate: { candidate: SEED_CANDIDATE, usernameFragment: 1 } }),
      'targetPeerId empty': () => ({ targetPeerId: '', candidate: SEED_CANDIDATE }),
      'the fields by position in an array': () => [target1(), null, null, SEED_CANDIDATE],
    },
  };
  for (const [event, eventCases] of Object.entries(cases)) {
    for (const [name, payload] of Object.entries(eventCases)) {
      test(`${event}: ${name} → INVALID_PAYLOAD, nothing relayed`, async () => {
        await invalid(a, event, payload());
        await b.rec.none(undefined, 50);
      });
    }
  }
});

describe('size limits (UTF-8 bytes)', () => {
  const sdpOf = (bytes, unit = 'a') => {
    const unitBytes = Buffer.byteLength(unit);
    return 'v=0\r\n' + unit.repeat(Math.floor((bytes - 5) / unitBytes)) + 'a'.repeat((bytes - 5) % unitBytes);
  };

  test('an SDP of exactly 65,536 bytes is relayed', async () => {
    const sdp = sdpOf(65_536);
    assert.equal(Buffer.byteLength(sdp), 65_536);
    const offer = { type: 'offer', sdp };
    assert.deepEqual(await ack(a.socket, 'webrtc:offer', { targetPeerId: b.id, offer }), { ok: true });
    assert.deepEqual(await b.rec.next('webrtc:offer'), { fromPeerId: a.id, targetPeerId: b.id, offer });
  });

  test('an SDP of 65,537 bytes → INVALID_PAYLOAD (offer and answer)', async () => {
    const sdp = sdpOf(65_537);
    await invalid(a, 'webrtc:offer', { targetPeerId: b.id, offer: { type: 'offer', sdp } });
    await invalid(a, 'webrtc:answer', { targetPeerId: b.id, answer: { type: 'answer', sdp } });
    await b.rec.none(undefined, 100);
  });

  test('SDP size counts UTF-8 bytes, not characters (30,000 × "é" = 60,000 bytes ok; 33,000 × "é" = 66,000 bytes too big)', async () => {
    const ok = { type: 'offer', sdp: 'é'.repeat(30_000) };
    assert.deepEqual(await ack(a.socket, 'webrtc:offer', { targetPeerId: b.id, offer: ok }), { ok: true });
    assert.deepEqual((await b.rec.next('webrtc:offer')).offer, ok);
    const big = { type: 'offer', sdp: 'é'.repeat(33_000) };
    assert.equal(big.sdp.length < 65_536, true);
    await invalid(a, 'webrtc:offer', { targetPeerId: b.id, offer: big });
  });

  test('a candidate of exactly 4,096 bytes is relayed (string and object)', async () => {
    const line = 'candidate:' + 'x'.repeat(4_086);
    assert.equal(Buffer.byteLength(line), 4_096);
    assert.deepEqual(await ack(a.socket, 'webrtc:ice', { targetPeerId: b.id, candidate: line }), { ok: true });
    assert.deepEqual((await b.rec.next('webrtc:ice')).candidate, line);
    const obj = { candidate: line, sdpMid: '0', sdpMLineIndex: 0 };
    assert.deepEqual(await ack(a.socket, 'webrtc:ice', { targetPeerId: b.id, candidate: obj }), { ok: true });
    assert.deepEqual((await b.rec.next('webrtc:ice')).candidate, obj);
  });

  test('a candidate of 4,097 bytes → INVALID_PAYLOAD (string, object, multi-byte)', async () => {
    const line = 'candidate:' + 'x'.repeat(4_087);
    await invalid(a, 'webrtc:ice', { targetPeerId: b.id, candidate: line });
    await invalid(a, 'webrtc:ice', { targetPeerId: b.id, candidate: { candidate: line, sdpMid: '0' } });
    const multi = 'ü'.repeat(2_049); // 4,098 bytes, 2,049 characters
    await invalid(a, 'webrtc:ice', { targetPeerId: b.id, candidate: multi });
    await b.rec.none(undefined, 100);
  });
});

describe('media:state', () => {
  const cases = {
    'no payload': undefined,
    'an empty object': {},
    'isAudioEnabled missing': { isVideoEnabled: true },
    'isVideoEnabled missing': { isAudioEnabled: false },
    'a string boolean': { isVideoEnabled: 'true', isAudioEnabled: false },
    'a number boolean': { isVideoEnabled: true, isAudioEnabled: 1 },
    'null values': { isVideoEnabled: null, isAudioEnabled: null },
    'a string payload': 'on',
    'the fields by position in an array': [true, true],
  };
  for (const [name, payload] of Object.entries(cases)) {
    test(`${name} → INVALID_PAYLOAD, nothing sent to the room`, async () => {
      await invalid(a, 'media:state', payload);
      await b.rec.none(undefined, 50);
    });
  }
  test('a bad media:state outside a room is INVALID_PAYLOAD too (shape is checked before room state)', () =>
    invalid(loner, 'media:state', { isVideoEnabled: 'yes' }));
});

describe('order of checks: payload shape, then room state, then target', () => {
  test('malformed relay from a socket in no room → INVALID_PAYLOAD, not NOT_IN_ROOM', async () => {
    await invalid(loner, 'webrtc:offer', { targetPeerId: 'x', offer: 'nope' });
    await invalid(loner, 'webrtc:ice', { targetPeerId: '', candidate: SEED_CANDIDATE });
  });
  test('malformed relay to an unknown target → INVALID_PAYLOAD, not PEER_NOT_FOUND', async () => {
    await invalid(a, 'webrtc:answer', { targetPeerId: 'no-such-peer', answer: { type: 'answer' } });
  });
  test('the error event names the failing event', async () => {
    for (const event of ['create:room', 'join:room', 'webrtc:offer', 'webrtc:answer', 'webrtc:ice', 'media:state']) {
      const reply = await ack(a.socket, event, 12345);
      assert.equal(reply.error.code, 'INVALID_PAYLOAD');
      const err = await a.rec.next('error');
      assert.equal(err.event, event);
      assert.equal(err.status, 'error');
    }
  });
});
