/**
 * G19 under SIGKILL: a foreman child process drains 300 jobs whose handler appends its job id to a log file
 * (O_APPEND lines); it is SIGKILLed once the log has k lines (k drawn by fast-check), then a new foreman (in this
 * process) takes the queue over and drains the rest.
 * - at-most-once: no id is logged twice (those the dead foreman held are dead as 'lost').
 * - at-least-once: every id is logged at least once, and an id is logged twice only if the dead foreman held it
 *   (its row was `running` right after the kill).
 * Seeds: printed; replay with FC_SEED=<seed>. Schedules: FOREMAN_KILL_RUNS (default 3 per delivery).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Foreman, SqliteQueue, type Delivery } from '../../dist/foreman.js';
import { loggedJobIds as logged, startSupervisor, until } from '../helpers.js';

const SIGNAL_CHILD = fileURLToPath(new URL('../fixtures/foreman/signal-child.mjs', import.meta.url));
const CHILD = fileURLToPath(new URL('../fixtures/foreman/kill-child.mjs', import.meta.url));
const JOBS = fileURLToPath(new URL('../fixtures/foreman/jobs.mjs', import.meta.url));
const N = 300;
const RUNS = Number(process.env['FOREMAN_KILL_RUNS'] ?? 3);
const SEED = process.env['FC_SEED'] === undefined ? Date.now() % 2 ** 31 : Number(process.env['FC_SEED']);

async function schedule(delivery: Delivery, killAt: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bgw-foreman-kill-'));
  const db = join(dir, 'jobs.db');
  const log = join(dir, 'log');
  writeFileSync(log, '');
  const queue = SqliteQueue.open(db);
  try {
    const ids = await queue.enqueueMany(Array.from({ length: N }, () => ({ name: 'append', payload: { file: log, ms: 1 } })));
    const child = fork(CHILD, [db, delivery], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      void exited.then(() => reject(new Error(`foreman child exited before it ran: ${stderr}`)));
    });
    await until(() => logged(log).length >= killAt, `${killAt} jobs logged`, 20_000);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    // What the dead foreman held, foreman-less: rows still `running`.
    const raw = new Database(db, { readonly: true });
    const held = new Set((raw.prepare(`SELECT id FROM bgworkers_jobs WHERE state = 'running'`).all() as { id: number }[]).map((r) => String(r.id)));
    raw.close();
    const supervisor = await startSupervisor();
    const foreman = await Foreman.start({ queue, handlers: JOBS, concurrency: 2, delivery, logger: false, supervisor });
    await foreman.drained();
    await foreman.stop();
    const lines = logged(log);
    const count = new Map<string, number>();
    for (const id of lines) count.set(id, (count.get(id) ?? 0) + 1);
    const twice = [...count].filter(([, n]) => n > 1).map(([id]) => id);
    if (delivery === 'at-most-once') {
      expect(twice).toEqual([]);
      const lost = (await queue.dead({ limit: N })).filter((d) => d.reason === 'lost').map((d) => d.id);
      expect(lost.every((id) => held.has(id))).toBe(true);
      expect(new Set([...count.keys(), ...lost]).size).toBe(N); // every job ran once or is counted lost
    } else {
      expect(ids.filter((id) => !count.has(id))).toEqual([]);
      expect(twice.filter((id) => !held.has(id))).toEqual([]);
    }
    expect(await queue.stats()).toMatchObject({ queued: 0, running: 0 });
  } finally {
    await queue.close();
  }
}

describe('Foreman under SIGKILL', () => {
  console.log(`foreman-kill: FC_SEED=${SEED} (${RUNS} schedules per delivery)`);
  for (const delivery of ['at-most-once', 'at-least-once'] as const) {
    it(`${delivery}: a foreman killed at a random point, then a new one drains the rest`, { timeout: 30_000 + RUNS * 15_000 }, async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 0, max: N - 1 }), (killAt) => schedule(delivery, killAt)),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
    });
  }
});

describe('Foreman handleSignals', () => {
  it('SIGTERM stops the foreman (its running job released) and nothing is left holding the process', { timeout: 20_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bgw-foreman-sig-'));
    const db = join(dir, 'jobs.db');
    const file = join(dir, 'marks');
    writeFileSync(file, '');
    const child = fork(SIGNAL_CHILD, [db, file], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, signal) => resolve([code, signal])));
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve());
      void exited.then(() => reject(new Error(`foreman child exited before it ran: ${stderr}`)));
    });
    child.kill('SIGTERM');
    // Exits by itself with code 0: the handler ran stop(), and stop() left no timer, watcher or worker behind.
    expect(await exited).toEqual([0, null]);
    expect(JSON.parse(out.trim())).toMatchObject({ claimed: 1, released: 1, running: 0 });
    const queue = SqliteQueue.open(db);
    expect(await queue.stats()).toMatchObject({ queued: 1, running: 0 });
    await queue.close();
  });
});
