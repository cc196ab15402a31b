// Quickstart: a fan-out sum over 4 workers in one scope. Run `npm run build`, then
// `node examples/quickstart/main.mjs`. The README shows this file.
import { Supervisor, checkForInterrupts } from 'bgworkers';

const N = 100_000_000;
const PARTS = 4;
const supervisor = await Supervisor.start();
try {
  const total = await supervisor.scope(async (scope) => {
    const handles = [];
    for (let p = 0; p < PARTS; p++) {
      const data = { from: (p * N) / PARTS, to: ((p + 1) * N) / PARTS };
      // precious: a failed part aborts the scope; ephemeral: no part outlives the scope.
      handles.push(scope.register({ entry: new URL('./sum.mjs', import.meta.url), data, precious: true, ephemeral: true }));
    }
    const exits = await Promise.all(handles.map((h) => h.waitForShutdown()));
    checkForInterrupts(); // throws PreciousWorkerDiedError if a part failed or crashed
    return exits.reduce((sum, exit) => sum + exit.result, 0);
  });
  console.log(`sum of 0..${N - 1} = ${total} (expected ${(N * (N - 1)) / 2})`);
} finally {
  await supervisor.shutdown();
}
