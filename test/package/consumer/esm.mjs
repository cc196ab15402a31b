// The consumer's ESM registrant: runs worker.mjs on both runtimes, prints one JSON line of the exits.
import { Supervisor } from 'bgworkers';

const sup = await Supervisor.start({ logger: false });
const exits = {};
try {
  for (const runtime of ['thread', 'process']) {
    exits[runtime] = await sup.register({ entry: new URL('./worker.mjs', import.meta.url), data: { runtime, from: 'esm' }, runtime }).waitForShutdown();
  }
} finally {
  await sup.shutdown();
}
process.stdout.write(`${JSON.stringify({ exits, registrantPid: process.pid })}\n`);
