// The native peer: the `webrtc-client` CLI (client-rs/README.md "CLI") with
// --json, one JSON object per line on stdout.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './gateway.js';
import { start } from './processes.js';

const TARGET = process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target');
export const CLI_BIN = process.env.WEBRTC_CLIENT_BIN ?? join(TARGET, 'debug', 'webrtc-client');

/** One running `webrtc-client --json <args>` signed in with `token`. */
export class Cli {
  constructor(gateway, token, args) {
    if (!existsSync(CLI_BIN)) throw new Error(`no webrtc-client at ${CLI_BIN} (cargo build -p webrtc-signaling-client)`);
    this.child = start(CLI_BIN, ['--json', ...args], {
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        RUST_LOG: process.env.RUST_LOG ?? 'warn',
        WEBRTC_URL: gateway.url,
        WEBRTC_TOKEN: token,
      },
      stdin: 'pipe',
    });
    this.events = [];
    this.waiters = [];
    let partial = '';
    this.child.stdout.on('data', (chunk) => {
      partial += chunk.toString();
      const lines = partial.split('\n');
      partial = lines.pop();
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          this.events.push(JSON.parse(line));
        } catch {
          continue; // a progress bar or a human line
        }
        this.flush();
      }
    });
    this.child.exited.then(() => this.flush(true));
  }

  flush(ended = false) {
    for (const w of [...this.waiters]) {
      const found = this.events.find((e) => !e.seen && w.match(e));
      if (found) {
        found.seen = true;
        w.resolve(found);
      } else if (ended) {
        w.reject(new Error(`webrtc-client exited before ${w.what}; output:\n${this.child.output()}`));
      } else {
        continue;
      }
      this.waiters.splice(this.waiters.indexOf(w), 1);
    }
  }

  /** The next unseen event named `name` (and matching `fields`). */
  next(name, fields = {}, ms = 60_000) {
    const match = (e) => e.event === name && Object.entries(fields).every(([k, v]) => e[k] === v);
    const what = `${name} ${JSON.stringify(fields)}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`no ${what} from webrtc-client within ${ms} ms; events: ${JSON.stringify(this.events)}\n${this.child.output()}`));
      }, ms);
      const done = (e) => {
        clearTimeout(timer);
        resolve(e);
      };
      const fail = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      this.waiters.push({ match, what, resolve: done, reject: fail });
      this.flush(this.child.exitCode !== null);
    });
  }

  /** A chat line on stdin (`join`). */
  say(line) {
    this.child.stdin.write(`${line}\n`);
  }

  async exit() {
    const result = await this.child.exited;
    return result.code;
  }

  async stop() {
    this.child.stdin.end();
    await this.child.stop();
  }
}
