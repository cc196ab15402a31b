/**
 * The Foreman's blast radius (G19): a job that crashes its worker (process.exit) fails that attempt alone. A job
 * running on the other worker at that moment completes on its first attempt, and so do the jobs claimed ahead
 * and queued in the pool; the crashing job is retried (at-least-once) or dead as 'lost' (at-most-once: it may
 * have done its work, so it never runs again). A handlers module that does not load makes its jobs dead
 * ('handlers-failed') with one worker start per job at most, logged, and no worker left starting. Both delivery
 * modes, both runtimes. Orderings by file latches (fixtures/foreman/blast.mjs) and job events, never by sleeping.
 */
import dc from 'node:diagnostics_channel';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Foreman, SqliteQueue, type Delivery, type ForemanOptions } from '../../dist/foreman.js';
import { RUNTIMES, startSupervisor, until } from '../helpers.js';

const BLAST = fileURLToPath(new URL('../fixtures/foreman/blast.mjs', import.meta.url));
const BROKEN = fileURLToPath(new URL('../fixtures/foreman/broken.mjs', import.meta.url));
const DELIVERIES: Delivery[] = ['at-least-once', 'at-most-once'];

interface JobEnd {
  id: string;
  attempt: number;
  outcome: string;
  reason?: string;
  error?: { code?: unknown };
}

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

/** Subscribes to a diagnostics channel for the rest of the test. */
function listen(name: string, fn: (m: unknown) => void): void {
  dc.subscribe(name, fn);
  cleanup.push(() => void dc.unsubscribe(name, fn));
}

/** Every `bgworkers:job:end`, and a wait for the first one matching a predicate. */
function jobEnds(): { seen: JobEnd[]; of: (id: string) => JobEnd[]; when: (pred: (e: JobEnd) => boolean, what: string) => Promise<void> } {
  const seen: JobEnd[] = [];
  listen('bgworkers:job:end', (m) => void seen.push(m as JobEnd));
  return {
    seen,
    of: (id) => seen.filter((e) => e.id === id),
    when: (pred, what) => until(() => seen.some(pred), what, 15_000),
  };
}

async function setup(options: Partial<ForemanOptions>): Promise<{ foreman: Foreman; queue: SqliteQueue; dir: string; log: string; supervisor: Awaited<ReturnType<typeof startSupervisor>> }> {
  const dir = mkdtempSync(join(tmpdir(), 'bgw-blast-'));
  const log = join(dir, 'log');
  writeFileSync(log, '');
  const queue = SqliteQueue.open(join(dir, 'jobs.db'));
  cleanup.push(() => queue.close());
  const supervisor = await startSupervisor();
  const foreman = await Foreman.start({ queue, handlers: BLAST, concurrency: 2, logger: false, supervisor, backoff: { baseMs: 1, maxBackoffMs: 5 }, ...options });
  cleanup.push(() => foreman.stop());
  return { foreman, queue, dir, log, supervisor };
}

function lines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').sort();
}

describe.each(RUNTIMES)('%s runtime', (runtime) => {
  describe.each(DELIVERIES)('%s', (delivery) => {
    it('a job that crashes its worker fails alone: the job running on the other worker completes on its first attempt', { timeout: 30_000 }, async () => {
      const warned: { obj: Record<string, unknown>; msg: string }[] = [];
      const logger = { warn: (obj: Record<string, unknown>, msg: string) => warned.push({ obj, msg }), info: () => {}, error: () => {} };
      const { foreman, queue, dir, log, supervisor } = await setup({ runtime, delivery, logger: logger as never });
      const ends = jobEnds();
      const p = { dir, log };
      const innocent = await queue.enqueue('innocent', p);
      const crash = await queue.enqueue('crash', p, { maxAttempts: 2 });
      // Both running, one per worker: the innocent job blocks until released, the crashing one until told to exit.
      await until(() => existsSync(join(dir, 'innocent-started')) && existsSync(join(dir, 'crash-started')), 'both jobs started');
      writeFileSync(join(dir, 'crash-now'), '');
      const once = delivery === 'at-most-once';
      await ends.when((e) => e.id === crash && e.outcome === (once ? 'lost' : 'retry'), 'the crashed attempt recorded');
      // The crash is recorded while the innocent job still runs (it has not been released): it was not hit.
      expect(ends.of(innocent)).toEqual([]);
      expect(foreman.stats()).toMatchObject(once ? { failed: 0, retried: 0, dead: 1, lost: 1 } : { failed: 1, retried: 1, dead: 0 });
      expect(ends.of(crash)[0]!.error?.code).toBe('ERR_POOL_WORKER_DIED');
      expect(warned[0]).toEqual({ obj: expect.objectContaining({ job: crash, name: 'crash', exit: 'crashed' }), msg: expect.stringContaining('worker died') });
      expect(warned.slice(1)).toEqual(once ? [{ obj: expect.objectContaining({ job: crash }), msg: expect.stringContaining('lost') }] : []);
      writeFileSync(join(dir, 'release'), '');
      await ends.when((e) => e.id === innocent, 'the innocent job ended');
      if (!once) await ends.when((e) => e.id === crash && e.outcome === 'completed', 'the crashing job retried');
      expect(ends.of(innocent).map((e) => [e.outcome, e.attempt])).toEqual([['completed', 1]]);
      expect(ends.of(crash).map((e) => [e.outcome, e.attempt])).toEqual(once ? [['lost', 1]] : [['retry', 1], ['completed', 2]]);
      expect(lines(log)).toEqual(once ? [`innocent ${innocent} 1`] : [`crash ${crash} 2`, `innocent ${innocent} 1`]);
      expect(foreman.stats()).toMatchObject(once
        ? { claimed: 2, completed: 1, failed: 0, retried: 0, dead: 1, lost: 1, running: 0 }
        : { claimed: 3, completed: 2, failed: 1, retried: 1, dead: 0, running: 0 });
      expect(supervisor.metrics().preciousDeaths).toBe(0);
    });
  });

  it('at-least-once: jobs claimed ahead and queued in the pool when a worker crashes run once, on their first attempt', { timeout: 30_000 }, async () => {
    const { foreman, queue, dir, log } = await setup({ runtime, delivery: 'at-least-once' });
    const ends = jobEnds();
    let claims = 0;
    listen('bgworkers:job:claim', () => void claims++);
    const p = { dir, log };
    const innocent = await queue.enqueue('innocent', p);
    const crash = await queue.enqueue('crash', p, { maxAttempts: 2 });
    await until(() => existsSync(join(dir, 'innocent-started')) && existsSync(join(dir, 'crash-started')), 'both jobs started');
    // Both workers are held: these are claimed ahead and wait in the pool (thread pools: some sent ahead to the
    // busy workers, the crashing one's among them), none can start before the crash.
    const ahead = await queue.enqueueMany(Array.from({ length: 6 }, () => ({ name: 'append', payload: p })));
    await until(() => claims === 8, 'the jobs behind claimed ahead');
    expect(foreman.stats().running).toBe(8);
    expect(lines(log)).toEqual([]);
    writeFileSync(join(dir, 'crash-now'), '');
    await ends.when((e) => e.id === crash && e.outcome === 'retry', 'the crashed attempt recorded');
    writeFileSync(join(dir, 'release'), '');
    await until(() => ends.seen.length >= 9, 'every job ended', 15_000);
    for (const id of [innocent, ...ahead]) expect(ends.of(id).map((e) => [e.outcome, e.attempt])).toEqual([['completed', 1]]);
    expect(ends.of(crash).map((e) => [e.outcome, e.attempt])).toEqual([['retry', 1], ['completed', 2]]);
    expect(lines(log)).toEqual([...ahead.map((id) => `append ${id} 1`), `crash ${crash} 2`, `innocent ${innocent} 1`].sort());
    expect(foreman.stats()).toMatchObject({ claimed: 9, completed: 8, failed: 1, retried: 1, dead: 0, running: 0 });
  });

  it('a handlers module that does not load: its jobs are dead (handlers-failed), logged, at most one worker start per job', { timeout: 30_000 }, async () => {
    const warned: { obj: unknown; msg: string }[] = [];
    const logger = { warn: (obj: unknown, msg: string) => warned.push({ obj, msg }), info: () => {}, error: () => {} };
    let starts = 0;
    listen('bgworkers:worker:register', (m) => void ((m as { kind?: string }).kind === 'foreman' && starts++));
    const { foreman, queue, supervisor } = await setup({ runtime, handlers: BROKEN, logger: logger as never });
    await queue.enqueueMany(Array.from({ length: 5 }, () => ({ name: 'append', payload: {} })));
    await foreman.drained(); // resolves only once every job's outcome is recorded: none is retried on and on
    const dead = await queue.dead();
    expect(dead.map((d) => d.reason)).toEqual(Array(5).fill('handlers-failed'));
    expect(foreman.stats()).toMatchObject({ claimed: 5, dead: 5, failed: 0, completed: 0, running: 0 });
    expect(starts).toBeGreaterThan(0);
    expect(starts).toBeLessThanOrEqual(5);
    // Nothing left starting or running: a failed worker is not replaced until a job needs one.
    expect(supervisor.workers().filter((w) => w.kind === 'foreman')).toEqual([]);
    const lines = warned.filter((w) => w.msg.includes('handlers module did not load'));
    expect(lines.length).toBe(starts);
    expect((lines[0]!.obj as { err?: Error }).err?.message).toBe('broken handlers module');
    expect(foreman.state).toBe('running');
  });
});
