#!/usr/bin/env node
// The differential fuzzer: random and mutated event sequences, sent with the
// same socket.io-client clients to the NestJS reference and to the gateway,
// compared by what every client observes (events, acks, error codes,
// disconnects, and who receives nothing). See conformance/README.md, "The
// differential fuzzer".
//
//   node fuzz/fuzz.js [--seed N] [--cases N | --case I] [--first I] [--seconds S] [--steps N] [--roles N]
//                     [--profile NAME[,NAME…]] [--include NAME]… [--replay FILE]… [--no-shrink]
//                     [--keep-going] [--out DIR]
//
// Exits 1 on a divergence, after printing the seed, the shrunk sequence and
// both targets' observations, and writing the sequence to DIR for --replay.

import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { JWT_SECRET, startTarget } from '../lib/target.js';
import { execute } from './execute.js';
import { caseSeed, generate } from './generate.js';
import { KNOWN } from './known.js';
import { firstDifference, normalize, show } from './observe.js';
import { errorEvents, PROFILES } from './settings.js';

const here = dirname(fileURLToPath(import.meta.url));


const { values: opt } = parseArgs({
  options: {
    seed: { type: 'string' },
    case: { type: 'string' },
    first: { type: 'string' },
    cases: { type: 'string' },
    seconds: { type: 'string' },
    steps: { type: 'string', default: '24' },
    roles: { type: 'string', default: '3' },
    include: { type: 'string', multiple: true, default: [] },
    replay: { type: 'string', multiple: true, default: [] },
    regressions: { type: 'boolean', default: true },
    shrink: { type: 'boolean', default: true },
    'keep-going': { type: 'boolean', default: false },
    profile: { type: 'string', default: 'default' },
    'shrink-seconds': { type: 'string', default: '180' },
    out: { type: 'string', default: join(here, 'out') },
    verbose: { type: 'boolean', short: 'v', default: false },
  },
  allowNegative: true,
});

for (const name of opt.include) {
  if (!KNOWN[name]) throw new Error(`--include ${name}: not one of ${Object.keys(KNOWN).join(', ')}`);
}
// Several profiles (`--profile default,compat`): one run of this script each.
if (opt.profile.includes(',')) {
  const args = [];
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--profile') i += 1;
    else if (!argv[i].startsWith('--profile=')) args.push(argv[i]);
  }
  let status = 0;
  for (const profile of opt.profile.split(',')) {
    const run = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...args, '--profile', profile], { stdio: 'inherit' });
    if (run.status !== 0) status = 1;
  }
  process.exit(status);
}

const SETTINGS = PROFILES[opt.profile];
if (!SETTINGS) throw new Error(`--profile ${opt.profile}: not one of ${Object.keys(PROFILES).join(', ')}`);
const ERROR_EVENTS = errorEvents(SETTINGS);
const seed = opt.seed !== undefined ? Number(opt.seed) >>> 0 : Math.floor(Math.random() * 2 ** 32);
const maxCases = opt.cases !== undefined ? Number(opt.cases) : opt.seconds !== undefined ? Infinity : 50;
const deadline = opt.seconds !== undefined ? Date.now() + Number(opt.seconds) * 1000 : Infinity;
const genOpts = {
  steps: Number(opt.steps),
  roles: Number(opt.roles),
  include: opt.include,
  maxPayload: Number(SETTINGS.MAX_PAYLOAD),
};

if (!process.env.GATEWAY_BIN) process.env.GATEWAY_BIN = resolve(here, '..', '..', 'target', 'debug', 'gateway');

let executions = 0;
/** Runs `steps` on both targets at once, each with the same fresh room-code prefix. */
async function runBoth(targets, steps) {
  executions += 1;
  const prefix = `${String(executions).padStart(6, '0')}-`;
  const opts = { prefix, secret: JWT_SECRET };
  const [ref, gw] = await Promise.all([execute(targets.reference.url, steps, opts), execute(targets.gateway.url, steps, opts)]);
  const a = normalize(ref, prefix, ERROR_EVENTS);
  const b = normalize(gw, prefix, ERROR_EVENTS);
  return { reference: a, gateway: b, diff: firstDifference(a, b) };
}

/** Removes steps (then halves floods) while the sequence still diverges. */
async function shrink(targets, steps) {
  const until = Date.now() + Number(opt['shrink-seconds']) * 1000;
  let current = steps;
  let runs = 0;
  const diverges = async (candidate) => {
    if (Date.now() > until) return false;
    runs += 1;
    return (await runBoth(targets, candidate)).diff !== undefined;
  };
  let chunk = Math.max(1, Math.ceil(current.length / 2));
  for (;;) {
    let removed = false;
    for (let i = 0; i < current.length; ) {
      const candidate = [...current.slice(0, i), ...current.slice(i + chunk)];
      if (candidate.length > 0 && (await diverges(candidate))) {
        current = candidate;
        removed = true;
      } else {
        i += chunk;
      }
    }
    if (chunk === 1 && !removed) break;
    if (!removed) chunk = Math.max(1, Math.floor(chunk / 2));
  }
  for (let i = 0; i < current.length; i++) {
    while (current[i].op === 'flood' && current[i].n > 1) {
      const candidate = current.map((s, j) => (j === i ? { ...s, n: Math.floor(s.n / 2) } : s));
      if (!(await diverges(candidate))) break;
      current = candidate;
    }
  }
  return { steps: current, runs, timedOut: Date.now() > until };
}

/** A step as a line: symbols shown as what they stand for. */
function describe(step, i) {
  const sym = (v) => {
    if (Array.isArray(v)) return v.map(sym);
    if (v === null || typeof v !== 'object') return v;
    if ('$undefined' in v) return '<undefined>';
    if ('$peer' in v) return `<${v.$peer}>`;
    if ('$stale' in v) return `<${v.$stale}'s previous id>`;
    if ('$room' in v) return `~${v.$room}${v.len ? ` padded to ${v.len}` : ''}${v.case ? ` ${v.case}-cased` : ''}`;
    if ('$gen' in v) return `<gen${v.$gen + 1}>`;
    if ('$repeat' in v) return `${JSON.stringify(v.$repeat)} repeated to ${v.bytes} UTF-8 bytes`;
    if ('$nest' in v) return `{"a":…} nested ${v.$nest} deep`;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, sym(x)]));
  };
  const head = `${String(i + 1).padStart(3)}. ${step.c} ${step.op}`;
  switch (step.op) {
    case 'connect':
      return `${head} (${step.transport}) ${JSON.stringify(sym(step.cred))}`;
    case 'disconnect':
      return head;
    default: {
      const args = step.args.map((a) => JSON.stringify(sym(a)) ?? 'undefined').join(', ');
      return `${head}${step.op === 'flood' ? ` ×${step.n}` : ''} ${JSON.stringify(step.event)} ${args}${step.ack ? ' (with ack)' : ''}`;
    }
  }
}

function report({ label, steps, outcome, original, shrinkInfo, file, seedCase }) {
  const lines = [];
  lines.push('');
  lines.push(`DIVERGENCE ${label}`);
  if (shrinkInfo) {
    lines.push(`  shrunk from ${original.length} to ${steps.length} steps in ${shrinkInfo.runs} replays${shrinkInfo.timedOut ? ' (shrink time ran out)' : ''}`);
  }
  const profile = opt.profile === 'default' ? '' : ` --profile ${opt.profile}`;
  lines.push(`  replay: node conformance/fuzz/fuzz.js${profile} --replay ${file}`);
  if (seedCase) lines.push(`  or the whole case: node conformance/fuzz/fuzz.js${profile} --seed ${seedCase.seed} --case ${seedCase.index}`);
  lines.push('  steps:');
  steps.forEach((s, i) => lines.push(`    ${describe(s, i)}`));
  const d = outcome.diff;
  lines.push(`  first difference: client ${d.role}, observation ${d.index + 1}`);
  lines.push(`    reference: ${show(d.reference)}`);
  lines.push(`    gateway:   ${show(d.gateway)}`);
  lines.push('  observations (reference | gateway; * marks a difference):');
  const roles = [...new Set([...Object.keys(outcome.reference), ...Object.keys(outcome.gateway)])].sort();
  for (const role of roles) {
    const a = outcome.reference[role] ?? [];
    const b = outcome.gateway[role] ?? [];
    lines.push(`    ${role}:`);
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const same = JSON.stringify(a[i]) === JSON.stringify(b[i]);
      if (same) lines.push(`        ${show(a[i])}`);
      else {
        lines.push(`      * reference: ${show(a[i])}`);
        lines.push(`      * gateway:   ${show(b[i])}`);
      }
    }
  }
  console.log(lines.join('\n'));
}

function save(name, data) {
  mkdirSync(opt.out, { recursive: true });
  const file = join(opt.out, `${name}.json`);
  writeFileSync(file, `${JSON.stringify(data, null, 1)}\n`);
  return file;
}

async function main() {
  const started = Date.now();
  const [reference, gateway] = await Promise.all([
    startTarget(SETTINGS, { target: 'reference' }),
    startTarget(SETTINGS, { target: 'gateway' }),
  ]);
  const targets = { reference, gateway };
  let failures = 0;
  try {
    // Saved sequences first: each one is a fixed divergence that must stay fixed.
    const replays = [...opt.replay];
    if (opt.regressions && opt.replay.length === 0) {
      const dir = join(here, 'regressions');
      for (const f of readdirSync(dir).sort()) if (f.endsWith('.json')) replays.push(join(dir, f));
    }
    for (const file of replays) {
      const saved = JSON.parse(readFileSync(file, 'utf8'));
      if ((saved.profile ?? 'default') !== opt.profile && opt.replay.length === 0) continue;
      const outcome = await runBoth(targets, saved.steps);
      if (outcome.diff) {
        failures += 1;
        report({ label: `replaying ${file}`, steps: saved.steps, outcome, file });
      } else if (opt.verbose || opt.replay.length > 0) {
        console.log(`ok: ${file} (${saved.steps.length} steps) observed alike`);
      }
    }
    if (opt.replay.length > 0) return failures;

    console.log(`fuzz: seed ${seed}, ${genOpts.steps} steps × ${genOpts.roles} clients per case, profile ${opt.profile} ${JSON.stringify(SETTINGS)}${opt.include.length ? `, including ${opt.include.join(', ')}` : ''}`);
    let cases = 0;
    let events = 0;
    const first = Number(opt.case ?? opt.first ?? 0);
    const last = opt.case !== undefined ? first + 1 : first + maxCases;
    for (let index = first; index < last && Date.now() < deadline; index++) {
      const steps = generate(caseSeed(seed, index), genOpts);
      cases += 1;
      events += steps.reduce((n, s) => n + (s.op === 'flood' ? s.n : s.op === 'emit' ? 1 : 0), 0);
      const outcome = await runBoth(targets, steps);
      if (opt.verbose) console.log(`case ${index}: ${outcome.diff ? 'DIVERGES' : 'alike'}`);
      if (!outcome.diff) continue;
      // A target that died is the finding: its last words, then stop.
      const dead = Object.entries(targets).filter(([, t]) => t.exit());
      if (dead.length > 0) {
        failures += 1;
        for (const [name, t] of dead) {
          console.log(`\nTARGET DIED: the ${name} exited ${JSON.stringify(t.exit())} during seed ${seed}, case ${index}`);
          console.log(`  the cases since the start ran against it: --seed ${seed} --first 0 --cases ${index + 1}`);
          console.log(`  its last output:\n${t.output().trimEnd().split('\n').map((l) => `    ${l}`).join('\n')}`);
        }
        break;
      }

      failures += 1;
      const again = await runBoth(targets, steps);
      const label = `seed ${seed}, case ${index}${again.diff ? '' : ' (did NOT reproduce on a second run: timing-dependent)'}`;
      let final = { steps, outcome, shrinkInfo: undefined };
      if (opt.shrink && again.diff) {
        const shrunk = await shrink(targets, steps);
        const confirmed = await runBoth(targets, shrunk.steps);
        if (confirmed.diff) final = { steps: shrunk.steps, outcome: confirmed, shrinkInfo: shrunk };
      }
      const file = save(`divergence-${seed}-${index}`, {
        seed,
        case: index,
        profile: opt.profile,
        settings: SETTINGS,
        steps: final.steps,
        observed: { reference: final.outcome.reference, gateway: final.outcome.gateway },
      });
      report({ label, steps: final.steps, outcome: final.outcome, original: steps, shrinkInfo: final.shrinkInfo, file, seedCase: { seed, index } });
      if (!opt['keep-going']) break;
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`fuzz: ${cases} cases, ${events} client events per target, ${executions} runs per target, ${secs} s: ${failures ? 'DIVERGED' : 'no divergence'}`);
    return failures;
  } finally {
    await Promise.all([reference.stop(), gateway.stop()]);
  }
}

const failures = await main();
process.exit(failures ? 1 : 0);
