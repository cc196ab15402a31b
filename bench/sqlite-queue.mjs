// SqliteQueue figures (standalone, not yet a bench/run.mjs figure): `node bench/sqlite-queue.mjs`
// - enqueueMany: 100k trivial jobs in one call (jobs/s; G20 target ≥ 50,000/s);
// - claim+complete in-process: the 100k drained with claim(64) batches, each job completed (jobs/s), twice:
//   awaiting each complete in turn (one commit per job), and completing a batch's jobs concurrently (one group
//   commit per batch, as a foreman with many jobs finishing together gets);
// - wake-up latency: an enqueue by another process → the attached session's onWakeup listener, 200 times,
//   one at a time (p50/p99 ms; both clocks are wall clocks on one machine: performance.timeOrigin + now()).
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SqliteQueue } from '../dist/foreman.js';
import { newOwner } from '../dist/foreman/owner.js';

const N = Number(process.env.N ?? 100_000);
const PINGS = Number(process.env.PINGS ?? 200);
const dir = mkdtempSync(join(tmpdir(), 'bgw-bench-sqlite-'));
const path = join(dir, 'jobs.db');
const logger = { warn() {}, info() {} };
try {
  const queue = SqliteQueue.open(path);
  const jobs = Array.from({ length: N }, (_, i) => ({ name: 'noop', payload: i }));
  let t = performance.now();
  await queue.enqueueMany(jobs);
  const enqueueMs = performance.now() - t;

  const session = await queue.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: 30_000, logger });
  async function drain(concurrent) {
    const t0 = performance.now();
    let done = 0;
    for (;;) {
      const batch = await session.claim(64);
      if (batch.length === 0) break;
      if (concurrent) done += (await Promise.all(batch.map((j) => session.complete(j)))).filter(Boolean).length;
      else for (const j of batch) if (await session.complete(j)) done++;
    }
    if (done !== N) throw new Error(`drained ${done} of ${N}`);
    return performance.now() - t0;
  }
  const drainMs = await drain(false);
  await queue.enqueueMany(jobs);
  const drainGroupMs = await drain(true);

  const child = fork(fileURLToPath(new URL('./fixtures/sqlite-enqueuer.mjs', import.meta.url)), [path]);
  await new Promise((r) => child.once('message', r));
  const lat = [];
  let onWake = () => {};
  session.onWakeup(() => onWake());
  for (let i = 0; i < PINGS; i++) {
    const woke = new Promise((r) => (onWake = () => r(performance.timeOrigin + performance.now())));
    const sent = new Promise((r) => child.once('message', r));
    child.send('go');
    const [at, from] = await Promise.all([woke, sent]);
    lat.push(at - from);
    onWake = () => {};
    await Promise.all((await session.claim(64)).map((j) => session.complete(j)));
  }
  child.send('exit');
  await new Promise((r) => child.once('exit', r));
  lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  console.log(JSON.stringify({
    enqueueManyJobsPerSec: Math.round(N / (enqueueMs / 1000)),
    claimCompleteJobsPerSec: Math.round(N / (drainMs / 1000)),
    claimCompleteGroupedJobsPerSec: Math.round(N / (drainGroupMs / 1000)),
    wakeupMs: { p50: +q(0.5).toFixed(3), p99: +q(0.99).toFixed(3), max: +lat[lat.length - 1].toFixed(3), n: lat.length },
  }));
  await session.detach();
  await queue.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
