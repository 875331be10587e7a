// Every process a test starts is tracked here and killed when the test
// process exits, however it exits; scripts/browser-test.sh also kills what a
// crashed run left behind (the pid files in $BROWSER_TEST_PID_DIR).

import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => process.exit(130));
}

/**
 * Spawns `cmd` with `args`; `child.output()` is the tail of its stdout and
 * stderr, `child.exited` resolves with `{ code, signal }`, `child.stop()`
 * sends SIGTERM, then SIGKILL after `graceMs`.
 */
export function start(cmd, args, { env, graceMs = 3000, stdin = 'ignore' } = {}) {
  const child = spawn(cmd, args, { env, stdio: [stdin, 'pipe', 'pipe'] });
  running.add(child);
  const pidFile = process.env.BROWSER_TEST_PID_DIR && child.pid ? join(process.env.BROWSER_TEST_PID_DIR, String(child.pid)) : null;
  if (pidFile) writeFileSync(pidFile, '');
  let output = '';
  const listeners = new Set();
  const keep = (chunk) => {
    output = (output + chunk.toString()).slice(-64_000);
    for (const l of listeners) l(output);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.once('error', (err) => keep(`\n${err}\n`));
  child.exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      if (pidFile) rmSync(pidFile, { force: true });
      resolve({ code, signal });
    }),
  );
  child.output = () => output;
  /** Resolves with the output once `pattern` shows in it; rejects after `ms`. */
  child.waitFor = (pattern, ms = 30_000) =>
    new Promise((resolve, reject) => {
      const check = (out) => {
        if (!pattern.test(out)) return false;
        cleanup();
        resolve(out);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no ${pattern} from ${cmd} within ${ms} ms; output:\n${output}`));
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      if (!check(output)) listeners.add(check);
    });
  child.stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exited;
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const result = await child.exited;
    clearTimeout(killer);
    return result;
  };
  return child;
}
