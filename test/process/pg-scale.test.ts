/**
 * G19 across processes on PostgreSQL (issue 15.5): N = 1, 2, 4 foreman processes drain one queue while random
 * ones are SIGKILLed (fast-check schedules: for each foreman, the number of logged jobs at which it dies, or
 * never), then a last foreman drains what is left. Every job's handler appends its id to one log file (O_APPEND
 * lines, whole across processes).
 * - at-most-once: no id is logged twice; the jobs the dead held are dead as 'lost', and every job ran once or is lost.
 * - at-least-once: no job is lost (every id logged), and nothing is left queued or running.
 * Seeds: printed; replay with FC_SEED=<seed>. Schedules per N and delivery: PG_SCALE_RUNS (default 2).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import pg from 'pg';
import { expect, it } from 'vitest';
import { Foreman, PostgresQueue, type Delivery } from '../../dist/foreman.js';
import { loggedJobIds as logged, startSupervisor, until } from '../helpers.js';
import { PG_URL, pgDescribe } from '../pg.js';

const CHILD = fileURLToPath(new URL('../fixtures/foreman/pg-kill-child.mjs', import.meta.url));
const JOBS = fileURLToPath(new URL('../fixtures/foreman/jobs.mjs', import.meta.url));
/** Jobs per schedule (PG_SCALE_JOBS; the 100k runs by hand: PG_SCALE_JOBS=100000 PG_SCALE_RUNS=1). */
const JOBS_PER_RUN = Number(process.env['PG_SCALE_JOBS'] ?? 400);
/** Time one schedule may take: a base, plus 5 ms a job (at-most-once drains about 800 jobs/s here). */
const SCHEDULE_MS = 30_000 + JOBS_PER_RUN * 5;
const RUNS = Number(process.env['PG_SCALE_RUNS'] ?? 2);
const SEED = process.env['FC_SEED'] === undefined ? Date.now() % 2 ** 31 : Number(process.env['FC_SEED']);

async function dropSchema(schema: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await c.end();
}

function startForeman(schema: string, delivery: Delivery): { child: ChildProcess; exited: Promise<NodeJS.Signals | null>; ready: Promise<void> } {
  const child = fork(CHILD, [PG_URL, schema, delivery], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const ready = new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    void exited.then(() => reject(new Error(`foreman child exited before it ran: ${stderr}`)));
  });
  return { child, exited, ready };
}

/**
 * Resolves once `at` jobs are logged, or once no more can be: nothing queued or running is left (at-most-once jobs
 * an earlier kill lost are dead, never logged, so a late cue may be out of reach).
 */
async function killCue(queue: PostgresQueue, log: string, at: number): Promise<void> {
  const deadline = performance.now() + SCHEDULE_MS;
  for (let i = 0; logged(log).length < at; i++) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${at} jobs logged`);
    if (i % 10 === 9) {
      const s = await queue.stats();
      if (s.queued === 0 && s.running === 0) return;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** One schedule: `kills[i]` is the number of logged jobs at which foreman i is SIGKILLed (undefined: never). */
async function schedule(delivery: Delivery, kills: (number | undefined)[]): Promise<void> {
  const schema = `bgw_scale_test_${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'bgw-pg-scale-'));
  const log = join(dir, 'log');
  writeFileSync(log, '');
  const queue = await PostgresQueue.connect(PG_URL, { schema });
  const foremen: ReturnType<typeof startForeman>[] = [];
  const t0 = performance.now();
  try {
    const ids = await queue.enqueueMany(Array.from({ length: JOBS_PER_RUN }, () => ({ name: 'append', payload: { file: log, ms: JOBS_PER_RUN > 1000 ? 0 : 1 } })));
    for (let i = 0; i < kills.length; i++) foremen.push(startForeman(schema, delivery));
    await Promise.all(foremen.map((f) => f.ready));
    // Each kill on its own cue: the log reaching its count (or everything drained first).
    await Promise.all(
      kills.map(async (at, i) => {
        if (at === undefined) return;
        await killCue(queue, log, at);
        foremen[i]!.child.kill('SIGKILL');
        expect(await foremen[i]!.exited).toBe('SIGKILL');
      }),
    );
    // The survivors stop gracefully; then a last foreman here drains the rest (taking over the dead's jobs).
    await Promise.all(
      foremen.map(async (f, i) => {
        if (kills[i] !== undefined) return;
        f.child.send('stop');
        await f.exited;
      }),
    );
    const supervisor = await startSupervisor();
    const last = await Foreman.start({ queue, handlers: JOBS, concurrency: 2, delivery, logger: false, supervisor });
    await last.drained();
    await last.stop();
    const count = new Map<string, number>();
    for (const id of logged(log)) count.set(id, (count.get(id) ?? 0) + 1);
    const twice = [...count].filter(([, n]) => n > 1).map(([id]) => id);
    const lost = (await queue.dead({ limit: JOBS_PER_RUN })).filter((d) => d.reason === 'lost').map((d) => d.id);
    console.log(`pg-scale: ${kills.length} foreman(s), ${delivery}, kills at ${JSON.stringify(kills)}: ${JOBS_PER_RUN} jobs, ${count.size} ran, ${twice.length} twice, ${lost.length} lost, ${Math.round(performance.now() - t0)} ms`);
    if (delivery === 'at-most-once') {
      expect(twice).toEqual([]);
      const seen = new Set([...count.keys(), ...lost]);
      expect(seen.size).toBe(JOBS_PER_RUN);
    } else {
      expect(ids.filter((id) => !count.has(id))).toEqual([]);
    }
    expect(await queue.stats()).toMatchObject({ queued: 0, running: 0 });
  } finally {
    for (const f of foremen) f.child.kill('SIGKILL');
    await queue.close();
    await dropSchema(schema);
  }
}

const suite = pgDescribe('pg-scale tests');
suite('N foreman processes on one PostgreSQL queue, with random SIGKILLs', () => {
  console.log(`pg-scale: FC_SEED=${SEED} (${RUNS} schedules per N and delivery)`);
  for (const n of [1, 2, 4]) {
    for (const delivery of ['at-most-once', 'at-least-once'] as const) {
      it(`${n} foreman${n > 1 ? 's' : ''}, ${delivery}: nothing run twice / nothing lost`, { timeout: 30_000 + RUNS * SCHEDULE_MS }, async () => {
        const kill = fc.option(fc.integer({ min: 0, max: JOBS_PER_RUN - 1 }), { nil: undefined });
        await fc.assert(fc.asyncProperty(fc.array(kill, { minLength: n, maxLength: n }), (kills) => schedule(delivery, kills)), {
          seed: SEED + n,
          numRuns: RUNS,
          endOnFailure: true,
        });
      });
    }
  }

  it('an idle foreman takes a dead foreman\'s jobs over without an enqueue to wake it', { timeout: 60_000 }, async () => {
    const schema = `bgw_scale_test_${randomBytes(4).toString('hex')}`;
    const dir = mkdtempSync(join(tmpdir(), 'bgw-pg-idle-takeover-'));
    const log = join(dir, 'log');
    const starts = join(dir, 'starts');
    writeFileSync(log, '');
    writeFileSync(starts, '');
    const queue = await PostgresQueue.connect(PG_URL, { schema });
    const a = startForeman(schema, 'at-least-once');
    const supervisor = await startSupervisor();
    let b: Foreman | undefined;
    try {
      await a.ready;
      const ids = await queue.enqueueMany([1, 2].map(() => ({ name: 'startAppend', payload: { file: log, starts, ms: 1000 } })));
      // A holds both (they run for a second each); B starts then, finds nothing to claim and goes idle.
      await until(() => logged(starts).length === 2, 'both jobs started in the first foreman');
      b = await Foreman.start({ queue, handlers: JOBS, concurrency: 2, delivery: 'at-least-once', leaseMs: 60_000, logger: false, supervisor });
      await b.drained();
      expect(b.stats().claimed).toBe(0);
      a.child.kill('SIGKILL');
      expect(await a.exited).toBe('SIGKILL');
      // Nothing is enqueued and the leases last a minute: only B's own look at gone owners can run them.
      await until(() => ids.every((id) => logged(log).includes(id)), 'the dead foreman\'s jobs run by the idle one', 20_000);
      await b.drained(); // their outcomes recorded
      expect(b.stats()).toMatchObject({ claimed: 2, completed: 2, running: 0 });
    } finally {
      a.child.kill('SIGKILL');
      await b?.stop();
      await queue.close();
      await dropSchema(schema);
    }
  });
});
