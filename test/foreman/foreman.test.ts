/**
 * The Foreman on real SqliteQueue files (G19): retries then dead with the error revived; unknown name, bad payload
 * and a handlers module that fails to load are dead at once with the loop still running; a timed-out job is
 * terminated and its retry starts only after the old run ended; leases of a busy job are renewed (it runs once);
 * stop() grace then force, release of forced-off at-least-once jobs, loss of at-most-once ones; drained(); wake-up
 * from another process (latency printed); the process runtime.
 */
import { fork } from 'node:child_process';
import dc from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Foreman, ForemanRunningError, JobFailedError, SqliteQueue, type ForemanOptions, type JobQueue } from '../../dist/foreman.js';
import { startSupervisor, until } from '../helpers.js';

const JOBS = fileURLToPath(new URL('../fixtures/foreman/jobs.mjs', import.meta.url));
const BROKEN = fileURLToPath(new URL('../fixtures/foreman/broken.mjs', import.meta.url));
const ENQUEUER = fileURLToPath(new URL('../fixtures/foreman/enqueuer.mjs', import.meta.url));

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'bgw-foreman-'));
}

function lines(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
}

async function openQueue(dir = tmp()): Promise<{ queue: JobQueue; db: string; dir: string }> {
  const db = join(dir, 'jobs.db');
  const queue = SqliteQueue.open(db);
  cleanup.push(() => queue.close());
  return { queue, db, dir };
}

async function startForeman(options: Partial<ForemanOptions> & Pick<ForemanOptions, 'queue'>): Promise<Foreman> {
  const supervisor = await startSupervisor();
  const foreman = await Foreman.start({ handlers: JOBS, concurrency: 2, logger: false, supervisor, backoff: { baseMs: 1, maxBackoffMs: 5 }, ...options });
  cleanup.push(() => foreman.stop());
  return foreman;
}

/** Starts both pool workers (they start on demand): a job's timeout counts from when it was sent to a worker. */
async function warm(queue: JobQueue, foreman: Foreman): Promise<void> {
  await queue.enqueueMany([{ name: 'ok' }, { name: 'ok' }, { name: 'ok' }, { name: 'ok' }]);
  await foreman.drained();
}

/** Resolves with the `bgworkers:job:end` payload of the n-th job end matching `pred`. */
function jobEnds(pred: (m: { id: string; outcome: string }) => boolean = () => true): { ended: (n: number) => Promise<void>; seen: { id: string; outcome: string; reason?: string }[] } {
  const seen: { id: string; outcome: string; reason?: string }[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const ch = dc.channel('bgworkers:job:end');
  const listener = (m: unknown): void => {
    const msg = m as { id: string; outcome: string };
    if (!pred(msg)) return;
    seen.push(msg);
    for (const w of waiters.filter((x) => seen.length >= x.n)) w.resolve();
  };
  ch.subscribe(listener);
  cleanup.push(async () => void ch.unsubscribe(listener));
  return {
    seen,
    ended: (n) => (seen.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

describe('Foreman on SqliteQueue', () => {
  it('a throwing job is retried with backoff, then dead with its last error revived (name, message, stack, code)', { timeout: 20_000 }, async () => {
    const { queue } = await openQueue();
    const ends = jobEnds();
    const foreman = await startForeman({ queue });
    const id = await queue.enqueue('fail', {}, { maxAttempts: 3 });
    await ends.ended(3);
    expect(ends.seen.map((e) => e.outcome)).toEqual(['retry', 'retry', 'dead']);
    expect(foreman.stats()).toMatchObject({ claimed: 3, failed: 3, retried: 2, dead: 1, completed: 0, running: 0 });
    const [dead] = await queue.dead();
    expect(dead).toMatchObject({ id, name: 'fail', attempts: 3, reason: 'failed' });
    expect(dead!.error).toBeInstanceOf(JobFailedError);
    const cause = (dead!.error as JobFailedError).cause as Error & { code?: unknown };
    expect(cause.name).toBe('RangeError');
    expect(cause.message).toBe('attempt 3 failed');
    expect(cause.code).toBe('E_FIXTURE');
    expect(cause.stack).toContain('jobs.mjs');
  });

  it('unknown name and bad payload are dead at once; the loop goes on', { timeout: 20_000 }, async () => {
    const { queue, db, dir } = await openQueue();
    const out = join(dir, 'out');
    writeFileSync(out, '');
    const unknown = await queue.enqueue('no-such-job', {}, { maxAttempts: 5 });
    const bad = await queue.enqueue('append', { file: out }, { maxAttempts: 5 });
    const raw = new Database(db);
    raw.prepare('UPDATE bgworkers_jobs SET payload = ? WHERE id = ?').run('{not json', Number(bad));
    raw.close();
    const foreman = await startForeman({ queue });
    await foreman.drained();
    const dead = await queue.dead();
    expect(Object.fromEntries(dead.map((d) => [d.id, [d.reason, d.attempts]]))).toEqual({ [unknown]: ['unknown-name', 1], [bad]: ['bad-payload', 1] });
    expect(((dead.find((d) => d.id === unknown)!.error as JobFailedError).cause as { code?: unknown }).code).toBe('ERR_UNKNOWN_JOB');
    await queue.enqueue('append', { file: out });
    await foreman.drained();
    expect(lines(out)).toHaveLength(1);
    expect(foreman.stats()).toMatchObject({ dead: 2, completed: 1, failed: 0 });
  });

  it('a handlers module that fails to load: its jobs are dead at once (handlers-failed); the loop goes on', { timeout: 20_000 }, async () => {
    const { queue } = await openQueue();
    await queue.enqueueMany([{ name: 'ok' }, { name: 'ok' }]);
    const foreman = await startForeman({ queue, handlers: BROKEN });
    await foreman.drained();
    await queue.enqueue('ok');
    await foreman.drained();
    const dead = await queue.dead();
    expect(dead.map((d) => d.reason)).toEqual(['handlers-failed', 'handlers-failed', 'handlers-failed']);
    expect((dead[0]!.error as JobFailedError).cause).toBeInstanceOf(Error);
    expect(foreman.stats()).toMatchObject({ claimed: 3, dead: 3 });
    expect(foreman.state).toBe('running');
  });

  it('a timed-out job that ends late: its retry starts only after the old run ended', { timeout: 20_000 }, async () => {
    const { queue, dir } = await openQueue();
    const file = join(dir, 'marks');
    writeFileSync(file, '');
    // The spin ignores its signal and ends by itself after 400 ms, long before its worker would be stopped.
    const foreman = await startForeman({ queue, timeoutMs: { spin: 50 }, abortGraceMs: 10_000 });
    await warm(queue, foreman);
    const ends = jobEnds();
    await queue.enqueue('spin', { file, ms: 400 }, { maxAttempts: 2 });
    await ends.ended(2);
    expect(lines(file)).toEqual(['start 1', 'end 1', 'start 2', 'end 2']);
    expect(foreman.stats()).toMatchObject({ failed: 2, retried: 1, dead: 1, completed: 4 });
    const [dead] = await queue.dead();
    expect(((dead!.error as JobFailedError).cause as { code?: unknown }).code).toBe('ERR_TASK_TIMEOUT');
  });

  it('a timed-out job that ignores its signal is terminated with its worker', { timeout: 20_000 }, async () => {
    const { queue, dir } = await openQueue();
    const file = join(dir, 'marks');
    writeFileSync(file, '');
    const foreman = await startForeman({ queue, timeoutMs: { spin: 50 }, abortGraceMs: 50 });
    await warm(queue, foreman);
    const ends = jobEnds();
    await queue.enqueue('spin', { file, ms: 60_000 }, { maxAttempts: 2 });
    await ends.ended(2); // 60 s spins: only a terminated worker lets this end within the test's timeout
    expect(lines(file)).toEqual(['start 1', 'start 2']);
    expect(foreman.stats()).toMatchObject({ failed: 2, dead: 1, running: 0, completed: 4 });
  });

  it('leases are renewed from the registrant: a job blocking its worker for 3x leaseMs runs once and stays unclaimable', { timeout: 20_000 }, async () => {
    const { queue, db, dir } = await openQueue();
    const file = join(dir, 'marks');
    writeFileSync(file, '');
    const leaseMs = 300;
    const foreman = await startForeman({ queue, leaseMs });
    const ends = jobEnds();
    const id = await queue.enqueue('spin', { file, ms: 3 * leaseMs });
    // Foreman-less check, on its own connection: while the job runs, its claim never lapses.
    const raw = new Database(db, { readonly: true });
    const row = raw.prepare('SELECT state, lease_expires_at AS lease FROM bgworkers_jobs WHERE id = ?');
    const checks: { state: string; live: boolean }[] = [];
    await until(() => lines(file).length > 0, 'the job started');
    while (!lines(file).includes('end 1')) {
      const r = row.get(Number(id)) as { state: string; lease: number } | undefined;
      if (r !== undefined) checks.push({ state: r.state, live: r.lease > Date.now() });
      await new Promise((r) => setTimeout(r, 20));
    }
    raw.close();
    await ends.ended(1);
    expect(lines(file)).toEqual(['start 1', 'end 1']);
    expect(checks.length).toBeGreaterThan(5);
    expect(checks.filter((c) => !(c.state === 'running' && c.live))).toEqual([]);
    expect(foreman.stats()).toMatchObject({ completed: 1, failed: 0, claimed: 1 });
  });

  it('stop() waits gracefulTimeoutMs for running jobs: one that ends in time completes', { timeout: 20_000 }, async () => {
    const { queue, dir } = await openQueue();
    const file = join(dir, 'marks');
    writeFileSync(file, '');
    const foreman = await startForeman({ queue, gracefulTimeoutMs: 10_000 });
    await queue.enqueue('spin', { file, ms: 300 });
    await until(() => lines(file).length > 0, 'the job started');
    const stopped = foreman.stop();
    expect(foreman.stop()).toBe(stopped);
    await stopped;
    expect(foreman.state).toBe('stopped');
    expect(lines(file)).toEqual(['start 1', 'end 1']);
    expect(foreman.stats()).toMatchObject({ completed: 1, released: 0 });
    expect(await queue.stats()).toMatchObject({ queued: 0, running: 0 });
  });

  it('stop() forces at-least-once jobs off after the grace and releases them: a new foreman runs them at once', { timeout: 20_000 }, async () => {
    const { queue, dir } = await openQueue();
    const file = join(dir, 'marks');
    writeFileSync(file, '');
    // A lease far longer than the test: only the release lets the second foreman claim the job.
    const first = await startForeman({ queue, gracefulTimeoutMs: 100, abortGraceMs: 50, leaseMs: 600_000 });
    const id = await queue.enqueue('stuck', { file });
    await until(() => lines(file).length === 1, 'the job started');
    await first.stop();
    expect(first.stats()).toMatchObject({ released: 1, running: 0 });
    expect(await queue.stats()).toMatchObject({ queued: 1, running: 0 });
    await startForeman({ queue, gracefulTimeoutMs: 100, abortGraceMs: 50, leaseMs: 600_000 });
    await until(() => lines(file).length === 2, 'the second foreman started the job');
    expect(lines(file)).toEqual([`start ${id}`, `start ${id}`]);
  });

  it('stop() forces at-most-once jobs off after the grace: dead as lost, logged', { timeout: 20_000 }, async () => {
    const { queue, dir } = await openQueue();
    const file = join(dir, 'marks');
    writeFileSync(file, '');
    const warned: unknown[] = [];
    const logger = { warn: (o: unknown) => warned.push(o), info: () => {}, error: () => {} };
    const foreman = await startForeman({ queue, delivery: 'at-most-once', gracefulTimeoutMs: 100, abortGraceMs: 50, logger: logger as never });
    const id = await queue.enqueue('stuck', { file });
    await until(() => lines(file).length === 1, 'the job started');
    await foreman.stop();
    expect(foreman.stats()).toMatchObject({ lost: 1, dead: 1, released: 0 });
    expect((await queue.dead()).map((d) => [d.id, d.reason])).toEqual([[id, 'lost']]);
    expect(warned).toEqual([expect.objectContaining({ job: id })]);
  });

  it('drained() resolves once nothing runnable is left and nothing runs; scheduled jobs do not count', { timeout: 20_000 }, async () => {
    const { queue, dir } = await openQueue();
    const out = join(dir, 'out');
    writeFileSync(out, '');
    await queue.enqueueMany(Array.from({ length: 200 }, () => ({ name: 'append', payload: { file: out } })));
    await queue.enqueue('append', { file: out }, { runAt: new Date(Date.now() + 3_600_000) });
    const foreman = await startForeman({ queue });
    await foreman.drained();
    expect(lines(out)).toHaveLength(200);
    expect(foreman.stats()).toMatchObject({ completed: 200, running: 0 });
    expect(await queue.stats()).toMatchObject({ queued: 0, running: 0, scheduled: 1 });
  });

  it('an idle foreman starts a job enqueued by another process (latency printed)', { timeout: 60_000 }, async () => {
    const { queue, db } = await openQueue();
    const foreman = await startForeman({ queue });
    const claimedAt = new Map<string, number>();
    const claim = (m: unknown): void => void claimedAt.set((m as { id: string }).id, performance.timeOrigin + performance.now());
    dc.subscribe('bgworkers:job:claim', claim);
    cleanup.push(async () => void dc.unsubscribe('bgworkers:job:claim', claim));
    const ends = jobEnds();
    const n = Number(process.env['FOREMAN_WAKE_JOBS'] ?? 200);
    const child = fork(ENQUEUER, [db], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const latencies: number[] = [];
    const sent = new Promise<void>((resolve, reject) => {
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`enqueuer exited ${code}: ${stderr}`))));
    });
    const next = (): void => void child.send('next');
    child.on('message', (m: { id: string; t0: number }) => {
      // Idle again once this job has ended: then the child enqueues the next one.
      void ends.ended(latencies.length + 1).then(() => {
        latencies.push(claimedAt.get(m.id)! - m.t0);
        if (latencies.length < n) next();
        else child.send('done');
      });
    });
    await new Promise((r) => child.once('spawn', r));
    next();
    await sent;
    expect(latencies).toHaveLength(n);
    const sorted = latencies.slice(1).sort((a, b) => a - b); // the first one starts a worker
    const p = (q: number): string => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(3);
    console.log(`wake-up latency over ${sorted.length} jobs (enqueue in another process → claim): p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${p(1)} ms`);
    expect(foreman.stats().completed).toBe(n);
  });

  it('runs on the process runtime', { timeout: 30_000 }, async () => {
    const { queue, dir } = await openQueue();
    const out = join(dir, 'out');
    writeFileSync(out, '');
    const foreman = await startForeman({ queue, runtime: 'process' });
    const ends = jobEnds();
    await queue.enqueueMany([{ name: 'append', payload: { file: out } }, { name: 'fail', maxAttempts: 1 }, { name: 'nope' }]);
    await ends.ended(3);
    expect(lines(out)).toHaveLength(1);
    expect((await queue.dead()).map((d) => d.reason).sort()).toEqual(['failed', 'unknown-name']);
    expect(foreman.stats()).toMatchObject({ completed: 1, dead: 2 });
  });

  it('a second foreman on the same SQLite file fails with ForemanRunningError and leaves nothing running', { timeout: 10_000 }, async () => {
    const { queue, db } = await openQueue();
    const first = await startForeman({ queue });
    const other = SqliteQueue.open(db);
    cleanup.push(() => other.close());
    const threads = (await import('node:fs')).readdirSync('/proc/self/task').length;
    const err = await Foreman.start({ queue: other, handlers: JOBS, logger: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ForemanRunningError);
    expect((err as ForemanRunningError).pid).toBe(process.pid);
    expect((await import('node:fs')).readdirSync('/proc/self/task').length).toBe(threads); // no supervisor was started
    await queue.enqueue('ok');
    await first.drained();
    expect(first.stats().completed).toBe(1);
  });

  it('rejects bad options with the field named, before attaching', { timeout: 10_000 }, async () => {
    const { queue } = await openQueue();
    await expect(Foreman.start({ queue, handlers: JOBS, concurrency: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_WORKER_SPEC', field: 'concurrency' });
    await expect(Foreman.start({ queue, handlers: JOBS, delivery: 'twice' as never })).rejects.toMatchObject({ field: 'delivery' });
    await expect(Foreman.start({ queue, handlers: JOBS, timeoutMs: { a: -1 } })).rejects.toMatchObject({ field: 'timeoutMs.a' });
    await expect(Foreman.start({ queue, handlers: JOBS, backoff: { baseMs: -1 } })).rejects.toMatchObject({ field: 'backoff.baseMs' });
    await expect(Foreman.start({ queue: {} as never, handlers: JOBS })).rejects.toMatchObject({ field: 'queue' });
    // Nothing was attached: a foreman starts on the queue at once.
    const foreman = await startForeman({ queue });
    expect(foreman.state).toBe('running');
  });
});
