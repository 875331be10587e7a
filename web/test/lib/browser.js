// Headless Chromium (Debian's, driven by playwright-core) with fake camera
// and microphone, and a user of the demo page in a browser context of its
// own (its own cookies and storage, as another person's browser).

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { WEB } from './gateway.js';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const RESULTS = join(WEB, 'test-results');
/** Longest wait for one expected change on a page. */
export const WAIT_MS = 20_000;

/** A fresh headless Chromium; its profile is a new temporary directory. */
export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      // Without these Chromium reaches out to Google's services, which this
      // closed network refuses, and its own connections start failing.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
    ],
  });
}

let seq = 0;
const run = Math.random().toString(36).slice(2, 7);

/** A username unique to this run, of the gateway's username rule. */
export function username(prefix) {
  seq += 1;
  return `${prefix}-${run}${seq}`;
}

/** One person with the demo page open. */
export class User {
  /** Opens `path` (default `/demo/`) of the gateway in a new context. */
  static async open(browser, gateway, path = '/demo/') {
    const context = await browser.newContext({ viewport: { width: 1100, height: 640 } });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const user = new User(context, page);
    await page.goto(gateway.url + path);
    return user;
  }

  /** Opens `path` in another tab of `other`'s browser (same cookies, its own session storage). */
  static async tab(other, gateway, path) {
    const page = await other.context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const user = new User(other.context, page, { sharedContext: true });
    await page.goto(gateway.url + path);
    return user;
  }

  constructor(context, page, { sharedContext = false } = {}) {
    this.sharedContext = sharedContext;
    this.context = context;
    this.page = page;
    this.errors = [];
    this.console = [];
    page.on('pageerror', (err) => this.errors.push(String(err)));
    // Socket.IO events over the WebSocket, both ways: [direction, event, payload].
    this.frames = [];
    page.on('websocket', (ws) => {
      const keep = (direction) => ({ payload }) => {
        const m = typeof payload === 'string' && /^42(\d*)(\[.*)$/s.exec(payload);
        if (!m) return;
        try {
          const [event, data] = JSON.parse(m[2]);
          this.frames.push([direction, event, data]);
        } catch {
          /* not JSON: not ours to read */
        }
      };
      ws.on('framereceived', keep('in'));
      ws.on('framesent', keep('out'));
    });
    page.on('console', (msg) => this.console.push(`${msg.type()}: ${msg.text()}`));
  }

  /** Registers `name` through the form; resolves once the lobby shows. */
  async register(name, password = 'correct horse battery') {
    this.name = name;
    await this.page.fill('#username', name);
    await this.page.fill('#password', password);
    await this.page.click('#register');
    await this.connected();
  }

  async guest() {
    await this.page.click('#guest');
    await this.connected();
    this.name = (await this.page.textContent('#whoami')).replace('signed in as ', '');
  }

  async connected() {
    await this.page.waitForSelector('#status[data-state="connected"]');
  }

  /** Creates a room (optional code and seats) and waits until we are in it. */
  async create({ code, seats } = {}) {
    if (code) await this.page.fill('#create-code', code);
    if (seats) await this.page.fill('#create-seats', String(seats));
    await this.page.click('#create');
    await this.inCall();
    return this.page.textContent('#room-code');
  }

  async join(code) {
    await this.page.fill('#join-code', code);
    await this.page.click('#join');
  }

  async inCall() {
    await this.page.waitForSelector('#call:not([hidden])');
    await this.page.waitForSelector('body[data-peer-id]');
    this.peerId = await this.page.getAttribute('body', 'data-peer-id');
    return this.peerId;
  }

  /** The invite link the page shows. */
  inviteLink() {
    return this.page.getAttribute('#room-link', 'href');
  }

  tile(peerId) {
    return `.tile[data-peer="${peerId}"]`;
  }

  /** Waits until the connection to `peerId` is up and its data channel open. */
  async connectedTo(peerId) {
    await this.page.waitForSelector(`#peers li[data-peer="${peerId}"][data-state="connected"][data-channel="open"]`);
  }

  /** The notice's code and text once it shows `code`. */
  async notice(code) {
    await this.page.waitForSelector(`#notice[data-code="${code}"]:not([hidden])`);
    return this.page.textContent('#notice');
  }

  /**
   * Waits until the video of `peerId`'s tile has a size and plays: its
   * decoded frame count advances by `frames` within the wait.
   */
  async decodes(peerId, frames = 5) {
    const selector = `${this.tile(peerId)} video`;
    await this.page.waitForFunction((sel) => document.querySelector(sel)?.videoWidth > 0, selector);
    const first = await this.page.evaluate((sel) => {
      const v = document.querySelector(sel);
      return { width: v.videoWidth, height: v.videoHeight, count: v.getVideoPlaybackQuality().totalVideoFrames };
    }, selector);
    await this.page.waitForFunction(
      ({ sel, count, frames }) => document.querySelector(sel).getVideoPlaybackQuality().totalVideoFrames >= count + frames,
      { sel: selector, count: first.count, frames },
    );
    return first;
  }

  async chat(text) {
    await this.page.fill('#chat-input', text);
    await this.page.click('#chat-send');
  }

  /** Waits for a chat line from `fromPeerId` with `text`; returns the sender's name shown. */
  async chatFrom(fromPeerId, text) {
    const handle = await this.page.waitForFunction(
      ({ from, text }) =>
        [...document.querySelectorAll(`#chat-log li[data-from="${from}"]:not([data-system])`)].find(
          (li) => li.querySelector('.text').textContent === text,
        )?.querySelector('.from').textContent,
      { from: fromPeerId, text },
    );
    return handle.jsonValue();
  }

  /** Sends a file (`{ name, mimeType, buffer }`) to every connected peer. */
  async sendFile(file) {
    await this.page.setInputFiles('#file-input', file);
    await this.page.click('#file-send');
  }

  /**
   * Waits for the transfer row (`direction` 'in' or 'out', with `peerId`)
   * to reach `status` ('done' or 'failed'); returns its text and SHA-256.
   */
  async transfer(direction, peerId, status = 'done') {
    const selector = `#transfers li[data-direction="${direction}"][data-peer="${peerId}"]`;
    await this.page.waitForSelector(`${selector}[data-status="done"], ${selector}[data-status="failed"]`, { timeout: 60_000 });
    const row = await this.page.$eval(selector, (li) => ({
      status: li.dataset.status,
      title: li.querySelector('.title').textContent,
      sha256: li.querySelector('.sha').textContent.replace('sha256 ', ''),
      value: li.querySelector('progress').value,
      max: li.querySelector('progress').max,
    }));
    assert.equal(row.status, status, row.title);
    return row;
  }

  /** Clicks the received file's save link; resolves with its bytes. */
  async download(peerId) {
    const [download] = await Promise.all([
      this.page.waitForEvent('download'),
      this.page.click(`#transfers li[data-direction="in"][data-peer="${peerId}"] a[download]`),
    ]);
    const path = await download.path();
    const { readFile } = await import('node:fs/promises');
    return { name: download.suggestedFilename(), bytes: await readFile(path) };
  }

  async screenshot(name) {
    mkdirSync(RESULTS, { recursive: true });
    const path = join(RESULTS, name);
    // Clicks (a download link) may have scrolled the page.
    await this.page.evaluate(() => window.scrollTo(0, 0));
    await this.page.screenshot({ path });
    return path;
  }

  /** The signaling events seen on the WebSocket: `direction` 'in' or 'out', named `event`. */
  signals(direction, event) {
    return this.frames.filter(([d, e]) => d === direction && e === event).map(([, , data]) => data);
  }

  /** Fails on uncaught exceptions in the page. */
  assertNoPageErrors() {
    assert.deepEqual(this.errors, [], `uncaught errors in the page of ${this.name}:\n${this.console.join('\n')}`);
  }

  async close() {
    if (this.sharedContext) await this.page.close();
    else await this.context.close();
  }
}

/** Signs `user` in with a pasted token. */
export async function pasteToken(user, token) {
  await user.page.fill('#token', token);
  await user.page.click('#use-token');
}
