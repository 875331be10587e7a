// Starts and stops the implementation under test. Black-box: only env vars in,
// only HTTP / Socket.IO out.
//
//   TARGET=reference  node conformance/reference/dist/main.js   (default)
//   TARGET=gateway    the Rust binary at $GATEWAY_BIN
//   TARGET=cluster    3 gateways ($GATEWAY_BIN) sharing a redis-server of their
//                     own, behind a round-robin balancer (sticky per session)
//   TARGET=url        an existing deployment at $TARGET_URL (default config only)

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startBalancer } from './balancer.js';

const here = dirname(fileURLToPath(import.meta.url));

export const TARGET = process.env.TARGET || 'reference';
export const URL_MODE = TARGET === 'url';
export const JWT_SECRET = URL_MODE
  ? process.env.JWT_SECRET
  : process.env.CONFORMANCE_JWT_SECRET || 'conformance-suite-secret-0123456789';
/** The allowed browser origin of the target (CLIENT_URL). */
export const ALLOWED_ORIGIN = URL_MODE
  ? process.env.TARGET_ORIGIN || 'http://localhost:5173'
  : 'http://localhost:5173';

export const SKIP_SETTINGS = URL_MODE
  ? 'needs its own target instance with non-default settings; TARGET=url runs only default-config tests'
  : false;

if (!['reference', 'gateway', 'cluster', 'url'].includes(TARGET)) {
  throw new Error(`TARGET must be reference, gateway, cluster or url, got "${TARGET}"`);
}
if (URL_MODE && (!process.env.TARGET_URL || !JWT_SECRET)) {
  throw new Error('TARGET=url needs TARGET_URL and JWT_SECRET');
}

const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
});

function freePort() {
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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function answers(url) {
  try {
    const res = await fetch(`${url}/socket.io/?EIO=4&transport=polling`, {
      signal: AbortSignal.timeout(1000),
    });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

function command(target = TARGET) {
  if (target === 'gateway' || target === 'cluster') {
    const bin = process.env.GATEWAY_BIN;
    if (!bin) throw new Error('TARGET=gateway needs GATEWAY_BIN');
    return [resolve(bin), []];
  }
  return [process.execPath, [join(here, '..', 'reference', 'dist', 'main.js')]];
}

/**
 * Starts a fresh target with `settings` (env var names of docs/PROTOCOL.md) on a
 * free 127.0.0.1 port and waits until the Socket.IO endpoint answers.
 * In url mode only the default configuration exists: `settings` must be empty.
 * `target` (reference | gateway | cluster) overrides `TARGET`, for a run that
 * needs both (the differential fuzzer).
 * @returns {Promise<{url: string, stop: () => Promise<void>}>}
 */
export async function startTarget(settings = {}, { target = TARGET } = {}) {
  if (target === 'url') {
    if (Object.keys(settings).length > 0) {
      throw new Error('TARGET=url cannot change settings; guard the test with SKIP_SETTINGS');
    }
    return { url: process.env.TARGET_URL.replace(/\/+$/, ''), stop: async () => {} };
  }
  if (target === 'cluster') return startCluster(settings);
  return startProcess(command(target), settings);
}

/** The nodes of the cluster target, and how fast they notice a dead one. */
const CLUSTER_NODES = 3;
const CLUSTER_SETTINGS = { NODE_HEARTBEAT: '0.5s', NODE_TIMEOUT: '1.5s' };

/**
 * A redis-server on a free port, then three gateways on it with `settings`,
 * then the balancer in front of them: what a client sees is one URL.
 */
async function startCluster(settings) {
  const redis = await startProcess(
    ['redis-server', ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']],
    {},
    { portArgs: (port) => ['--port', String(port)], ready: redisAnswers },
  );
  const nodes = [];
  try {
    const redisUrl = redis.url.replace('http://', 'redis://');
    for (let i = 0; i < CLUSTER_NODES; i++) {
      nodes.push(startProcess(command(), { ...CLUSTER_SETTINGS, REDIS_URL: redisUrl, ...settings }));
    }
    const started = await Promise.all(nodes);
    const balancer = await startBalancer(
      started.map((n) => ({ host: '127.0.0.1', port: Number(new URL(n.url).port) })),
    );
    const stop = async () => {
      await balancer.stop();
      await Promise.all(started.map((n) => n.stop()));
      await redis.stop();
    };
    return { url: balancer.url, stop, output: () => started.map((n) => n.output()).join('\n') };
  } catch (error) {
    await Promise.allSettled(nodes.map((n) => n.then((t) => t.stop())));
    await redis.stop();
    throw error;
  }
}

async function redisAnswers(url) {
  const port = Number(new URL(url).port);
  return new Promise((r) => {
    const s = createConnection({ host: '127.0.0.1', port }, () => s.write('PING\r\n'));
    s.setTimeout(1000, () => {
      s.destroy();
      r(false);
    });
    s.on('data', (d) => {
      s.destroy();
      r(d.toString().startsWith('+PONG'));
    });
    s.on('error', () => r(false));
  });
}

/**
 * Starts one process (`[cmd, args]`) on a free port with the gateway's
 * environment plus `settings`, and waits until it answers.
 */
async function startProcess([cmd, baseArgs], settings, { portArgs = () => [], ready = answers } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'conformance-'));
  let lastError;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const env = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      ...(process.env.RUST_LOG ? { RUST_LOG: process.env.RUST_LOG } : {}),
      HOST: '127.0.0.1',
      PORT: String(port),
      JWT_SECRET,
      DATA_DIR: dataDir,
      ...settings,
    };
    // A setting given as undefined is removed (e.g. to test an alias).
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    const args = [...baseArgs, ...portArgs(port)];
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    // run.sh kills whatever is still listed here when it exits.
    const pidFile = process.env.CONFORMANCE_PID_DIR && child.pid
      ? join(process.env.CONFORMANCE_PID_DIR, String(child.pid))
      : undefined;
    if (pidFile) writeFileSync(pidFile, '');
    let output = '';
    const keep = (chunk) => {
      output = (output + chunk.toString()).slice(-8000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let exited = false;
    let exitStatus;
    const exit = new Promise((r) => child.once('exit', (code, signal) => {
      exited = true;
      exitStatus = { code, signal };
      running.delete(child);
      if (pidFile) rmSync(pidFile, { force: true });
      r({ code, signal });
    }));
    child.once('error', (err) => keep(String(err)));

    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    while (!exited && Date.now() < deadline) {
      if (await ready(url)) {
        const stop = async () => {
          if (!exited) {
            child.kill('SIGTERM');
            const killer = setTimeout(() => child.kill('SIGKILL'), 3000);
            await exit;
            clearTimeout(killer);
          }
          rmSync(dataDir, { recursive: true, force: true });
        };
        return { url, stop, output: () => output, exit: () => (exited ? exitStatus : undefined) };
      }
      await sleep(50);
    }
    if (!exited) {
      child.kill('SIGKILL');
      await exit;
    }
    lastError = new Error(
      `${cmd} did not answer on ${url} (settings ${JSON.stringify(settings)}):\n${output}`,
    );
    // A port race is the only reason worth a retry.
    if (!/EADDRINUSE|address already in use/i.test(output)) break;
  }
  rmSync(dataDir, { recursive: true, force: true });
  throw lastError;
}

/**
 * Starts a target for this test file (or describe block) right away, so that
 * the instances of one file boot concurrently, and registers the hooks that
 * wait for it and stop it. `handle.url` is set once the `before` hook has run.
 * `settings` may be a function returning (a promise of) the settings, for a
 * target that needs something prepared first (a database to point it at).
 */
export function useTarget(settings = {}) {
  const handle = { url: undefined, stop: async () => {} };
  const isDefault = typeof settings !== 'function' && Object.keys(settings).length === 0;
  if (URL_MODE && !isDefault) return handle;
  if (isDefault && process.env.CONFORMANCE_DEFAULT_URL) {
    // run.sh shares one default-config instance between all files.
    before(() => {
      handle.url = process.env.CONFORMANCE_DEFAULT_URL;
    });
    return handle;
  }
  const starting = Promise.resolve()
    .then(() => (typeof settings === 'function' ? settings() : settings))
    .then(startTarget)
    .then(
      (t) => ({ t }),
      (error) => ({ error }),
    );
  before(async () => {
    const { t, error } = await starting;
    if (error) throw error;
    handle.url = t.url;
  });
  after(async () => {
    const { t } = await starting;
    if (t) await t.stop();
  });
  return handle;
}
