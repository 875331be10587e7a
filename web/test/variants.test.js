// The page on other paths: polling-only transport, the access_token cookie
// instead of auth.token, refused credentials, an unknown room, and a gateway
// that crashes and comes back (the page reconnects, rejoins, renegotiates).

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { User, launch, pasteToken, username } from './lib/browser.js';
import { Gateway, account } from './lib/gateway.js';

let gateway;
let browser;

before(async () => {
  // Rooms come back by themselves after the restart of the last test.
  [gateway, browser] = await Promise.all([Gateway.start({ AUTO_CREATE_ROOMS: 'true' }), launch()]);
});
after(async () => {
  await browser?.close();
  await gateway?.stop();
});

const open = (path) => User.open(browser, gateway, path);

/** Two users in one room, connected; `query` is added to both pages' URL. */
async function pair(query, signIn) {
  const a = await open(`/demo/${query}`);
  await signIn(a, 'ann');
  const code = await a.create();
  const b = await open(`/demo/${query}${query ? '&' : '?'}room=${code}`);
  await signIn(b, 'ben');
  await b.inCall();
  await a.connectedTo(b.peerId);
  await b.connectedTo(a.peerId);
  await Promise.all([a.decodes(b.peerId), b.decodes(a.peerId)]);
  await a.chat('over the data channel');
  await b.chatFrom(a.peerId, 'over the data channel');
  return [a, b];
}

const register = (u, name) => u.register(username(name));

describe('transports and credentials', () => {
  test('polling only: the call, its chat, and not one WebSocket', async () => {
    const sockets = [];
    const polls = [];
    const watch = (u) => {
      u.page.on('websocket', (ws) => sockets.push(ws.url()));
      u.page.on('request', (r) => r.url().includes('/socket.io/') && polls.push(r.url()));
    };
    const a = await open('/demo/?transport=polling');
    watch(a);
    await register(a, 'ann');
    const code = await a.create();
    const b = await open(`/demo/?transport=polling&room=${code}`);
    watch(b);
    await register(b, 'ben');
    await b.inCall();
    await a.connectedTo(b.peerId);
    await Promise.all([a.decodes(b.peerId), b.decodes(a.peerId)]);
    await b.chat('polled');
    await a.chatFrom(b.peerId, 'polled');
    assert.deepEqual(sockets, []);
    assert.ok(polls.length > 4, `${polls.length} polling requests`);
    assert.ok(polls.every((u) => u.includes('transport=polling')));
    for (const u of [a, b]) {
      u.assertNoPageErrors();
      await u.close();
    }
  });

  test('cookie auth: the access_token cookie alone signs the page in; every Socket.IO request carries it', async () => {
    const handshakes = [];
    const signedIn = [];
    const signIn = async (u, name) => {
      u.page.on('request', async (r) => {
        if (!r.url().includes('/socket.io/')) return;
        handshakes.push((await r.allHeaders()).cookie ?? '');
      });
      const { token } = await account(gateway, username(name));
      await pasteToken(u, token);
      await u.connected();
      signedIn.push(u);
    };
    const [a, b] = await pair('?auth=cookie', signIn);
    assert.ok(handshakes.length > 0);
    assert.ok(handshakes.every((c) => /(^|; )access_token=ey/.test(c)), handshakes.join('\n'));
    // The page left auth.token out: the gateway took the cookie (a bad cookie
    // is refused, below).
    for (const u of [a, b]) {
      u.assertNoPageErrors();
      await u.close();
    }
    assert.equal(signedIn.length, 2);
  });

  test('cookie auth with a bad token: Unauthorized, back to signing in', async () => {
    const u = await open('/demo/?auth=cookie');
    await pasteToken(u, 'ey.not.valid');
    assert.match(await u.notice('UNAUTHORIZED'), /refused your credentials \(Unauthorized\)/);
    assert.ok(await u.page.isVisible('#signin'));
    assert.equal(await u.page.getAttribute('#status', 'data-state'), 'offline');
    await u.close();
  });

  test('a pasted token the gateway refuses: Unauthorized, back to signing in', async () => {
    const u = await open();
    await pasteToken(u, 'not-a-jwt');
    assert.match(await u.notice('UNAUTHORIZED'), /Unauthorized/);
    assert.ok(await u.page.isVisible('#signin'));
    assert.equal(await u.page.evaluate(() => sessionStorage.length), 0);
    await u.close();
  });

  test('REST errors are shown: a taken username, a wrong password', async () => {
    const name = username('taken');
    await account(gateway, name);
    const u = await open();
    await u.page.fill('#username', name);
    await u.page.fill('#password', 'correct horse battery');
    await u.page.click('#register');
    assert.match(await u.notice('USERNAME_TAKEN'), /^USERNAME_TAKEN: /);
    await u.page.fill('#password', 'wrong password!');
    await u.page.click('#login');
    assert.match(await u.notice('WRONG_CREDENTIALS'), /^WRONG_CREDENTIALS: /);
    assert.ok(await u.page.isVisible('#signin'));
    await u.close();
  });
});

describe('rooms and connections', () => {
  test('an unknown room code: ROOM_NOT_FOUND, still in the lobby', async () => {
    // This gateway creates rooms on join; a fresh one that does not shows the error.
    const strict = await Gateway.start();
    try {
      const u = await User.open(browser, strict);
      await u.guest();
      await u.join('NOPE42');
      assert.match(await u.notice('ROOM_NOT_FOUND'), /There is no room “NOPE42”/);
      assert.ok(await u.page.isVisible('#lobby'));
      assert.ok(!(await u.page.isVisible('#call')));
      u.assertNoPageErrors();
      await u.close();
    } finally {
      await strict.stop();
    }
  });

  test('the gateway crashes and comes back: both pages say so, reconnect, rejoin and call again', async () => {
    const [a, b] = await pair('', register);
    const code = await a.page.textContent('#room-code');
    const [oldA, oldB] = [a.peerId, b.peerId];

    await gateway.crash();
    for (const u of [a, b]) {
      assert.match(await u.notice('DISCONNECTED'), /^Disconnected from the gateway: .+ Reconnecting…$/);
      await u.page.waitForSelector('#status[data-state="reconnecting"]');
      assert.equal(await u.page.locator('.tile').count(), 0);
    }

    await gateway.launch();
    for (const u of [a, b]) {
      await u.page.waitForSelector('#status[data-state="connected"]', { timeout: 30_000 });
      await u.page.waitForSelector('#notice', { state: 'hidden' });
      await u.page.waitForFunction((old) => document.body.dataset.peerId && document.body.dataset.peerId !== old, u.peerId);
      u.peerId = await u.page.getAttribute('body', 'data-peer-id');
      assert.equal(await u.page.textContent('#room-code'), code);
    }
    assert.notEqual(a.peerId, oldA);
    assert.notEqual(b.peerId, oldB);
    await a.connectedTo(b.peerId);
    await b.connectedTo(a.peerId);
    await Promise.all([a.decodes(b.peerId), b.decodes(a.peerId)]);
    await b.chat('back again');
    assert.equal(await a.chatFrom(b.peerId, 'back again'), `${b.name}: `);
    // The old peers are gone from the tiles.
    assert.equal(await a.page.locator('.tile').count(), 2);
    for (const u of [a, b]) {
      u.assertNoPageErrors();
      await u.close();
    }
  });
});
