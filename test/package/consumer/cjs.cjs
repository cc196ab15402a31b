// The consumer's CommonJS registrant: require('bgworkers'), runs worker.cjs on both runtimes, prints one JSON line.
'use strict';
const { join } = require('node:path');
const { Supervisor } = require('bgworkers');

(async () => {
  const sup = await Supervisor.start({ logger: false });
  const exits = {};
  try {
    for (const runtime of ['thread', 'process']) {
      exits[runtime] = await sup.register({ entry: join(__dirname, 'worker.cjs'), data: { runtime, from: 'cjs' }, runtime }).waitForShutdown();
    }
  } finally {
    await sup.shutdown();
  }
  process.stdout.write(`${JSON.stringify({ exits, registrantPid: process.pid })}\n`);
})().catch((err) => {
  process.stderr.write(`cjs.cjs: ${err && err.stack}\n`);
  process.exitCode = 1;
});
