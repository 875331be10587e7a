// node --test reporter: a per-file table of passed / failed / skipped tests
// (suites not counted). run.sh prints it after the spec output.
import { relative } from 'node:path';

export default async function* countReporter(source) {
  const files = new Map();
  const row = (file) => {
    const key = file ? relative(process.cwd(), file) : '(unknown)';
    if (!files.has(key)) files.set(key, { pass: 0, fail: 0, skip: 0 });
    return files.get(key);
  };
  for await (const { type, data } of source) {
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    if (data.details?.type === 'suite') {
      // A skipped suite never registers its tests: count it once, as skipped.
      if (data.skip) row(data.file).skip += 1;
      continue;
    }
    const r = row(data.file);
    if (data.skip || data.todo) r.skip += 1;
    else if (type === 'test:pass') r.pass += 1;
    else r.fail += 1;
  }
  const total = { pass: 0, fail: 0, skip: 0 };
  let out = '\n| file | passed | failed | skipped |\n|---|---:|---:|---:|\n';
  for (const [file, r] of [...files].sort()) {
    out += `| ${file} | ${r.pass} | ${r.fail} | ${r.skip} |\n`;
    for (const k of Object.keys(total)) total[k] += r[k];
  }
  out += `| **total** | **${total.pass}** | **${total.fail}** | **${total.skip}** |\n`;
  yield out;
}
