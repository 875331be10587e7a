// Starts one default-config target and keeps it up until SIGTERM/SIGINT.
// run.sh uses it so that every test file shares one default instance
// (CONFORMANCE_DEFAULT_URL); files still start their own instances for
// non-default settings. Prints the URL on stdout once the target answers.
import { startTarget } from './target.js';

const target = await startTarget({});
process.stdout.write(`${target.url}\n`);
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await target.stop();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setInterval(() => {}, 1 << 30);
