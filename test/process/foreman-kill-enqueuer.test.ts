/**
 * G19 under SIGKILL of an *enqueuer*: a producer child (test/fixtures/foreman/enqueue-kill-child.mjs) enqueues a
 * fast-check plan of batches (enqueue() for one job, enqueueMany() for more; some keyed, so the upsert path runs)
 * and logs each batch's ids once its call returned. A foreman in this process drains concurrently; the child is
 * SIGKILLed once k batches were logged (k drawn too), likely inside its next batch. Then:
 * - the file is not corrupted: a new connection's `PRAGMA integrity_check` is ok, and a batch enqueued through it
 *   after the kill is drained by the same foreman;
 * - every job whose enqueue returned before the kill ran exactly once (the foreman and its workers live, so
 *   neither delivery may lose or repeat one); nothing is dead, queued or running;
 * - all-or-nothing: the batches that ran are plan[0..m] for one m (reported ones, plus at most the one the kill
 *   interrupted after its commit), each with every job it committed (a keyed pair leaves its last one), and none
 *   of any later batch.
 * Seeds: printed; replay with FC_SEED=<seed>. Schedules: FOREMAN_KILL_RUNS (default 3 per delivery).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Foreman, SqliteQueue, type Delivery } from '../../dist/foreman.js';
import { loggedJobIds, until } from '../helpers.js';

const CHILD = fileURLToPath(new URL('../fixtures/foreman/enqueue-kill-child.mjs', import.meta.url));
const JOBS = fileURLToPath(new URL('../fixtures/foreman/jobs.mjs', import.meta.url));
const RUNS = Number(process.env['FOREMAN_KILL_RUNS'] ?? 3);
const SEED = process.env['FC_SEED'] === undefined ? Date.now() % 2 ** 31 : Number(process.env['FC_SEED']);

interface Batch {
  readonly size: number;
  readonly keyed: boolean;
}

const totals = { schedules: 0, killedMidPlan: 0, batches: 0, reported: 0, jobsRun: 0, interruptedCommitted: 0, runTwice: 0, lost: 0, partial: 0 };

const lines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');

/** The indices a batch leaves in the queue: all, but the keyed pair's first one is replaced by its last. */
function expectedIndices(b: Batch): number[] {
  return Array.from({ length: b.size }, (_, x) => x).filter((x) => !(b.keyed && b.size > 1 && x === b.size - 2));
}

async function drain(foreman: Foreman, queue: SqliteQueue): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    await foreman.drained();
    const s = await queue.stats();
    if (s.queued + s.scheduled + s.running === 0) return;
    if (performance.now() > deadline) throw new Error(`queue not drained: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function schedule(delivery: Delivery, plan: readonly Batch[], killAfter: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bgw-foreman-kill-enqueuer-'));
  const db = join(dir, 'jobs.db');
  const [committed, log, startLog] = ['committed', 'done', 'starts'].map((f) => join(dir, f)) as [string, string, string];
  for (const f of [committed, log, startLog]) writeFileSync(f, '');
  const queue = SqliteQueue.open(db);
  try {
    const foreman = await Foreman.start({ queue, handlers: JOBS, concurrency: 2, delivery, logger: false });
    try {
      const child = fork(CHILD, [db, committed, JSON.stringify(plan), log, startLog], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      let exit: NodeJS.Signals | number | null | undefined;
      const exited = new Promise<void>((resolve) => child.on('exit', (code, signal) => resolve(void (exit = signal ?? code))));
      const k = killAfter % plan.length;
      try {
        await until(() => {
          if (exit !== undefined) throw new Error(`enqueuer exited (${String(exit)}) before the kill`);
          return lines(committed).length >= k;
        }, `${k} batches committed`, 20_000);
        child.kill('SIGKILL');
        await exited;
        expect(exit).toBe('SIGKILL');
      } catch (err) {
        child.kill('SIGKILL');
        throw new Error(`${String(err)}\nenqueuer stderr:\n${stderr}`);
      }

      // The file after the kill: intact, and the foreman still drains what is enqueued through a new connection.
      const raw = new Database(db, { readonly: true });
      expect(raw.pragma('integrity_check', { simple: true })).toBe('ok');
      raw.close();
      const other = SqliteQueue.open(db);
      const after = await other.enqueueMany(Array.from({ length: 5 }, (_, x) => ({ name: 'startAppend', payload: { file: log, starts: startLog, tag: `after:${x}` } })));
      await other.close();
      await drain(foreman, queue);
      expect(await queue.stats()).toEqual({ queued: 0, running: 0, scheduled: 0, dead: 0 });
      expect(foreman.stats()).toMatchObject({ running: 0, failed: 0, dead: 0 });

      const reported = lines(committed).map((l) => l.split(' ').slice(1));
      const started = new Map<string, number>();
      for (const l of lines(startLog)) {
        const id = l.split(' ')[0]!;
        started.set(id, (started.get(id) ?? 0) + 1);
      }
      const done = new Set(loggedJobIds(log));
      const want = [...new Set([...reported.flat(), ...after])];
      const twice = [...started].filter(([, n]) => n > 1).map(([id]) => id);
      const lost = want.filter((id) => !done.has(id));
      // Which jobs of which batch ran, from the tags.
      const ran = new Map<number, number[]>();
      for (const l of lines(startLog)) {
        const [b, x] = l.split(' ')[3]!.split(':');
        if (b === 'after') continue;
        ran.set(Number(b), [...(ran.get(Number(b)) ?? []), Number(x)]);
      }
      const m = Math.max(-1, ...ran.keys());
      const partial = [...ran].filter(([b, xs]) => JSON.stringify([...xs].sort((p, q) => p - q)) !== JSON.stringify(expectedIndices(plan[b]!)));
      totals.schedules++;
      totals.killedMidPlan += m + 1 < plan.length ? 1 : 0;
      totals.batches += m + 1;
      totals.reported += reported.length;
      totals.jobsRun += started.size;
      totals.interruptedCommitted += m + 1 - reported.length;
      totals.runTwice += twice.length;
      totals.lost += lost.length;
      totals.partial += partial.length + (m + 1 - ran.size);
      expect(twice).toEqual([]);
      expect(lost).toEqual([]);
      expect(partial).toEqual([]);
      expect(ran.size).toBe(m + 1); // batches 0..m, no gap
      expect(m + 1 - reported.length).toBeGreaterThanOrEqual(0);
      expect(m + 1 - reported.length).toBeLessThanOrEqual(1);
    } finally {
      await foreman.stop();
    }
  } finally {
    await queue.close();
  }
}

describe('Foreman under SIGKILL of an enqueuer', () => {
  console.log(`foreman-kill-enqueuer: FC_SEED=${SEED} (${RUNS} schedules per delivery)`);
  afterAll(() => console.log(`foreman-kill-enqueuer: ${JSON.stringify(totals)}`));
  for (const delivery of ['at-most-once', 'at-least-once'] as const) {
    it(`${delivery}: an enqueuer killed at a random point while the foreman drains`, { timeout: 30_000 + RUNS * 20_000 }, async () => {
      const plan = fc.array(fc.record({ size: fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 100 })), keyed: fc.boolean() }), { minLength: 1, maxLength: 40, size: 'medium' });
      await fc.assert(
        fc.asyncProperty(plan, fc.nat(39), (p, k) => schedule(delivery, p, k)),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
    });
  }
});
