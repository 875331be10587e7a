// Seeded generation of event sequences. Pure: the same seed and options give
// the same sequence, byte for byte, so a divergence is reproduced by its seed.
//
// A sequence is plain JSON: a list of steps by client roles (A, B, C, …), whose
// payloads name the things that differ between targets symbolically (a peer's
// socket id, a room code of this run, a code the target generated); the
// executor resolves them against each target.
//
//   { c: 'A', op: 'connect', transport: 'websocket', cred: {...} }
//   { c: 'A', op: 'emit', event: 'join:room', args: [{ roomCode: { $room: 'R1' } }], ack: true }
//   { c: 'A', op: 'flood', event: 'webrtc:ice', args: [...], n: 30, ack: true }
//   { c: 'A', op: 'disconnect' }
//
// Symbols inside args: { $peer: 'B' } B's current socket id; { $stale: 'B' } the
// id of B's previous socket; { $room: 'R1', case?: 'upper'|'lower', len?: n }
// a room code of this run (a per-run prefix keeps runs apart); { $gen: k } the
// k-th code the target generated; { $repeat: 'ab', bytes: n } a string of n
// UTF-8 bytes; { $nest: n } n objects nested in one another; { $undefined: true }
// an undefined argument (null on the wire).

/** sfc32, seeded through splitmix32: small, fast, and the same on every Node. */
export function rng(seed) {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  const next = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  const r = {
    next,
    /** An integer in [lo, hi]. */
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    bool: (p = 0.5) => next() < p,
    pick: (list) => list[Math.floor(next() * list.length)],
    /** `choices`: [[weight, value or () => value], …] */
    weighted: (choices) => {
      const total = choices.reduce((sum, [w]) => sum + w, 0);
      let x = next() * total;
      for (const [w, v] of choices) {
        x -= w;
        if (x < 0) return typeof v === 'function' ? v() : v;
      }
      const last = choices[choices.length - 1][1];
      return typeof last === 'function' ? last() : last;
    },
  };
  return r;
}

/** The seed of one case of a run: cases are independent of how many ran before. */
export function caseSeed(seed, index) {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

export const EVENTS = [
  'create:room',
  'join:room',
  'leave:room',
  'webrtc:offer',
  'webrtc:answer',
  'webrtc:ice',
  'media:state',
  'ping',
];

/** Event names no handler has: ignored by both (any of them may cost a token). */
const UNKNOWN_EVENTS = [
  'webrtc:other',
  'JOIN:ROOM',
  'join:room ',
  'room:joined',
  'error',
  'message',
  'connection',
  'exception',
  'pong',
  'toString',
  '__proto__',
  'constructor',
  'hasOwnProperty',
  'é',
  '😀',
  '',
];

/** Strings a careless parser trips over; none of them is a lone surrogate. */
const ODD_STRINGS = [
  'é',
  'e\u0301',
  '😀',
  '👩‍👩‍👧',
  '\u0000',
  'a\u0000b',
  '\u2028\u2029',
  '\ufeff',
  '\u202e',
  '\uffff',
  '\ufffd',
  'İ',
  'ß',
  'ﬀ',
  '\t\n\r',
  '"',
  '\\',
  '\\u0041',
  '</script>',
  '%00',
  '../',
  ' ',
  '  padded  ',
  '0',
  'true',
  'null',
  '{}',
  '[]',
  'x'.repeat(300),
];

const LONE_SURROGATES = ['\ud800', '\udfff', 'a\ud83d', '\ude00b'];

/** Multi-byte units for byte-exact huge strings (1, 2, 3 and 4 UTF-8 bytes). */
const REPEAT_UNITS = ['a', 'é', '€', '😀', 'ab'];

const SDP_MAX = 65_536;
const CANDIDATE_MAX = 4_096;

/**
 * Options:
 *   roles       number of clients (default 3)
 *   steps       steps after the initial connects (default 24)
 *   maxPayload  the targets' MAX_PAYLOAD, to aim big messages at both sides of it
 *   include     documented differences to generate anyway (see known.js)
 */
export function generate(seed, opts = {}) {
  const r = rng(seed);
  const roles = 'ABCDEFGH'.slice(0, opts.roles ?? 3).split('');
  const include = new Set(opts.include ?? []);
  const maxPayload = opts.maxPayload ?? 100_000;
  const steps = [];
  const g = new Gen(r, roles, include, maxPayload);

  for (const c of roles) {
    steps.push({ c, op: 'connect', transport: g.transport(), cred: g.credential(c, true) });
  }
  const n = opts.steps ?? 24;
  for (let i = 0; i < n; i++) steps.push(g.step());
  return steps;
}

class Gen {
  constructor(r, roles, include, maxPayload) {
    this.r = r;
    this.roles = roles;
    this.include = include;
    this.maxPayload = maxPayload;
    this.rooms = ['R1', 'R2', 'R3'];
  }

  transport() {
    return this.r.weighted([
      [5, 'websocket'],
      [1, 'polling'],
    ]);
  }

  /** How a connecting client authenticates: mostly a good token, sometimes not. */
  credential(c, first) {
    const r = this.r;
    const good = { user: c };
    if (first && r.bool(0.8)) return { carrier: 'auth.token', ...good };
    return r.weighted([
      [6, () => ({ carrier: 'auth.token', ...good })],
      [2, () => ({ carrier: 'bearer', ...good })],
      [2, () => ({ carrier: 'cookie', ...good })],
      [2, () => ({ carrier: 'query', ...good })],
      [3, () => ({ carrier: 'auth.token', ...good, claims: this.claims() })],
      [1, () => ({ carrier: 'auth.token', ...good, bad: r.pick(['signature', 'expired', 'none', 'garbage', 'nbf']) })],
      [1, () => ({ carrier: r.pick(['bearer', 'cookie', 'query']), ...good, bad: r.pick(['signature', 'garbage']) })],
      [1, () => ({ carrier: 'auth.token', ...good, first: 'bad', then: r.pick(['bearer', 'query', 'cookie']) })],
      [1, () => ({ carrier: 'none' })],
      [1, () => ({ carrier: 'auth.raw', value: this.wrong() })],
    ]);
  }

  /** Odd but well-formed identity claims: the user's display name and id. */
  claims() {
    const r = this.r;
    const odd = () => r.pick([5, 1.5, true, false, null, '', {}, [], ['x'], 2 ** 53 + 2]);
    return r.weighted([
      [2, () => ({ username: this.oddString() })],
      [1, () => ({ username: undefined, preferred_username: this.oddString() })],
      [1, () => ({ username: undefined, name: 'N', email: 'e@x' })],
      [1, () => ({ username: undefined })],
      [2, () => ({ username: odd(), preferred_username: r.pick([undefined, 'pref']) })],
      [1, () => ({ sub: odd(), id: r.pick([undefined, 'by-id', 7]) })],
      // Around the bounds: names cut at 64 characters, ids up to 256 bytes.
      [1, () => ({ username: r.pick(['n'.repeat(64), 'n'.repeat(65), 'é'.repeat(65), '😀'.repeat(64) + 'x', 'e\u0301'.repeat(40)]) })],
      [1, () => ({ sub: r.pick(['s'.repeat(256), 's'.repeat(257), 'é'.repeat(128), 'é'.repeat(129)]) })],
    ]);
  }

  step() {
    const r = this.r;
    const c = r.pick(this.roles);
    return r.weighted([
      [40, () => this.emit(c)],
      [6, () => this.flood(c)],
      [3, () => ({ c, op: 'disconnect' })],
      [3, () => ({ c, op: 'connect', transport: this.transport(), cred: this.credential(c, false) })],
    ]);
  }

  emit(c) {
    const r = this.r;
    const event = r.weighted([
      [6, 'create:room'],
      [9, 'join:room'],
      [3, 'leave:room'],
      [6, 'webrtc:offer'],
      [4, 'webrtc:answer'],
      [7, 'webrtc:ice'],
      [4, 'media:state'],
      [2, 'ping'],
      [2, () => this.unknownEvent()],
    ]);
    let args = this.args(c, event);
    if (r.bool(0.3)) args = this.mutateArgs(args, event);
    return { c, op: 'emit', event, args, ack: r.bool(0.75) };
  }

  /** One event many times without waiting: order and the rate limit. */
  flood(c) {
    const r = this.r;
    const event = r.weighted([
      [4, 'webrtc:ice'],
      [1, 'webrtc:offer'],
      [1, 'media:state'],
      [1, 'ping'],
      [1, 'join:room'],
      [1, 'create:room'],
      [1, () => this.unknownEvent()],
    ]);
    const args = this.args(c, event);
    let n = r.weighted([
      [6, () => r.int(2, 20)],
      [2, () => r.int(30, 80)],
      [1, () => r.int(100, 140)],
    ]);
    if (JSON.stringify(args).includes('$repeat')) n = Math.min(n, 4);
    return { c, op: 'flood', event, args, n, ack: r.bool(0.6) };
  }

  unknownEvent() {
    if (this.include.has('odd-event-names') && this.r.bool(0.3)) {
      return this.r.pick([5, 0, -1, 1.5, 'a"b', 'a\\b', 'line\nbreak', '\u0001', '\ud800']);
    }
    return this.r.pick(UNKNOWN_EVENTS);
  }

  /** Well-formed arguments for `event`, as a frontend would send them. */
  args(c, event) {
    const r = this.r;
    switch (event) {
      case 'create:room':
        return r.weighted([
          [2, () => []],
          [1, () => [{}]],
          [6, () => [{ roomCode: this.room() }]],
          [3, () => [{ roomCode: this.room(), maxPeers: r.weighted([[3, () => r.int(1, 4)], [1, () => r.int(5, 12)]]) }]],
          [1, () => [{ maxPeers: r.int(1, 3) }]],
        ]);
      case 'join:room':
        return [{ roomCode: r.weighted([[8, () => this.room()], [2, () => ({ $gen: r.int(0, 2) })]]) }];
      case 'leave:room':
        return r.weighted([
          [3, () => []],
          [1, () => [{}]],
        ]);
      case 'webrtc:offer':
      case 'webrtc:answer': {
        const field = event === 'webrtc:offer' ? 'offer' : 'answer';
        return [{ targetPeerId: this.target(c), [field]: { type: field, sdp: this.sdp() } }];
      }
      case 'webrtc:ice':
        return [{ targetPeerId: this.target(c), candidate: this.candidate() }];
      case 'media:state':
        return [{ isVideoEnabled: r.bool(), isAudioEnabled: r.bool() }];
      case 'ping':
        return r.weighted([
          [3, () => []],
          [1, () => [this.json(2)]],
        ]);
      default:
        return r.weighted([
          [1, () => []],
          [2, () => [this.json(2)]],
        ]);
    }
  }

  room() {
    const r = this.r;
    const $room = r.pick(this.rooms);
    return r.weighted([
      [8, () => ({ $room })],
      [2, () => ({ $room, case: r.pick(['upper', 'lower']) })],
      [1, () => ({ $room, len: r.pick([63, 64]) })],
    ]);
  }

  /** A relay's target: mostly another client, sometimes a wrong one. */
  target(c) {
    const r = this.r;
    const others = this.roles.filter((x) => x !== c);
    return r.weighted([
      [10, () => ({ $peer: r.pick(others) })],
      [1, () => ({ $peer: c })],
      [1, () => ({ $stale: r.pick(this.roles) })],
      [1, () => r.pick(['socket_def456', 'nobody', 'x'.repeat(20)])],
    ]);
  }

  sdp() {
    const r = this.r;
    return r.weighted([
      [8, () => r.pick(['v=0\r\n...', 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n', ''])],
      [1, () => this.oddString()],
      [1, () => ({ $repeat: r.pick(REPEAT_UNITS), bytes: r.pick([SDP_MAX - 1, SDP_MAX, SDP_MAX + 1, SDP_MAX + 3]) })],
    ]);
  }

  candidate() {
    const r = this.r;
    const line = () =>
      r.weighted([
        [8, 'candidate:1 1 UDP 2130706431 192.168.1.1 54321 typ host'],
        [1, ''],
        [1, () => this.oddString()],
        [1, () => ({ $repeat: r.pick(REPEAT_UNITS), bytes: r.pick([CANDIDATE_MAX, CANDIDATE_MAX + 1, CANDIDATE_MAX + 2]) })],
      ]);
    return r.weighted([
      [4, () => line()],
      [
        4,
        () => ({
          candidate: line(),
          sdpMid: r.weighted([[6, () => r.pick(['0', null, 'audio'])], [1, () => this.wrong()]]),
          sdpMLineIndex: r.weighted([[6, () => r.pick([0, 1, null])], [1, () => r.pick([-1, 65535, 65536, 70000, 1.5, 2 ** 31, '0'])]]),
          usernameFragment: r.weighted([[6, () => r.pick(['abcd', null])], [1, () => this.wrong()]]),
        }),
      ],
      [1, () => ({ candidate: '', sdpMid: null, sdpMLineIndex: null, usernameFragment: null })],
      [1, () => ({ candidate: line() })],
    ]);
  }

  /**
   * A relay's `targetPeerId` over 128 bytes is a bound the reference does not
   * have (known.js: long-target-ids): unless asked for, one at the limit instead.
   */
  targetBound(event, depth, key, value) {
    const long = typeof value === 'string' && Buffer.byteLength(value) > 128;
    if (!long || depth > 0 || key !== 'targetPeerId' || !event.startsWith('webrtc:') || this.include.has('long-target-ids')) return value;
    return 'x'.repeat(128);
  }

  /** A string that is odd without being a lone surrogate (unless `lone`). */
  oddString(lone = false) {
    const r = this.r;
    if (lone && r.bool(0.3)) return r.pick(LONE_SURROGATES);
    return r.weighted([
      [6, () => r.pick(ODD_STRINGS)],
      [2, () => r.pick(ODD_STRINGS) + r.pick(ODD_STRINGS)],
      [1, () => String.fromCodePoint(r.int(0x20, 0x2fff))],
    ]);
  }

  /** A small random JSON value (`depth` levels at most). */
  json(depth) {
    const r = this.r;
    const leaf = () =>
      r.weighted([
        [2, () => r.pick([0, 1, -1, 1.5, -0, 1e21, 2 ** 53 + 2, 1e308, Number.MAX_SAFE_INTEGER])],
        [2, () => this.oddString()],
        [1, () => r.pick([true, false, null])],
      ]);
    if (depth <= 0) return leaf();
    return r.weighted([
      [3, leaf],
      [1, () => Array.from({ length: r.int(0, 3) }, () => this.json(depth - 1))],
      [
        1,
        () => {
          const o = {};
          for (let i = r.int(0, 3); i > 0; i--) setKey(o, r.pick(['a', 'type', 'sdp', 'roomCode', 'x', '__proto__']), this.json(depth - 1));
          return o;
        },
      ],
    ]);
  }

  /** A value of a type no field of the contract has there. */
  wrong() {
    const r = this.r;
    return r.weighted([
      [2, () => r.pick([0, 7, -1, 1.5, 1e21])],
      [1, () => r.pick([true, false])],
      [1, () => null],
      [1, () => ({ $undefined: true })],
      [2, () => this.oddString()],
      [1, () => []],
      [1, () => ({})],
      [1, () => [this.json(1)]],
    ]);
  }

  /** Mutations of the arguments: wrong types, arrays for objects, keys missing or extra. */
  mutateArgs(args, event) {
    const r = this.r;
    const payload = args[0];
    const rest = args.slice(1);
    return r.weighted([
      // The payload itself replaced.
      [2, () => [this.wrong(), ...rest]],
      [2, () => (isObject(payload) ? [Object.values(payload), ...rest] : [[payload], ...rest])],
      [1, () => []],
      [1, () => [{ $undefined: true }, ...rest]],
      [1, () => [null]],
      // Extra arguments after the payload.
      [1, () => [payload ?? {}, this.json(1), ...rest]],
      // Inside the payload.
      [8, () => [this.mutateObject(payload ?? {}, event, 0), ...rest]],
    ]);
  }

  mutateObject(value, event, depth) {
    const r = this.r;
    if (!isObject(value) || isSymbol(value)) return this.wrong();
    const out = { ...value };
    const keys = Object.keys(out);
    const relayed = depth > 0 && event.startsWith('webrtc:');
    const times = r.int(1, 2);
    for (let i = 0; i < times; i++) {
      const key = keys.length ? r.pick(keys) : undefined;
      r.weighted([
        [3, () => key !== undefined && delete out[key]],
        [4, () => key !== undefined && (out[key] = this.targetBound(event, depth, key, this.wrongFor(out[key])))],
        [
          2,
          () => {
            // An extra key (small: huge extra keys inside relayed values are hard-net's
            // finding 1; lone surrogates there are its item 12).
            const name = r.pick(['extra', 'fromPeerId', 'peerId', 'roomId', 'sdp', 'type', 'constructor', 'toString', '__proto__', 'x'.repeat(100)]);
            setKey(out, name, relayed && !this.include.has('relayed-lone-surrogates') ? this.json(1) : this.jsonWithLone(1));
          },
        ],
        // A big key where nothing is relayed: over MAX_PAYLOAD the connection closes.
        [1, () => !relayed && (out.pad = { $repeat: 'a', bytes: r.pick([1000, 20_000, this.maxPayload + 5000]) })],
        [
          1,
          () => {
            if (key === undefined || key.toUpperCase() === key) return;
            setKey(out, key.toUpperCase(), out[key]);
            delete out[key];
          },
        ],
        [1, () => key !== undefined && depth < 1 && isObject(out[key]) && !isSymbol(out[key]) && (out[key] = this.mutateObject(out[key], event, depth + 1))],
        // Inside a relayed value, nesting past serde_json's limit is a bound the
        // reference does not have (known.js: relayed-deep-values).
        [
          1,
          () =>
            (out.deep = {
              $nest: r.pick(relayed && !this.include.has('relayed-deep-values') ? [10, 100, 120] : [10, 100, 127, 128, 129, 200, 1000]),
            }),
        ],
      ]);
    }
    return out;
  }

  /** A replacement for a field's value: another type, or an odd value of the same type. */
  wrongFor(value) {
    const r = this.r;
    if (typeof value === 'string' || (isSymbol(value) && ('$room' in value || '$peer' in value || '$repeat' in value))) {
      return r.weighted([
        [3, () => this.wrong()],
        [3, () => this.oddString(true)],
        [1, () => ({ $repeat: r.pick(REPEAT_UNITS), bytes: r.int(0, 3) })],
      ]);
    }
    if (typeof value === 'number') return r.pick([0, -1, 1.5, -0, 2 ** 31, 1e21, '3', null, true, 1e308, 2 ** 53 + 2]);
    if (typeof value === 'boolean') return r.pick(['true', 1, 0, null, [true], { value: true }]);
    return this.wrong();
  }

  jsonWithLone(depth) {
    return this.r.bool(0.3) ? this.oddString(true) : this.json(depth);
  }
}

function isObject(v) {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isSymbol(v) {
  return isObject(v) && Object.keys(v).some((k) => k.startsWith('$'));
}

/** An own property, even for `__proto__` (plain assignment would set the prototype). */
function setKey(o, key, value) {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}
