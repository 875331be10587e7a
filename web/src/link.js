// wsc-app/1 (docs/DATA-CHANNELS.md §4) on one peer's data channel: chat
// lines, and files both ways (a `file` offer, the bytes, a `file-ack` with the
// receiver's SHA-256). Text messages are JSON objects with a `type`; binary
// messages are file data, framed by wsc-chunked/1 (framing.js).

import { FrameError, MAX_TEXT, PAYLOAD, Reassembler, frames, utf8Length } from './framing.js';

/** The largest reassembled binary message taken (wsc-app/1 sends ≤ 256 KiB). */
export const MAX_MESSAGE = 1 << 20;
/** The largest text message taken. */
export const MAX_TEXT_IN = 65536;
/** The largest file taken: the page holds it in memory to hash and offer it. */
export const MAX_FILE = 256 * 1024 * 1024;
/** Pause sending above this many queued bytes, resume below the low mark. */
const HIGH_WATER = 1 << 20;
const LOW_WATER = 256 << 10;

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const SHA256 = /^[0-9a-fA-F]{64}$/;

/** Lowercase hex SHA-256 of `bytes` (WebCrypto: needs a secure context). */
export async function sha256(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** A random transfer id of [A-Za-z0-9_-] (getRandomValues works in any context). */
export function transferId() {
  const bytes = crypto.getRandomValues(new Uint8Array(12));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** What a receiver may use of a sender's file name: never a path. */
export function safeName(name) {
  const base = String(name).split(/[/\\]/).pop();
  return base === '' || base === '.' || base === '..' ? 'file' : base;
}

/** `name` cut to at most 255 bytes of UTF-8, whole characters. */
function offerName(name) {
  let out = '';
  for (const ch of safeName(name)) {
    if (utf8Length(out + ch) > 255) break;
    out += ch;
  }
  return out || 'file';
}

function failure(code, message) {
  return { code, message };
}

/**
 * One transfer as the page shows it. `direction` is 'in' or 'out'; `status`
 * is 'sending', 'waiting' (for the receiver's checksum), 'receiving', 'done'
 * or 'failed'; `bytes` counts what went out or came in.
 */
function newTransfer(direction, fields) {
  return { direction, bytes: 0, status: direction === 'in' ? 'receiving' : 'sending', error: null, ...fields };
}

/**
 * The application protocol on one open data channel. `events` receives
 * `chat(text)`, `transfer(t)` on every change of a transfer, and
 * `problem(message)` for what was dropped (never answered, so two peers
 * cannot loop on errors).
 */
export class PeerLink {
  constructor(channel, events) {
    this.channel = channel;
    this.events = events;
    this.reassembler = new Reassembler(MAX_MESSAGE);
    this.incoming = null; // the transfer being received
    this.discarding = false; // binary data of a refused or failed transfer
    this.waiting = new Map(); // id -> outgoing transfer awaiting its ack
    this.sending = null; // the outgoing transfer whose data is going out
    this.sendQueue = Promise.resolve();
    // Messages are handled one after the other: hashing a finished file must
    // not let the next offer overtake it.
    this.inbox = Promise.resolve();
    this.closed = false;
    channel.binaryType = 'arraybuffer';
    channel.bufferedAmountLowThreshold = LOW_WATER;
    channel.addEventListener('message', (e) => {
      this.inbox = this.inbox.then(() => this.receive(e.data)).catch((err) => this.events.problem(String(err)));
    });
    channel.addEventListener('close', () => this.close('the data channel closed'));
  }

  get open() {
    return !this.closed && this.channel.readyState === 'open';
  }

  sendChat(text) {
    this.sendText({ type: 'chat', text });
  }

  /**
   * Queues `file` (a File or Blob with a name) to this peer; returns its
   * transfer, which `events.transfer` reports on as it goes.
   */
  sendFile(file) {
    const t = newTransfer('out', { id: transferId(), name: offerName(file.name || 'file'), size: file.size, sha256: null });
    this.events.transfer(t);
    this.sendQueue = this.sendQueue.then(() => this.sendData(t, file)).catch((err) => this.fail(t, failure('SEND_FAILED', String(err))));
    return t;
  }

  close(why) {
    if (this.closed) return;
    this.closed = true;
    if (this.incoming) this.fail(this.incoming, failure('PEER_GONE', why));
    this.incoming = null;
    for (const t of this.waiting.values()) this.fail(t, failure('PEER_GONE', why));
    this.waiting.clear();
    if (this.sending) this.fail(this.sending, failure('PEER_GONE', why));
  }

  // --- sending ---

  sendText(message) {
    const text = JSON.stringify(message);
    if (utf8Length(text) > MAX_TEXT) throw new Error(`a message over ${MAX_TEXT} bytes cannot be sent`);
    if (!this.open) throw new Error('the data channel is not open');
    this.channel.send(text);
  }

  async sendData(t, file) {
    if (t.status !== 'sending') return;
    const bytes = new Uint8Array(await file.arrayBuffer());
    t.sha256 = await sha256(bytes);
    this.waiting.set(t.id, t);
    this.sending = t;
    try {
      this.sendText({ type: 'file', id: t.id, name: t.name, size: t.size, sha256: t.sha256 });
      for (let offset = 0; offset < bytes.length; offset += PAYLOAD) {
        // A negative ack (or the peer leaving) stops the data.
        if (t.status !== 'sending') return;
        await this.drain();
        if (t.status !== 'sending') return;
        // One piece, one whole (0x00) frame.
        for (const frame of frames(bytes.subarray(offset, offset + PAYLOAD))) this.channel.send(frame);
        t.bytes = Math.min(offset + PAYLOAD, bytes.length);
        this.events.transfer(t);
      }
      if (t.status === 'sending') {
        t.status = 'waiting';
        this.events.transfer(t);
      }
    } finally {
      this.sending = null;
    }
  }

  /** Waits while the channel's send buffer is above the high-water mark. */
  drain() {
    if (this.channel.bufferedAmount <= HIGH_WATER) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = () => {
        this.channel.removeEventListener('bufferedamountlow', done);
        this.channel.removeEventListener('close', done);
        if (this.open) resolve();
        else reject(new Error('the data channel closed'));
      };
      this.channel.addEventListener('bufferedamountlow', done);
      this.channel.addEventListener('close', done);
    });
  }

  // --- receiving ---

  async receive(data) {
    if (this.closed) return;
    if (typeof data === 'string') return this.receiveText(data);
    let message;
    try {
      message = this.reassembler.push(new Uint8Array(data));
    } catch (err) {
      if (err instanceof FrameError) return this.events.problem(`dropped a frame: ${err.message}`);
      throw err;
    }
    if (message) await this.receiveData(message);
  }

  async receiveText(text) {
    // UTF-8 never has fewer bytes than UTF-16 has code units.
    if (text.length > MAX_TEXT_IN || utf8Length(text) > MAX_TEXT_IN) {
      return this.events.problem(`dropped a text message over ${MAX_TEXT_IN} bytes`);
    }
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return this.events.problem('dropped a text message that is not JSON');
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg) || typeof msg.type !== 'string') {
      return this.events.problem('dropped a message without a type');
    }
    switch (msg.type) {
      case 'chat':
        if (typeof msg.text !== 'string') return this.events.problem('dropped a chat message without text');
        return this.events.chat(msg.text);
      case 'file':
        return this.receiveOffer(msg);
      case 'file-ack':
        return this.receiveAck(msg);
      case 'file-abort':
        if (this.incoming && this.incoming.id === msg.id) {
          const t = this.incoming;
          this.incoming = null;
          this.discarding = true;
          const reason = typeof msg.reason === 'string' && msg.reason ? msg.reason : 'no reason given';
          this.fail(t, failure('ABORTED', `the sender gave up: ${reason}`));
        }
        return;
      default:
        return this.events.problem(`dropped a message of unknown type ${JSON.stringify(msg.type)}`);
    }
  }

  async receiveOffer(msg) {
    if (this.incoming) {
      const old = this.incoming;
      this.incoming = null;
      this.ack(old, false, failure('ABORTED', 'a new file came before this one was complete'));
    }
    this.discarding = true;
    const id = typeof msg.id === 'string' ? msg.id : '';
    const bad = !ID.test(id)
      ? 'id must be 1-64 characters of [A-Za-z0-9_-]'
      : typeof msg.name !== 'string' || msg.name === '' || utf8Length(msg.name) > 255
        ? 'name must be 1-255 bytes'
        : !Number.isSafeInteger(msg.size) || msg.size < 0
          ? 'size must be a non-negative integer'
          : typeof msg.sha256 !== 'string' || !SHA256.test(msg.sha256)
            ? 'sha256 must be 64 hex characters'
            : null;
    const t = newTransfer('in', {
      id,
      name: typeof msg.name === 'string' ? safeName(msg.name) : 'file',
      size: Number.isSafeInteger(msg.size) ? msg.size : 0,
      sha256: null,
      expected: typeof msg.sha256 === 'string' ? msg.sha256.toLowerCase() : '',
      parts: [],
    });
    if (bad) return this.ack(t, false, failure('BAD_OFFER', bad));
    if (t.size > MAX_FILE) {
      return this.ack(t, false, failure('TOO_LARGE', `file of ${t.size} bytes is over the ${MAX_FILE}-byte limit`));
    }
    this.discarding = false;
    this.incoming = t;
    this.events.transfer(t);
    if (t.size === 0) await this.complete(t);
  }

  async receiveData(bytes) {
    const t = this.incoming;
    if (!t) {
      if (!this.discarding) this.events.problem('dropped file data outside a transfer');
      return;
    }
    if (t.bytes + bytes.length > t.size) {
      this.incoming = null;
      this.discarding = true;
      t.bytes = t.size;
      t.parts = [];
      return this.ack(t, false, failure('SIZE_MISMATCH', `more than the announced ${t.size} bytes`));
    }
    t.parts.push(bytes);
    t.bytes += bytes.length;
    this.events.transfer(t);
    if (t.bytes === t.size) await this.complete(t);
  }

  async complete(t) {
    this.incoming = null;
    const whole = new Uint8Array(t.size);
    let offset = 0;
    for (const part of t.parts) {
      whole.set(part, offset);
      offset += part.length;
    }
    t.parts = [];
    t.sha256 = await sha256(whole);
    if (t.sha256 !== t.expected) {
      return this.ack(t, false, failure('CHECKSUM_MISMATCH', 'the SHA-256 of the data is not the offer\'s'));
    }
    t.blob = new Blob([whole]);
    this.ack(t, true, null);
  }

  ack(t, ok, error) {
    const reply = { type: 'file-ack', id: t.id, ok, size: t.bytes };
    if (t.sha256) reply.sha256 = t.sha256;
    if (error) reply.error = error;
    try {
      this.sendText(reply);
    } catch (err) {
      this.events.problem(`could not acknowledge ${t.name}: ${err.message}`);
    }
    if (ok) {
      t.status = 'done';
      this.events.transfer(t);
    } else {
      this.fail(t, error);
    }
  }

  receiveAck(msg) {
    const t = this.waiting.get(msg.id);
    if (!t) return this.events.problem('dropped an acknowledgement of no transfer of ours');
    this.waiting.delete(msg.id);
    if (msg.ok === true && typeof msg.sha256 === 'string' && msg.sha256.toLowerCase() === t.sha256) {
      t.status = 'done';
      t.bytes = t.size;
      this.events.transfer(t);
      return;
    }
    const error =
      msg.error && typeof msg.error === 'object'
        ? failure(String(msg.error.code ?? 'FAILED'), String(msg.error.message ?? ''))
        : failure('CHECKSUM_MISMATCH', 'the receiver\'s SHA-256 is not ours');
    this.fail(t, error);
  }

  fail(t, error) {
    if (t.status === 'done' || t.status === 'failed') return;
    t.status = 'failed';
    t.error = error;
    t.parts = [];
    this.events.transfer(t);
  }
}
