// Figure: resident memory per idle worker (G12: within 1.1x of a bare Worker).
//
// Each measurement is a fresh process (fixtures/memory-child.mjs) that starts COUNT idle workers one after the
// other and reports (RSS after, settled − RSS before) / COUNT: ours registers fixtures/idle.mjs with a running
// supervisor (the supervisor's own fixed cost is measured before, and reported apart); the baseline starts bare
// `new Worker()`s of an ESM module that posts a message and waits. Processes alternate ours / bare.
import { fork } from 'node:child_process';
import { check, fixture, interleave, ratioOf, result, series, within } from './lib.mjs';

export const name = 'memory';
export const title = 'RSS per idle worker';
export const target = 'RSS per idle registered worker <= 1.1x a bare Worker';

const CHILD_TIMEOUT_MS = 60_000;
const MB = 2 ** 20;

function measure(mode, count) {
  const child = fork(fixture('memory-child.mjs'), [mode, String(count)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let out;
  child.on('message', (m) => (out = m));
  const done = new Promise((resolve, reject) =>
    child.once('exit', (code, signal) => (code === 0 && out ? resolve(out) : reject(new Error(`bench: memory-child ${mode} exited with ${signal ?? code}`)))),
  );
  return within(done, CHILD_TIMEOUT_MS, `memory-child ${mode}`);
}

export async function run({ quick }) {
  const count = quick ? 3 : 20;
  const supervisorCost = [];
  const s = await interleave(
    {
      ours: async () => {
        const m = await measure('ours', count);
        supervisorCost.push(m.supervisor / MB);
        return m.perWorker / MB;
      },
      bare: async () => (await measure('bare', count)).perWorker / MB,
    },
    { warmup: 0, reps: quick ? 1 : 5 },
  );
  const ours = {
    worker: series('idle registered worker (thread)', 'MB', s.ours),
    supervisor: series('supervisor, fixed (Supervisor.start(), not per worker)', 'MB', supervisorCost),
  };
  const baselines = { bare: series('idle bare Worker (ESM module)', 'MB', s.bare) };
  return result({
    unit: 'MB',
    ours,
    baselines,
    checks: [check('per idle worker / bare Worker', ratioOf(ours.worker, baselines.bare), 'x', '<=', 1.1)],
    notes: [`${count} workers per process, each measurement a fresh process; RSS read 1 s after the last worker started.`],
  });
}
