// What a client observed, made comparable between targets: socket ids by the
// client they belong to (A, A2 after a reconnect, W for the hidden witness),
// generated room codes by order of appearance (<gen1>, …), this run's room-code
// prefix as `~`, `pong` timestamps by their form, INVALID_PAYLOAD messages
// (free text) by `<text>`; then compared entry by entry.

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Normalizes one target's result; `prefix` is the run's room-code prefix. */
export function normalize(result, prefix, errorEvents = ['error']) {
  const witnesses = new Set(result.witnesses);
  // Longest first, so that no id is replaced inside a longer one.
  const ids = [...result.names.entries()].sort((a, b) => b[0].length - a[0].length);
  const gens = new Map();
  result.generated.forEach((code, i) => {
    gens.set(code, `<gen${i + 1}>`);
    gens.set(`room_${code.toLowerCase()}`, `room_<gen${i + 1}>`);
  });

  const str = (s) => {
    if (gens.has(s)) return gens.get(s);
    let out = s;
    for (const [id, name] of ids) if (id && out.includes(id)) out = out.split(id).join(`<${name}>`);
    if (prefix && out.includes(prefix)) out = out.split(prefix).join('~');
    return out;
  };
  const walk = (v) => {
    if (typeof v === 'string') return str(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object') {
      const out = {};
      for (const [k, x] of Object.entries(v)) out[str(k)] = walk(x);
      return out;
    }
    return v;
  };

  const logs = {};
  for (const [role, entries] of Object.entries(result.logs)) {
    logs[role] = repliesLast(
      errorEvents,
      entries
        .filter((e) => !(e.on && ['peer:joined', 'peer:left'].includes(e.on) && witnesses.has(e.p?.peerId)))
        .map((e) => canonical(walk(shape(e)))),
    );
  }
  return logs;
}

const isReply = (errorEvents, e) => errorEvents.includes(e.on) || e.ack !== undefined;
const isBoundary = (e) => e.sync !== undefined || e.as !== undefined || e.disconnect !== undefined;

/**
 * Within each step (between barriers), the replies — acks and error events —
 * moved after the other observations and sorted: the reference (NestJS) sends
 * an ack, and a failing event's error, some microtasks after the events its
 * handler emitted, so among several events read at once (a flood, a polling
 * batch) a reply can come after the events of the next one
 * (docs/WIRE-DETAILS.md, "Known differences from the reference"). Events keep
 * their order.
 */
function repliesLast(errorEvents, entries) {
  const out = [];
  let replies = [];
  const flush = () => {
    out.push(...replies.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)));
    replies = [];
  };
  for (const e of entries) {
    if (isBoundary(e)) {
      flush();
      out.push(e);
    } else if (isReply(errorEvents, e)) {
      replies.push(e);
    } else {
      out.push(e);
    }
  }
  flush();
  return out;
}

/** Replaces what may differ by design with its form. */
function shape(e) {
  const out = { ...e };
  if (out.on === 'pong' && typeof out.p?.timestamp === 'string' && ISO.test(out.p.timestamp)) {
    out.p = { ...out.p, timestamp: '<timestamp>' };
  }
  if (out.ack !== undefined && out.v && typeof out.v === 'object' && typeof out.v.timestamp === 'string' && ISO.test(out.v.timestamp)) {
    out.v = { ...out.v, timestamp: '<timestamp>' };
  }
  if (out.on && out.p?.code === 'INVALID_PAYLOAD' && typeof out.p.message === 'string' && out.p.message.length > 0) {
    out.p = { ...out.p, message: '<text>' };
  }
  const err = out.v?.error;
  if (out.ack !== undefined && err?.code === 'INVALID_PAYLOAD' && typeof err.message === 'string' && err.message.length > 0) {
    out.v = { ...out.v, error: { ...err, message: '<text>' } };
  }
  // socket.io-client reports a server-closed connection as either, depending on
  // how the TCP close and the WebSocket close frame race.
  if (out.disconnect === 'transport error') out.disconnect = 'transport close';
  return out;
}

/** Objects with sorted keys: key order is not something a JS client sees. */
function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === 'object') {
    const out = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical(v[k]);
    return out;
  }
  return v;
}

/**
 * The first difference between two normalized results, or undefined.
 * @returns {{ role: string, index: number, reference: object, gateway: object } | undefined}
 */
export function firstDifference(ref, gw) {
  const roles = [...new Set([...Object.keys(ref), ...Object.keys(gw)])].sort();
  for (const role of roles) {
    const a = ref[role] ?? [];
    const b = gw[role] ?? [];
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      if (JSON.stringify(a[i]) !== JSON.stringify(b[i])) {
        return { role, index: i, reference: a[i], gateway: b[i] };
      }
    }
  }
  return undefined;
}

/** One observation on one line, strings shortened for reading. */
export function show(entry) {
  if (entry === undefined) return '(nothing)';
  return JSON.stringify(entry, (_, v) => (typeof v === 'string' && v.length > 120 ? `${v.slice(0, 60)}…(${v.length} chars)` : v));
}
