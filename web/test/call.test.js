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
  test('a second tab joins through the invite link as a guest; each decodes the other\'s video', async () => {
    alice = await open();
    await alice.register(username('alice'));
    const code = await alice.create({ seats: 2 });
    assert.match(code, /^[A-Z0-9]{12}$/);
    const invite = await alice.inviteLink();
    assert.equal(invite, `${gateway.url}/demo/?room=${code}`);

    // As the README says: the invite link in a second tab of the same
    // browser, a guest account there.
    bob = await User.tab(alice, gateway, new URL(invite).pathname + new URL(invite).search);
    users.push(bob);
    await bob.guest();
    assert.match(bob.name, /^guest-[0-9a-f]{6}$/);
    await bob.inCall();
    assert.equal(await bob.page.textContent('#room-code'), code);

    await alice.connectedTo(bob.peerId);
    await bob.connectedTo(alice.peerId);
    const [aSees, bSees] = await Promise.all([alice.decodes(bob.peerId), bob.decodes(alice.peerId)]);
    // The fake camera's 640x480, or less: WebRTC scales down under CPU load.
    for (const seen of [aSees, bSees]) {
      assert.ok(seen.width > 0 && seen.width <= 640, `${seen.width}x${seen.height}`);
      assert.equal(seen.width * 3, seen.height * 4, `${seen.width}x${seen.height}`);
    }

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

  test('chat lines pass both ways with the sender\'s name', async () => {
    await alice.chat('hello from alice');
    assert.equal(await bob.chatFrom(alice.peerId, 'hello from alice'), `${alice.name}: `);
    await bob.chat('hi alice, ünïcödé ✓');
    assert.equal(await alice.chatFrom(bob.peerId, 'hi alice, ünïcödé ✓'), `${bob.name}: `);
    // Each sees its own line as its own, once.
    assert.equal(await alice.page.locator('#chat-log li[data-from="me"]').count(), 1);
    assert.equal(await bob.page.locator(`#chat-log li[data-from="${alice.peerId}"]:not([data-system])`).count(), 1);
  });

  test('files over one data-channel message pass both ways; SHA-256 and bytes equal', async () => {
    const toBob = randomBytes(1536 * 1024 + 7);
    const toAlice = randomBytes(1024 * 1024);
    // Both directions at once: each has its own transfer.
    await alice.sendFile({ name: 'from-alice.bin', mimeType: 'application/octet-stream', buffer: toBob });
    await bob.sendFile({ name: 'from-bob.bin', mimeType: 'application/octet-stream', buffer: toAlice });

    const received = await bob.transfer('in', alice.peerId);
    assert.equal(received.sha256, sha256(toBob));
    assert.equal(received.value, toBob.length);
    assert.equal(received.max, toBob.length);
    const sent = await alice.transfer('out', bob.peerId);
    assert.equal(sent.sha256, sha256(toBob));
    assert.match(sent.title, /done, SHA-256 equal/);
    const file = await bob.download(alice.peerId);
    assert.equal(file.name, 'from-alice.bin');
    assert.ok(file.bytes.equals(toBob));

    assert.equal((await alice.transfer('in', bob.peerId)).sha256, sha256(toAlice));
    assert.equal((await bob.transfer('out', alice.peerId)).sha256, sha256(toAlice));
    assert.ok((await alice.download(bob.peerId)).bytes.equals(toAlice));
    // The call as the README shows it (docs/demo-call.png is one of these).
    await alice.screenshot('call-with-chat-and-files.png');
  });

  test('mute and camera off show on the other tile, and back on', async () => {
    const tile = bob.tile(alice.peerId);
    assert.equal(await bob.page.getAttribute(tile, 'data-audio'), 'on');
    await alice.page.click('#toggle-audio');
    await bob.page.waitForSelector(`${tile}[data-audio="off"]`);
    assert.equal(await bob.page.getAttribute(tile, 'data-video'), 'on');
    assert.ok(await bob.page.isVisible(`${tile} .mic-off`));
    await alice.page.click('#toggle-video');
    await bob.page.waitForSelector(`${tile}[data-video="off"]`);
    assert.ok(await bob.page.isVisible(`${tile} .cam-off`));
    assert.ok(await bob.page.isVisible(`${tile} .placeholder`));
    // Alice's own tile says so too; Bob's tile on Alice's page is untouched.
    assert.equal(await alice.page.getAttribute('.tile[data-peer="me"]', 'data-audio'), 'off');
    assert.equal(await alice.page.getAttribute(alice.tile(bob.peerId), 'data-audio'), 'on');
    await bob.screenshot('muted-alice-seen-by-bob.png');

    await alice.page.click('#toggle-audio');
    await alice.page.click('#toggle-video');
    await bob.page.waitForSelector(`${tile}[data-audio="on"][data-video="on"]`);
  });

  test('a third page finds the two-seat room full, with the SFU link', async () => {
    const carol = await open();
    await carol.guest();
    await carol.join(await alice.page.textContent('#room-code'));
    const text = await carol.notice('ROOM_FULL');
    assert.match(text, /is full/);
    assert.equal(await carol.page.getAttribute('#notice a', 'href'), SFU);
    assert.ok(await carol.page.isVisible('#lobby'));
    assert.ok(!(await carol.page.isVisible('#call')));
    // The two in the call saw nothing of it.
    assert.equal(await alice.page.locator('.tile').count(), 2);
    await carol.close();
  });

  test('leaving removes the tile and the peer on the other page', async () => {
    const left = bob.peerId;
    await bob.page.click('#leave');
    await alice.page.waitForSelector(alice.tile(left), { state: 'detached' });
    assert.equal(await alice.page.locator(`#peers li[data-peer="${left}"]`).count(), 0);
    assert.equal(await alice.page.locator('.tile').count(), 1);
    await alice.page.waitForSelector(`#chat-log li[data-system][data-from="${left}"]:has-text("left")`);
    assert.ok(await bob.page.isVisible('#lobby'));
    assert.equal(await bob.page.locator('.tile').count(), 0);
  });

  test('closing the tab removes the tile on the other page', async () => {
    await bob.join(await alice.page.textContent('#room-code'));
    await bob.inCall();
    await alice.connectedTo(bob.peerId);
    await alice.decodes(bob.peerId);
    const gone = bob.peerId;
    await bob.page.close();
    await alice.page.waitForSelector(alice.tile(gone), { state: 'detached' });
    assert.equal(await alice.page.locator(`#peers li[data-peer="${gone}"]`).count(), 0);
    assert.equal(await alice.page.locator('.tile').count(), 1);
  });
});
