// PROTOCOL.md §1 CORS; WIRE-DETAILS.md "CORS and origins".

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { after, describe, test } from 'node:test';
import { closeAll, connect, connectRefused, tokenFor, newUser } from '../lib/client.js';
import { ALLOWED_ORIGIN, SKIP_SETTINGS, useTarget } from '../lib/target.js';

const target = useTarget();
after(closeAll);

const FOREIGN = 'http://evil.example.test';
const HANDSHAKE = '/socket.io/?EIO=4&transport=polling';

async function get(url, headers = {}) {
  const res = await fetch(url + HANDSHAKE, { headers });
  const body = await res.text();
  return { status: res.status, headers: res.headers, body };
}

async function preflight(url, origin) {
  const res = await fetch(url + HANDSHAKE, {
    method: 'OPTIONS',
    headers: {
      Origin: origin,
      'Access-Control-Request-Method': 'GET',
      'Access-Control-Request-Headers': 'content-type',
    },
  });
  await res.arrayBuffer();
  return { status: res.status, headers: res.headers };
}

/** A raw WebSocket upgrade; resolves with the HTTP status (101 when accepted). */
function upgrade(url, origin) {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const headers = {
      Connection: 'Upgrade',
      Upgrade: 'websocket',
      'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
    };
    if (origin) headers.Origin = origin;
    const path = `/socket.io/?EIO=4&transport=websocket&token=${encodeURIComponent(tokenFor(newUser()))}`;
    const req = request({ hostname, port, path, headers, timeout: 5000 });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy(new Error('upgrade timed out')));
    req.on('error', (err) => {
      // A server that closes after writing its status line still counts as a refusal
      // only if a status was seen; otherwise surface the error.
      reject(err);
    });
    req.end();
  });
}

describe('allowed origin (CLIENT_URL)', () => {
  test('polling handshake: 200, Access-Control-Allow-Origin = origin, Access-Control-Allow-Credentials = true', async () => {
    const res = await get(target.url, { Origin: ALLOWED_ORIGIN });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), ALLOWED_ORIGIN);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
    assert.match(res.body, /^0\{"sid":/);
  });

  test('preflight: Access-Control-Allow-Origin = origin, credentials allowed', async () => {
    const res = await preflight(target.url, ALLOWED_ORIGIN);
    assert.ok(res.status >= 200 && res.status < 300, `status ${res.status}`);
    assert.equal(res.headers.get('access-control-allow-origin'), ALLOWED_ORIGIN);
    assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
  });

  test('WebSocket upgrade from the allowed origin: 101', async () => {
    assert.equal(await upgrade(target.url, ALLOWED_ORIGIN), 101);
  });

  test('a socket.io client sending the allowed Origin connects (polling and websocket)', async () => {
    for (const transport of ['polling', 'websocket']) {
      const c = await connect(target.url, { transport, extraHeaders: { Origin: ALLOWED_ORIGIN } });
      assert.ok(c.socket.connected);
      c.socket.close();
    }
  });
});

describe('foreign origin', () => {
  test('polling handshake: 403, no Access-Control-Allow-Origin', async () => {
    const res = await get(target.url, { Origin: FOREIGN });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  test('preflight: no Access-Control-Allow-Origin', async () => {
    const res = await preflight(target.url, FOREIGN);
    assert.equal(res.headers.get('access-control-allow-origin'), null);
  });

  test('WebSocket upgrade: 403', async () => {
    assert.equal(await upgrade(target.url, FOREIGN), 403);
  });

  test('an origin that merely starts with the allowed one is foreign', async () => {
    const res = await get(target.url, { Origin: `${ALLOWED_ORIGIN}.evil.test` });
    assert.equal(res.status, 403);
    assert.equal(await upgrade(target.url, `${ALLOWED_ORIGIN}.evil.test`), 403);
  });

  test('a socket.io client sending a foreign Origin cannot connect, even with a valid token', async () => {
    for (const transport of ['polling', 'websocket']) {
      const err = await connectRefused(target.url, {
        transport,
        auth: { token: tokenFor(newUser()) },
        extraHeaders: { Origin: FOREIGN },
      });
      assert.notEqual(err, undefined);
    }
  });
});

describe('no Origin header (non-browser clients)', () => {
  test('polling handshake: 200', async () => {
    const res = await get(target.url);
    assert.equal(res.status, 200);
  });
  test('WebSocket upgrade: 101', async () => {
    assert.equal(await upgrade(target.url, undefined), 101);
  });
});

describe('CLIENT_URL as a comma-separated list', { skip: SKIP_SETTINGS }, () => {
  const origins = ['https://app.example.test', 'http://127.0.0.1:8080'];
  const multi = useTarget({ CLIENT_URL: origins.join(',') });

  test('each listed origin is allowed with its own ACAO; the default origin and others are refused', async () => {
    for (const origin of origins) {
      const res = await get(multi.url, { Origin: origin });
      assert.equal(res.status, 200, origin);
      assert.equal(res.headers.get('access-control-allow-origin'), origin);
      assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
      assert.equal(await upgrade(multi.url, origin), 101);
    }
    for (const origin of ['http://localhost:5173', 'https://other.example.test']) {
      const res = await get(multi.url, { Origin: origin });
      assert.equal(res.status, 403, origin);
      assert.equal(res.headers.get('access-control-allow-origin'), null);
      assert.equal(await upgrade(multi.url, origin), 403);
      assert.equal((await preflight(multi.url, origin)).headers.get('access-control-allow-origin'), null);
    }
  });
});
