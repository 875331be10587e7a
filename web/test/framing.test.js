// The page's own wsc-chunked/1 and wsc-app/1 code (src/framing.js,
// src/link.js) against docs/DATA-CHANNELS.md: its worked examples byte for
// byte, the refusal rules, and the transfer rules a browser pair never meets
// (bad offers, too many bytes, aborts), over an in-process channel pair.

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { FrameError, Reassembler, frames } from '../src/framing.js';
import { MAX_FILE, PeerLink, safeName } from '../src/link.js';

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

describe('wsc-chunked/1 (DATA-CHANNELS.md §3, §5)', () => {
  test('the 6-byte file is one whole frame', () => {
    const out = frames(new TextEncoder().encode('hello\n'));
    assert.deepEqual(out.map(hex), ['0068656c6c6f0a']);
  });

  test('the 40,000-byte file is 16,384 + 16,384 + 7,235 bytes of frames, as the worked example shows', () => {
    const data = Uint8Array.from({ length: 40000 }, (_, i) => (7 * i) % 251);
    assert.equal(sha256(data), '78d6e131e7976d55308432e73faac5fe5b3e08265f3a22cc30209d9fa0d0ea1d');
    const out = frames(data);
    assert.deepEqual(out.map((f) => f.length), [16384, 16384, 7235]);
    assert.equal(hex(out[0].subarray(0, 5)), '0100070e15');
    assert.equal(hex(out[1].subarray(0, 5)), '01e1e8eff6');
    assert.equal(hex(out[2].subarray(0, 5)), '02c7ced5dc');
    assert.equal(hex(out[2].subarray(-2)), '7980');
    const r = new Reassembler(1 << 20);
    assert.equal(r.push(out[0]), null);
    assert.equal(r.push(out[1]), null);
    assert.deepEqual(r.push(out[2]), data);
  });

  test('an empty message is one 0x00 frame; 16,383 bytes still one, 16,384 two', () => {
    assert.deepEqual(frames(new Uint8Array(0)).map(hex), ['00']);
    assert.deepEqual(frames(new Uint8Array(16383)).map((f) => [f[0], f.length]), [[0, 16384]]);
    assert.deepEqual(frames(new Uint8Array(16384)).map((f) => [f[0], f.length]), [[1, 16384], [2, 2]]);
  });

  test('refused frames: empty, unknown header, over the limit (then skipped up to the 0x02)', () => {
    const r = new Reassembler(10);
    assert.throws(() => r.push(new Uint8Array(0)), FrameError);
    assert.throws(() => r.push(Uint8Array.of(3, 1)), /unknown frame header 3/);
    // A lone 0x02 is a one-fragment message.
    assert.deepEqual(r.push(Uint8Array.of(2, 9, 9)), Uint8Array.of(9, 9));
    assert.equal(r.push(Uint8Array.of(1, ...new Array(8).fill(1))), null);
    assert.throws(() => r.push(Uint8Array.of(1, 1, 1, 1)), /larger than 10 bytes/);
    // The rest of that message is skipped, its 0x02 included.
    assert.equal(r.push(Uint8Array.of(1, 5)), null);
    assert.equal(r.push(Uint8Array.of(2, 5)), null);
    assert.deepEqual(r.push(Uint8Array.of(2, 7)), Uint8Array.of(7));
    // A 0x00 ends skipping and is delivered.
    r.push(Uint8Array.of(1, 1));
    assert.throws(() => r.push(Uint8Array.of(1, ...new Array(10).fill(1))), FrameError);
    assert.deepEqual(r.push(Uint8Array.of(0, 4)), Uint8Array.of(4));
    // A 0x00 also drops a half-received message.
    r.push(Uint8Array.of(1, 1, 1));
    assert.deepEqual(r.push(Uint8Array.of(0)), new Uint8Array(0));
    assert.deepEqual(r.push(Uint8Array.of(2, 6)), Uint8Array.of(6));
  });
});

/** Two ends of an in-process data channel: messages are copied, delivered in order. */
function channelPair() {
  class End extends EventTarget {
    readyState = 'open';
    bufferedAmount = 0;
    binaryType = 'blob';
    sent = [];
    delivered = 0;
    send(data) {
      if (this.readyState !== 'open') throw new Error('closed');
      const copy = typeof data === 'string' ? data : new Uint8Array(data).slice().buffer;
      this.sent.push(copy);
      setImmediate(() => {
        this.other.delivered += 1;
        this.other.dispatchEvent(Object.assign(new Event('message'), { data: copy }));
      });
    }
    close() {
      for (const end of [this, this.other]) {
        end.readyState = 'closed';
        end.dispatchEvent(new Event('close'));
      }
    }
  }
  const a = new End();
  const b = new End();
  a.other = b;
  b.other = a;
  return [a, b];
}

/** A PeerLink on each end, recording what they report. */
function linkPair() {
  const [ca, cb] = channelPair();
  const record = () => ({ chats: [], transfers: [], problems: [] });
  const seen = { a: record(), b: record() };
  const events = (r) => ({
    chat: (text) => r.chats.push(text),
    transfer: (t) => r.transfers.push({ ...t, parts: undefined }),
    problem: (m) => r.problems.push(m),
  });
  return { a: new PeerLink(ca, events(seen.a)), b: new PeerLink(cb, events(seen.b)), ca, cb, seen };
}

/** Waits until `check()` holds (polling; the machine may be busy), at most 10 s. */
async function until(check, what = String(check)) {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Waits until `link` has handled everything sent to its channel `end`. */
async function handled(end, link) {
  await until(() => end.delivered === end.other.sent.length);
  await link.inbox;
}
const last = (transfers, id) => transfers.filter((t) => t.id === id).at(-1);
const texts = (end) => end.sent.filter((m) => typeof m === 'string').map((m) => JSON.parse(m));

describe('wsc-app/1 (DATA-CHANNELS.md §4)', () => {
  test('a chat line is one text message {"type":"chat","text"}', async () => {
    const { a, b, ca, cb, seen } = linkPair();
    a.sendChat('hi');
    await handled(cb, b);
    assert.deepEqual(ca.sent, ['{"type":"chat","text":"hi"}']);
    assert.deepEqual(seen.b.chats, ['hi']);
  });

  test('a file: offer, pieces of one 0x00 frame each, the receiver\'s ack with its SHA-256', async () => {
    const { a, ca, cb, seen } = linkPair();
    const data = Uint8Array.from({ length: 40000 }, (_, i) => (7 * i) % 251);
    const t = a.sendFile(new File([data], 'dir/data.bin'));
    await until(() => last(seen.a.transfers, t.id)?.status === 'done');
    const [offer] = texts(ca);
    assert.deepEqual(offer, {
      type: 'file',
      id: t.id,
      name: 'data.bin',
      size: 40000,
      sha256: '78d6e131e7976d55308432e73faac5fe5b3e08265f3a22cc30209d9fa0d0ea1d',
    });
    assert.match(t.id, /^[A-Za-z0-9_-]{1,64}$/);
    const binary = ca.sent.filter((m) => typeof m !== 'string').map((m) => new Uint8Array(m));
    assert.deepEqual(binary.map((f) => [f[0], f.length]), [[0, 16384], [0, 16384], [0, 7235]]);
    assert.deepEqual(texts(cb), [{ type: 'file-ack', id: t.id, ok: true, size: 40000, sha256: offer.sha256 }]);
    assert.equal(last(seen.a.transfers, t.id).status, 'done');
    const got = last(seen.b.transfers, t.id);
    assert.equal(got.status, 'done');
    assert.deepEqual(new Uint8Array(await got.blob.arrayBuffer()), data);
  });

  test('an empty file is complete at once', async () => {
    const { a, cb, seen } = linkPair();
    const t = a.sendFile(new File([], 'empty'));
    await until(() => last(seen.a.transfers, t.id)?.status === 'done');
    assert.equal(texts(cb)[0].ok, true);
    assert.equal(last(seen.a.transfers, t.id).status, 'done');
  });

  /** Sends raw wsc-app/1 messages from `ca` and returns what the receiver answered. */
  async function answers(messages) {
    const { b, ca, cb, seen } = linkPair();
    for (const m of messages) {
      if (typeof m === 'string' || !(m instanceof Uint8Array)) ca.send(typeof m === 'string' ? m : JSON.stringify(m));
      else for (const f of frames(m)) ca.send(f);
    }
    await handled(cb, b);
    return { acks: texts(cb), seen: seen.b };
  }

  const offer = (fields = {}) => ({ type: 'file', id: 't1', name: 'x.bin', size: 3, sha256: sha256(Uint8Array.of(1, 2, 3)), ...fields });

  test('bad offers get BAD_OFFER, the id as sent (or empty)', async () => {
    for (const [fields, id] of [
      [{ id: 'has space' }, 'has space'],
      [{ id: 7 }, ''],
      [{ name: '' }, 't1'],
      [{ size: -1 }, 't1'],
      [{ size: 1.5 }, 't1'],
      [{ sha256: 'abc' }, 't1'],
    ]) {
      const { acks } = await answers([offer(fields), Uint8Array.of(1, 2, 3)]);
      assert.equal(acks.length, 1, JSON.stringify(fields));
      assert.equal(acks[0].id, id);
      assert.equal(acks[0].ok, false);
      assert.equal(acks[0].error.code, 'BAD_OFFER');
    }
  });

  test('a file over the page\'s limit gets TOO_LARGE; its data is discarded quietly', async () => {
    const { acks, seen } = await answers([offer({ size: MAX_FILE + 1 }), Uint8Array.of(1, 2, 3)]);
    assert.deepEqual(acks.map((a) => [a.ok, a.error.code]), [[false, 'TOO_LARGE']]);
    assert.deepEqual(seen.problems, []);
  });

  test('more bytes than announced: SIZE_MISMATCH', async () => {
    const { acks } = await answers([offer(), Uint8Array.of(1, 2), Uint8Array.of(3, 4)]);
    assert.deepEqual(acks.map((a) => [a.id, a.ok, a.error.code]), [['t1', false, 'SIZE_MISMATCH']]);
  });

  test('other bytes than announced: CHECKSUM_MISMATCH, with the receiver\'s SHA-256', async () => {
    const { acks } = await answers([offer(), Uint8Array.of(3, 2, 1)]);
    assert.equal(acks[0].error.code, 'CHECKSUM_MISMATCH');
    assert.equal(acks[0].sha256, sha256(Uint8Array.of(3, 2, 1)));
    assert.equal(acks[0].size, 3);
  });

  test('a new offer before the last completed: ABORTED for that one, then the new one', async () => {
    const { acks } = await answers([offer(), Uint8Array.of(1), offer({ id: 't2' }), Uint8Array.of(1, 2, 3)]);
    assert.deepEqual(acks.map((a) => [a.id, a.ok, a.error?.code]), [['t1', false, 'ABORTED'], ['t2', true, undefined]]);
  });

  test('file-abort: the receiver drops the file and does not ack', async () => {
    const { acks, seen } = await answers([offer(), Uint8Array.of(1), { type: 'file-abort', id: 't1', reason: 'cancelled' }]);
    assert.deepEqual(acks, []);
    assert.equal(last(seen.transfers, 't1').error.code, 'ABORTED');
  });

  test('junk is dropped, never answered', async () => {
    const { acks, seen } = await answers(['not json', '[1]', { no: 'type' }, { type: 'mystery' }, Uint8Array.of(9)]);
    assert.deepEqual(acks, []);
    assert.equal(seen.problems.length, 5);
  });

  /** A PeerLink on one end only; the other end is raw, for the test to play. */
  function linkToRaw() {
    const [ca, cb] = channelPair();
    const seen = { transfers: [], problems: [] };
    const link = new PeerLink(ca, {
      chat: () => {},
      transfer: (t) => seen.transfers.push({ ...t }),
      problem: (m) => seen.problems.push(m),
    });
    return { link, ca, cb, seen };
  }

  test('a negative ack stops the sender\'s data', async () => {
    const { link, ca, cb, seen } = linkToRaw();
    const t = link.sendFile(new File([new Uint8Array(100000)], 'big'));
    cb.addEventListener('message', (e) => {
      if (typeof e.data === 'string' && JSON.parse(e.data).type === 'file') {
        cb.send(JSON.stringify({ type: 'file-ack', id: t.id, ok: false, size: 0, error: { code: 'REFUSED', message: 'no' } }));
      }
    });
    // The sender stops at the next piece once the refusal is in.
    ca.bufferedAmount = 2 << 20;
    await until(() => last(seen.transfers, t.id)?.status === 'failed');
    ca.bufferedAmount = 0;
    ca.dispatchEvent(new Event('bufferedamountlow'));
    await link.sendQueue;
    const done = last(seen.transfers, t.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.error.code, 'REFUSED');
    assert.equal(ca.sent.filter((m) => typeof m !== 'string').length, 0);
  });

  test('the peer leaving fails the transfer waiting for its ack', async () => {
    const { link, ca, seen } = linkToRaw();
    const t = link.sendFile(new File([Uint8Array.of(1, 2)], 'small'));
    await until(() => last(seen.transfers, t.id)?.status === 'waiting');
    ca.close();
    const gone = last(seen.transfers, t.id);
    assert.equal(gone.status, 'failed');
    assert.equal(gone.error.code, 'PEER_GONE');
  });

  test('names are never paths', () => {
    assert.equal(safeName('../../etc/passwd'), 'passwd');
    assert.equal(safeName('C:\\Users\\x\\a.txt'), 'a.txt');
    assert.equal(safeName('dir/'), 'file');
    assert.equal(safeName('..'), 'file');
  });
});
