// Builds the demo page into dist/ (what the gateway serves at /demo/):
// src/main.js and socket.io-client bundled by esbuild into app.js, plus the
// page and its style sheet as they are.
//
//   npm run build            minified, with a source map
//   npm run build -- --dev   readable output

import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const out = join(here, 'dist');
const dev = process.argv.includes('--dev');

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await esbuild.build({
  entryPoints: [join(src, 'main.js')],
  outfile: join(out, 'app.js'),
  bundle: true,
  format: 'esm',
  target: ['chrome111', 'firefox115', 'safari16.4'],
  minify: !dev,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
for (const file of ['index.html', 'style.css']) await copyFile(join(src, file), join(out, file));
console.log(`built the demo page into ${out}`);
