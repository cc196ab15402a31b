/**
 * G19 under SIGKILL of a *worker*: a foreman in this process, with `runtime: 'process'` workers, drains N jobs
 * whose handler appends `<id> <attempt> <pid>` to a starts log, spins, then appends `<id> <attempt>` to a done log
 * (O_APPEND lines). fast-check draws up to 3 kill points (after k done lines) and, for each, which live worker
 * (by its pid in the starts log) to SIGKILL. The foreman goes on draining (a new pool generation, or a replaced
 * worker); the test waits until the queue holds nothing queued, scheduled or running, then stops the foreman.
 * - at-most-once: no job starts twice (a job whose worker died has an unknown outcome: it is dead, never re-run);
 *   every job is completed or dead (completed + dead = N), and every dead one was on a worker that died.
 * - at-least-once: every job is done, none dead; a job starts again only if each earlier attempt ran on a worker
 *   that died (the one killed, or one stopped with it); maxAttempts is high enough that kills never make one dead.
 * Both hold whether a worker's death fails every job of its pool (precious pool) or only the job it ran.
 * Seeds: printed; replay with FC_SEED=<seed>. Schedules: FOREMAN_KILL_RUNS (default 3 per delivery).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Foreman, SqliteQueue, type Delivery } from '../../dist/foreman.js';
import { childPids, loggedJobIds, until } from '../helpers.js';

const JOBS = fileURLToPath(new URL('../fixtures/foreman/jobs.mjs', import.meta.url));
const N = 150;
const RUNS = Number(process.env['FOREMAN_KILL_RUNS'] ?? 3);
const SEED = process.env['FC_SEED'] === undefined ? Date.now() % 2 ** 31 : Number(process.env['FC_SEED']);

interface Start {
  readonly id: string;
  readonly attempt: number;
  readonly pid: number;
}

interface Kill {
  /** Kill once this many jobs logged done. */
  readonly at: number;
  /** Which live worker: an index into them, most recently started first. */
  readonly pick: number;
}

const totals = { schedules: 0, jobs: 0, kills: 0, startedTwice: 0, doneTwice: 0, dead: 0, lostAtLeastOnce: 0 };

function starts(file: string): Start[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => {
    const [id, attempt, pid] = l.split(' ');
    return { id: id!, attempt: Number(attempt), pid: Number(pid) };
  });
}

/** Whether `pid` is a live (non-zombie) child of this process: one /proc read, so a kill lands soon after a start. */
function liveChild(pid: number): boolean {
  try {
    const rest = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
    return Number(rest[1]) === process.pid && rest[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Live worker processes that ran a job, most recently started first. */
function liveWorkers(file: string): number[] {
  const out: number[] = [];
  for (const s of starts(file).reverse()) if (!out.includes(s.pid) && liveChild(s.pid)) out.push(s.pid);
  return out;
}

async function schedule(delivery: Delivery, kills: readonly Kill[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bgw-foreman-kill-worker-'));
  const log = join(dir, 'done');
  const startLog = join(dir, 'starts');
  writeFileSync(log, '');
  writeFileSync(startLog, '');
  const queue = SqliteQueue.open(join(dir, 'jobs.db'));
  try {
    const ids = await queue.enqueueMany(Array.from({ length: N }, () => ({ name: 'startAppend', payload: { file: log, starts: startLog, ms: 4 }, maxAttempts: 50 })));
    const foreman = await Foreman.start({
      queue, handlers: JOBS, concurrency: 2, delivery, runtime: 'process', logger: false, backoff: { baseMs: 1, maxBackoffMs: 20 },
    });
    const killed: number[] = [];
    let alive = new Set<number>(); // worker processes still alive once drained: the ones that did not die
    try {
      for (const kill of [...kills].sort((a, b) => a.at - b.at)) {
        let pids: number[] = [];
        await until(() => loggedJobIds(log).length >= kill.at && (pids = liveWorkers(startLog)).length > 0, `${kill.at} jobs done and a live worker`, 20_000);
        const pid = pids[kill.pick % pids.length]!;
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      }
      const deadline = performance.now() + 30_000;
      for (;;) {
        await foreman.drained();
        const s = await queue.stats();
        if (s.queued + s.scheduled + s.running === 0) break;
        if (performance.now() > deadline) throw new Error(`queue not drained: ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 5)); // a retry scheduled a few ms ahead: drained() does not wait for it
      }
    } finally {
      alive = new Set(childPids());
      await foreman.stop();
    }
    const started = new Map<string, Start[]>();
    for (const s of starts(startLog)) started.set(s.id, [...(started.get(s.id) ?? []), s]);
    const done = new Map<string, number>();
    for (const id of loggedJobIds(log)) done.set(id, (done.get(id) ?? 0) + 1);
    const stats = await queue.stats();
    const dead = await queue.dead({ limit: N });
    totals.schedules++;
    totals.jobs += N;
    totals.kills += killed.length;
    totals.startedTwice += [...started.values()].filter((a) => a.length > 1).length;
    totals.doneTwice += [...done.values()].filter((n) => n > 1).length;
    totals.dead += dead.length;
    expect(killed.length).toBe(kills.length);
    expect(stats).toMatchObject({ queued: 0, running: 0, scheduled: 0 });
    expect(foreman.stats().running).toBe(0);
    if (delivery === 'at-most-once') {
      expect([...started].filter(([, a]) => a.length > 1)).toEqual([]);
      expect([...done].filter(([, n]) => n > 1)).toEqual([]);
      expect(foreman.stats().completed + dead.length).toBe(N);
      expect(stats.dead).toBe(dead.length);
      // Every dead job was on a worker that died (it may not have started its handler yet); every other one is done.
      const deadIds = new Set(dead.map((d) => d.id));
      expect(dead.filter((d) => (started.get(d.id) ?? []).some((s) => alive.has(s.pid)))).toEqual([]);
      expect(ids.filter((id) => !deadIds.has(id) && !done.has(id))).toEqual([]);
    } else {
      totals.lostAtLeastOnce += ids.filter((id) => !done.has(id)).length;
      expect(ids.filter((id) => !done.has(id))).toEqual([]);
      expect(dead).toEqual([]);
      expect(foreman.stats().completed).toBe(N);
      // Run again only after its worker died: every attempt but the last ran on a process that is gone.
      const rerunOnLiveWorker = [...started].filter(([, a]) => a.slice(0, -1).some((s) => alive.has(s.pid)));
      expect(rerunOnLiveWorker).toEqual([]);
    }
  } finally {
    await queue.close();
  }
}

describe('Foreman under SIGKILL of a worker process', () => {
  console.log(`foreman-kill-worker: FC_SEED=${SEED} (${RUNS} schedules per delivery)`);
  afterAll(() => console.log(`foreman-kill-worker: ${JSON.stringify(totals)}`));
  for (const delivery of ['at-most-once', 'at-least-once'] as const) {
    it(`${delivery}: workers killed at random points while the foreman drains`, { timeout: 30_000 + RUNS * 20_000 }, async () => {
      const kill = fc.record({ at: fc.integer({ min: 0, max: N / 2 }), pick: fc.nat(3) });
      await fc.assert(
        fc.asyncProperty(fc.array(kill, { minLength: 1, maxLength: 3 }), (kills) => schedule(delivery, kills)),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
    });
  }
});
