// The origin rule with the real socket.io-client (as conformance/ does): a
// client sending the gateway's own origin connects over polling and
// WebSocket without CLIENT_URL listing it; every foreign origin is refused.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { io } from 'socket.io-client';
import { Gateway, account } from './lib/gateway.js';
import { username } from './lib/browser.js';

let gateway;
let token;
before(async () => {
  gateway = await Gateway.start();
  ({ token } = await account(gateway, username('origin')));
});
after(() => gateway?.stop());

/** Connects with `Origin: origin`; resolves 'connected' or the connect_error message. */
function attempt(origin, transport) {
  return new Promise((resolve) => {
    const socket = io(gateway.url, {
      transports: [transport],
      auth: { token },
      extraHeaders: { Origin: origin },
      reconnection: false,
      timeout: 5000,
    });
    socket.on('connect', () => {
      socket.emit('ping', (pong) => {
        socket.close();
        resolve(typeof pong?.timestamp === 'string' ? 'connected' : `bad pong ${JSON.stringify(pong)}`);
      });
    });
    socket.on('connect_error', (err) => {
      socket.close();
      resolve(err.message);
    });
  });
}

test('the gateway\'s own origin connects over polling and WebSocket', async () => {
  for (const transport of ['polling', 'websocket']) {
    assert.equal(await attempt(gateway.url, transport), 'connected', transport);
  }
});

test('foreign origins are refused over polling and WebSocket', async () => {
  const port = Number(new URL(gateway.url).port);
  for (const origin of [`http://127.0.0.1:${port + 1}`, `http://localhost:${port}`, 'http://evil.example.test']) {
    // The 403 reaches socket.io-client as a transport error.
    assert.equal(await attempt(origin, 'polling'), 'xhr poll error', origin);
    assert.equal(await attempt(origin, 'websocket'), 'websocket error', origin);
  }
});
