// The real gateway binary on a free 127.0.0.1 port, serving the built page.

import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start } from './processes.js';

const here = dirname(fileURLToPath(import.meta.url));
export const WEB = resolve(here, '..', '..');
export const ROOT = resolve(WEB, '..');
const TARGET = process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target');
export const GATEWAY_BIN = process.env.GATEWAY_BIN ?? join(TARGET, 'debug', 'gateway');
export const DEMO_DIR = join(WEB, 'dist');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

async function healthy(url) {
  try {
    const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.ok;
  } catch {
    return false;
  }
}

/**
 * A gateway with `settings` (its environment variables). `crash()` kills it,
 * `launch()` starts it again on the same port with the same secret and data;
 * `stop()` ends it.
 */
export class Gateway {
  static async start(settings = {}) {
    if (!existsSync(GATEWAY_BIN)) throw new Error(`no gateway binary at ${GATEWAY_BIN} (cargo build -p gateway)`);
    if (!existsSync(join(DEMO_DIR, 'index.html'))) throw new Error(`the page is not built in ${DEMO_DIR} (npm run build)`);
    const gw = new Gateway(settings);
    gw.port = await freePort();
    await gw.launch();
    return gw;
  }

  constructor(settings) {
    this.settings = settings;
    this.secret = randomBytes(24).toString('hex');
    this.dataDir = mkdtempSync(join(tmpdir(), 'browser-test-gateway-'));
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async launch() {
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
      HOST: '127.0.0.1',
      PORT: String(this.port),
      JWT_SECRET: this.secret,
      DATA_DIR: this.dataDir,
      DEMO_DIR,
      SHUTDOWN_GRACE: '1s',
      ...this.settings,
    };
    this.child = start(GATEWAY_BIN, [], { env });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) break;
      if (await healthy(this.url)) return;
      await sleep(50);
    }
    await this.child.stop();
    throw new Error(`the gateway did not start on ${this.url}:\n${this.child.output()}`);
  }

  /** SIGKILL, as a crash: clients see their connections drop. `launch()` brings it back. */
  async crash() {
    this.child.kill('SIGKILL');
    await this.child.exited;
  }

  async stop() {
    await this.child?.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Registers a user through the REST API; resolves with `{ username, token }`. */
export async function account(gateway, username, password = 'correct horse battery') {
  const reg = await fetch(`${gateway.url}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (reg.status !== 201) throw new Error(`register ${username}: ${reg.status} ${await reg.text()}`);
  const { api_key: apiKey } = await reg.json();
  const res = await fetch(`${gateway.url}/token`, { method: 'POST', headers: { 'x-api-key': apiKey } });
  if (!res.ok) throw new Error(`token for ${username}: ${res.status} ${await res.text()}`);
  const { token } = await res.json();
  return { username, token, apiKey };
}
