// A browser page and the native `webrtc-client` CLI in one room: the data
// channel opens whichever joined first, chat lines pass both ways, and a file
// over one data-channel message (≥ 1 MiB) passes both ways with equal
// SHA-256 (docs/DATA-CHANNELS.md).

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { User, launch, username } from './lib/browser.js';
import { Cli } from './lib/cli.js';
import { Gateway, account } from './lib/gateway.js';

let gateway;
let browser;
let page;
let native;
let dir;
const clis = [];

before(async () => {
  [gateway, browser] = await Promise.all([Gateway.start(), launch()]);
  dir = mkdtempSync(join(tmpdir(), 'browser-native-'));
  native = await account(gateway, username('rusty'));
  page = await User.open(browser, gateway);
  await page.register(username('pam'));
});
after(async () => {
  for (const c of clis) await c.stop();
  page?.assertNoPageErrors();
  await browser?.close();
  await gateway?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function cli(...args) {
  const c = new Cli(gateway, native.token, args);
  clis.push(c);
  return c;
}

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');

/** The page creates a fresh room and is in it; resolves with its code. */
async function pageFirst() {
  const code = await page.create();
  return code;
}

/** The page joins `code` where the CLI already is. */
async function pageSecond(code) {
  await page.join(code);
  await page.inCall();
}

async function leave() {
  await page.page.click('#leave');
  await page.page.waitForSelector('#lobby:not([hidden])');
}

/** Both sides see the channel open; returns the CLI's peer id. */
async function channelOpen(c, joined) {
  joined ??= await c.next('joined');
  const open = await c.next('peer_open', { peer: page.peerId });
  assert.equal(open.username, page.name);
  await page.connectedTo(joined.peerId);
  // The native peer has no camera: its tile shows the placeholder.
  assert.equal(await page.page.getAttribute(page.tile(joined.peerId), 'data-video'), 'off');
  assert.equal(await page.page.textContent(`${page.tile(joined.peerId)} .name`), native.username);
  return joined.peerId;
}

function assertCandidateShape(relayed) {
  assert.ok(relayed.length > 0, 'the native peer trickled candidates');
  for (const { candidate } of relayed) {
    assert.deepEqual(Object.keys(candidate).sort(), ['candidate', 'sdpMLineIndex', 'sdpMid', 'usernameFragment']);
    assert.match(candidate.candidate, /^candidate:/);
    assert.equal(typeof candidate.sdpMid, 'string');
    assert.equal(candidate.sdpMLineIndex, 0);
    assert.equal(typeof candidate.usernameFragment, 'string');
  }
}

async function chatBothWays(c, peerId, tag) {
  await page.chat(`from the page, ${tag}`);
  const got = await c.next('message', { from: page.peerId });
  assert.equal(got.text, `from the page, ${tag}`);
  assert.equal(got.username, page.name);
  c.say(`from the cli, ${tag} ✓`);
  assert.equal(await page.chatFrom(peerId, `from the cli, ${tag} ✓`), `${native.username}: `);
}

describe('browser and webrtc-client in one room', () => {
  test('the page joined first (it offers): chat both ways', async () => {
    const code = await pageFirst();
    const c = cli('join', code);
    const peerId = await channelOpen(c);
    await chatBothWays(c, peerId, 'page first');
    // The native answerer took the DTLS server role; its candidates are
    // RTCIceCandidateInit objects, all four fields present.
    const [answer] = page.signals('in', 'webrtc:answer').filter((a) => a.fromPeerId === peerId);
    assert.match(answer.answer.sdp, /\r\na=setup:passive\r\n/);
    assert.match(page.signals('out', 'webrtc:offer').at(-1).offer.sdp, /\r\na=setup:actpass\r\n/);
    assertCandidateShape(page.signals('in', 'webrtc:ice').filter((i) => i.fromPeerId === peerId));
    await c.stop();
    await page.page.waitForSelector(page.tile(peerId), { state: 'detached' });
    await leave();
  });

  test('the CLI joined first (it offers): chat both ways', async () => {
    const code = `native-${randomBytes(3).toString('hex')}`;
    const c = cli('join', code, '--create');
    const joined = await c.next('joined');
    await pageSecond(code);
    const peerId = await channelOpen(c, joined);
    await chatBothWays(c, peerId, 'cli first');
    const [offer] = page.signals('in', 'webrtc:offer').filter((o) => o.fromPeerId === peerId);
    assert.match(offer.offer.sdp, /\r\na=setup:actpass\r\n/);
    assert.match(offer.offer.sdp, /\r\nm=application /);
    assert.doesNotMatch(offer.offer.sdp, /\r\nm=(audio|video) /);
    assert.match(page.signals('out', 'webrtc:answer').at(-1).answer.sdp, /\r\na=setup:active\r\n/);
    assertCandidateShape(page.signals('in', 'webrtc:ice').filter((i) => i.fromPeerId === peerId));
    await page.screenshot('browser-and-native.png');
    await c.stop();
    await leave();
  });

  test('a 1.5 MiB file from the page to `webrtc-client receive` (page first): SHA-256 equal both sides', async () => {
    const code = await pageFirst();
    const out = join(dir, 'in-page-first');
    const c = cli('receive', code, '-o', out);
    const peerId = await channelOpen(c);
    const data = randomBytes(1536 * 1024 + 3);
    await page.sendFile({ name: 'page-to-cli.bin', mimeType: 'application/octet-stream', buffer: data });
    const got = await c.next('file_received', { from: page.peerId });
    assert.equal(got.ok, true);
    assert.equal(got.name, 'page-to-cli.bin');
    assert.equal(got.size, data.length);
    assert.equal(got.sha256, sha256(data));
    assert.ok(readFileSync(got.path).equals(data));
    const sent = await page.transfer('out', peerId);
    assert.equal(sent.sha256, sha256(data));
    assert.equal(await c.exit(), 0);
    await leave();
  });

  test('a 1.5 MiB file from `webrtc-client send` to the page (CLI first): SHA-256 and bytes equal', async () => {
    const code = `native-${randomBytes(3).toString('hex')}`;
    const data = randomBytes(1536 * 1024 + 5);
    const file = join(dir, 'cli-to-page.bin');
    writeFileSync(file, data);
    const c = cli('send', code, file, '--create');
    const joined = await c.next('joined');
    await pageSecond(code);
    const peerId = await channelOpen(c, joined);
    const got = await page.transfer('in', peerId);
    assert.equal(got.sha256, sha256(data));
    assert.match(got.title, /^cli-to-page\.bin \(1572869 bytes\) from /);
    assert.ok((await page.download(peerId)).bytes.equals(data));
    const sent = await c.next('file_sent', { to: page.peerId });
    assert.equal(sent.ok, true);
    assert.equal(sent.sha256, sha256(data));
    assert.equal(await c.exit(), 0);
    await leave();
  });
});
