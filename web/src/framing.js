// wsc-chunked/1 (docs/DATA-CHANNELS.md §3): text messages go whole; a binary
// message of any length is cut into frames of at most 16 KiB, each one header
// byte and up to 16,383 payload bytes, and put together again on receipt.
// Native peers (webrtc-rs) refuse data-channel messages over 64 KiB, so
// nothing larger ever goes on the channel.

/** The data channel's subprotocol, announcing this framing. */
export const PROTOCOL = 'wsc-chunked/1';
/** The largest data-channel message sent, header included. */
export const MAX_FRAME = 16384;
/** Payload bytes per frame. */
export const PAYLOAD = MAX_FRAME - 1;
/** A text message sent stays at or under this many bytes of UTF-8. */
export const MAX_TEXT = 16384;

const WHOLE = 0x00;
const MORE = 0x01;
const LAST = 0x02;

/** The frames of one binary message (`Uint8Array`), to send in order, consecutively. */
export function frames(bytes) {
  const count = Math.max(1, Math.ceil(bytes.length / PAYLOAD));
  const out = [];
  for (let i = 0; i < count; i++) {
    const body = bytes.subarray(i * PAYLOAD, Math.min((i + 1) * PAYLOAD, bytes.length));
    const frame = new Uint8Array(body.length + 1);
    frame[0] = count === 1 ? WHOLE : i === count - 1 ? LAST : MORE;
    frame.set(body, 1);
    out.push(frame);
  }
  return out;
}

/** A frame the framing refuses; the receiver drops it and the partial message. */
export class FrameError extends Error {}

/** Puts frames together into messages of at most `limit` bytes. */
export class Reassembler {
  constructor(limit) {
    this.limit = limit;
    this.reset();
  }

  /**
   * One received binary frame -> the whole message it completes, or null.
   * Throws `FrameError` on a refused frame.
   */
  push(frame) {
    const inMessage = this.parts.length > 0 || this.skipping;
    if (frame.length === 0) return this.refuse('empty frame', inMessage);
    const header = frame[0];
    const body = frame.subarray(1);
    if (header === WHOLE) {
      // A whole message also ends a half-received one (its sender gave up).
      this.reset();
      return body.slice();
    }
    if (header !== MORE && header !== LAST) {
      return this.refuse(`unknown frame header ${header}`, inMessage);
    }
    if (this.skipping) {
      if (header === LAST) this.reset();
      return null;
    }
    if (this.size + body.length > this.limit) {
      return this.refuse(`message larger than ${this.limit} bytes`, header === MORE);
    }
    this.parts.push(body.slice());
    this.size += body.length;
    if (header === MORE) return null;
    const message = new Uint8Array(this.size);
    let offset = 0;
    for (const part of this.parts) {
      message.set(part, offset);
      offset += part.length;
    }
    this.reset();
    return message;
  }

  reset() {
    this.parts = [];
    this.size = 0;
    this.skipping = false;
  }

  // Drops the partial message; `skipRest`: also the frames left of it, up to its 0x02.
  refuse(why, skipRest) {
    this.reset();
    this.skipping = skipRest;
    throw new FrameError(why);
  }
}

/** Bytes of `text` in UTF-8. */
export function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}
