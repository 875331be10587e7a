// A two-party call between two headless Chromium pages through the gateway:
// video both ways, names and connection states, chat, files both ways (over
// one data-channel message), mute states, leaving and closing a tab, and the
// third page that finds the two-seat room full.

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { User, launch, username } from './lib/browser.js';
import { Gateway } from './lib/gateway.js';

const SFU = 'https://sfu.example.test/join';
let gateway;
let browser;
let alice;
let bob;
const users = [];

before(async () => {
  [gateway, browser] = await Promise.all([Gateway.start({ SFU_URL: SFU }), launch()]);
});
after(async () => {
  for (const u of users) u.assertNoPageErrors?.();
  await browser?.close();
  await gateway?.stop();
});

async function open(path) {
  const u = await User.open(browser, gateway, path);
  users.push(u);
  return u;
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

describe('a two-party call', () => {
  test('the second page joins through the invite link; each decodes the other\'s video', async () => {
    alice = await open();
    await alice.register(username('alice'));
    const code = await alice.create({ seats: 2 });
    assert.match(code, /^[A-Z0-9]{6}$/);
    const invite = await alice.inviteLink();
    assert.equal(invite, `${gateway.url}/demo/?room=${code}`);

    bob = await open(new URL(invite).pathname + new URL(invite).search);
    await bob.register(username('bob'));
    await bob.inCall();
    assert.equal(await bob.page.textContent('#room-code'), code);

    await alice.connectedTo(bob.peerId);
    await bob.connectedTo(alice.peerId);
    const [aSees, bSees] = await Promise.all([alice.decodes(bob.peerId), bob.decodes(alice.peerId)]);
    assert.deepEqual([aSees.width, aSees.height], [640, 480]);
    assert.deepEqual([bSees.width, bSees.height], [640, 480]);

    // Names and states on the tiles and in the peer list.
    assert.equal(await alice.page.textContent(`${alice.tile(bob.peerId)} .name`), bob.name);
    assert.equal(await bob.page.textContent(`${bob.tile(alice.peerId)} .name`), alice.name);
    assert.equal(await alice.page.getAttribute(alice.tile(bob.peerId), 'data-state'), 'connected');
    assert.equal(
      await alice.page.textContent(`#peers li[data-peer="${bob.peerId}"]`),
      `${bob.name} connected, data channel open`,
    );
    assert.equal(await alice.page.textContent('.tile[data-peer="me"] .name'), `${alice.name} (you)`);
    // Exactly two tiles each: the own one and the other's.
    assert.equal(await alice.page.locator('.tile').count(), 2);
    assert.equal(await bob.page.locator('.tile').count(), 2);

    await alice.screenshot('call-alice.png');
    await bob.screenshot('call-bob.png');
  });
});
