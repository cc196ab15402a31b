/**
 * The PostgreSQL server restarts under a Foreman (issue 15.6): a private cluster (test/pg-cluster.ts; the shared
 * server is never restarted) is stopped — 'fast' (connections terminated, clean) or 'immediate' (a crash, then
 * recovery) — and started again while one foreman, or two (each with its own pool and owner connection, as on two
 * machines), drain jobs that log their ids. Every foreman must survive (no
 * unhandled error; its owner connection, lock and LISTEN re-established; claiming again) and drain the rest:
 * - at-least-once: no job lost; a job runs twice only if it was held (claimed, outcome not recorded) at the restart.
 * - at-most-once: no job runs twice; the lost (dead 'lost', or never logged) are counted.
 * - nothing is left running in the queue: outcomes that could not be recorded while the server was down are
 *   recorded once it is back.
 * - a job enqueued after the restart wakes the idle foreman by NOTIFY (the LISTEN is back), and an idle foreman
 *   whose server restarted runs a job enqueued at once after the restart (the reconnect's catch-up claim).
 * Measured figures (time back, in flight, duplicates, losses) are printed.
 * Runs where test/pg.ts's suites must (CI or BGWORKERS_PG_URL set), and needs initdb (BGWORKERS_PG_BIN).
 */
import dc from 'node:diagnostics_channel';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Foreman, PostgresQueue, type Delivery, type JobQueue, type QueueSession } from '../../dist/foreman.js';
import { loggedJobIds, startSupervisor, until } from '../helpers.js';
import { initdbPresent, PG_BIN, startCluster, type Cluster, type StopMode } from '../pg-cluster.js';

const JOBS = fileURLToPath(new URL('../fixtures/foreman/jobs.mjs', import.meta.url));
const N = 2_000;
/** The server is stopped once this many jobs are logged. */
const RESTART_AT = 600;
const T = 30_000;

const wanted = process.env.CI !== undefined || process.env.BGWORKERS_PG_URL !== undefined;
if (wanted && !initdbPresent && process.env.CI !== undefined) {
  throw new Error(`pg-restart tests: no initdb in ${PG_BIN} (CI: failing, not skipping); set BGWORKERS_PG_BIN to PostgreSQL's bin directory`);
}
function gate(): typeof describe | typeof describe.skip {
  if (!wanted) console.log('pg-restart tests skipped: set BGWORKERS_PG_URL (or CI) to run them (they start a private PostgreSQL cluster)');
  else if (!initdbPresent) console.log(`pg-restart tests skipped: no initdb in ${PG_BIN}; set BGWORKERS_PG_BIN to PostgreSQL's bin directory`);
  return wanted && initdbPresent ? describe : describe.skip;
}

let cluster: Cluster | undefined;
beforeAll(async () => {
  if (wanted && initdbPresent) cluster = await startCluster();
}, 60_000);
afterAll(async () => {
  await cluster?.destroy();
}, 30_000);

/** What the foreman's logger said: messages, in order. */
function memoryLogger(): { logger: Logger; messages: { msg: string; at: number }[] } {
  const messages: { msg: string; at: number }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void messages.push({ msg: (JSON.parse(line) as { msg: string }).msg, at: performance.now() }) });
  return { logger, messages };
}

/** The queue as the foreman sees it, its session's wake-ups timestamped (to tell a NOTIFY came, whatever the loop did). */
function watched(queue: PostgresQueue): { queue: JobQueue; wakes: number[] } {
  const wakes: number[] = [];
  const wrap = (s: QueueSession): QueueSession => ({
    report: s.report,
    claim: (limit) => s.claim(limit),
    complete: (job) => s.complete(job),
    fail: (job, error, retryAt, reason) => s.fail(job, error, retryAt, reason),
    release: (job) => s.release(job),
    renew: (jobs) => s.renew(jobs),
    nextRunAt: () => s.nextRunAt(),
    onWakeup: (listener) => s.onWakeup(() => {
      wakes.push(performance.now());
      listener();
    }),
    detach: () => s.detach(),
  });
  return {
    wakes,
    queue: {
      kind: queue.kind,
      location: queue.location,
      enqueue: (name, payload, options) => queue.enqueue(name, payload, options),
      enqueueMany: (jobs) => queue.enqueueMany(jobs),
      stats: () => queue.stats(),
      dead: (options) => queue.dead(options),
      retry: (id) => queue.retry(id),
      attach: async (options) => wrap(await queue.attach(options)),
      close: () => queue.close(),
    },
  };
}

/** Claims and recorded ends of this process's foreman, from the diagnostics channels. */
interface Claim {
  readonly id: string;
  readonly attempt: number;
  readonly fence: number;
  readonly at: number;
}

function jobEvents(): { claims: Claim[]; held: () => Set<string>; off: () => void } {
  const claims: Claim[] = [];
  const open = new Set<string>();
  const onClaim = (m: unknown): void => {
    const { id, attempt, fence } = m as Claim;
    claims.push({ id, attempt, fence, at: performance.now() });
    open.add(id);
  };
  const onEnd = (m: unknown): void => void open.delete((m as { id: string }).id);
  dc.subscribe('bgworkers:job:claim', onClaim);
  dc.subscribe('bgworkers:job:end', onEnd);
  return {
    claims,
    held: () => new Set(open),
    off: () => {
      dc.unsubscribe('bgworkers:job:claim', onClaim);
      dc.unsubscribe('bgworkers:job:end', onEnd);
    },
  };
}

function countsOf(ids: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const id of ids) m.set(id, (m.get(id) ?? 0) + 1);
  return m;
}

interface Machine {
  readonly foreman: Foreman;
  readonly queue: PostgresQueue;
  readonly wakes: number[];
  readonly messages: { msg: string; at: number }[];
}

/** `n` foremen on one new schema, each with a queue (pool and owner connection) of its own, as on n machines. */
async function withForemen(delivery: Delivery, n: number, body: (f: { machines: Machine[]; queue: PostgresQueue; log: string; events: ReturnType<typeof jobEvents> }) => Promise<void>): Promise<void> {
  const c = cluster!;
  const schema = `bgw_restart_${randomBytes(4).toString('hex')}`;
  const log = join(mkdtempSync(join(tmpdir(), 'bgw-pg-restart-')), 'log');
  writeFileSync(log, '');
  const queue = await PostgresQueue.connect(c.url, { schema });
  const events = jobEvents();
  const supervisor = await startSupervisor();
  const machines: Machine[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const own = await PostgresQueue.connect(c.url, { schema });
      const w = watched(own);
      const { logger, messages } = memoryLogger();
      const foreman = await Foreman.start({ queue: w.queue, handlers: JOBS, concurrency: 4, batchSize: 32, delivery, leaseMs: 10_000, logger, supervisor });
      machines.push({ foreman, queue: own, wakes: w.wakes, messages });
    }
    await body({ machines, queue, log, events });
  } catch (e) {
    const said = machines.map((m, i) => `foreman ${i} said: ${m.messages.map((x) => x.msg).join(' | ')}`).join('\n');
    throw new Error(`${(e as Error).message}\n${said}\nserver log tail:\n${c.log().split('\n').slice(-15).join('\n')}`, { cause: e });
  } finally {
    events.off();
    for (const m of machines) {
      await m.foreman.stop();
      await m.queue.close();
    }
    await queue.close();
  }
}

/** Stops the server (`mode`) and starts it again; returns when it accepts connections, with the times taken. */
async function restart(mode: StopMode): Promise<{ stoppingAt: number; stoppedAt: number; upAt: number }> {
  const stoppingAt = performance.now();
  await cluster!.stop(mode);
  const stoppedAt = performance.now();
  await cluster!.start();
  const upAt = performance.now();
  return { stoppingAt, stoppedAt, upAt };
}

const suite = gate();
suite('a PostgreSQL restart during a drain', () => {
  for (const n of [1, 2]) {
    for (const mode of ['fast', 'immediate'] as const) {
      for (const delivery of ['at-least-once', 'at-most-once'] as const) {
        it(`${n === 1 ? '1 foreman' : `${n} foremen`}, ${mode} restart, ${delivery}: reconnects, drains the rest, wakes on NOTIFY`, { timeout: T }, async () => {
          await withForemen(delivery, n, async ({ machines, queue, log, events }) => {
            const ids = await queue.enqueueMany(Array.from({ length: N }, () => ({ name: 'append', payload: { file: log } })));
            await until(() => loggedJobIds(log).length >= RESTART_AT, `${RESTART_AT} jobs logged`, T);
            const heldAtStop = events.held();
            const r = await restart(mode);
            // In flight at the restart: held when the stop began, or claimed before the server was back.
            const inFlight = new Set([...heldAtStop, ...events.claims.filter((c) => c.at >= r.stoppingAt && c.at <= r.upAt).map((c) => c.id)]);
            // A claim made after the server was down succeeded once it was back.
            await until(() => events.claims.some((c) => c.at > r.stoppedAt), 'a claim after the restart', 15_000);
            const back = events.claims.find((c) => c.at > r.stoppedAt)!.at - r.stoppedAt;
            for (const m of machines) {
              await until(() => m.messages.some((x) => x.msg === 'postgres queue: owner connection re-established' && x.at > r.stoppingAt), 'every owner connection re-established', 15_000);
            }
            for (const m of machines) await m.foreman.drained();
            expect(machines.map((m) => m.foreman.state)).toEqual(machines.map(() => 'running'));

            const count = countsOf(loggedJobIds(log));
            const twice = [...count].filter(([, k]) => k > 1).map(([id]) => id);
            // What a failure prints about the jobs run twice: their log lines, claims, and each foreman's counters.
            const lines = readFileSync(log, 'utf8').split('\n');
            const detail = JSON.stringify({
              twice: twice.map((id) => ({ id, lines: lines.filter((l) => l.startsWith(`${id} `)), claims: events.claims.filter((c) => c.id === id).map((c) => ({ ...c, at: c.at - r.stoppingAt })) })),
              stats: machines.map((m) => m.foreman.stats()),
            });
            const lostDead = (await queue.dead({ limit: N })).filter((d) => d.reason === 'lost').map((d) => d.id);
            const missing = ids.filter((id) => !count.has(id));
            if (delivery === 'at-least-once') {
              expect(missing).toEqual([]);
              expect(twice.filter((id) => !inFlight.has(id)), detail).toEqual([]);
            } else {
              expect(twice, detail).toEqual([]);
              expect(missing.filter((id) => !inFlight.has(id))).toEqual([]);
            }
            expect(await queue.stats()).toMatchObject({ queued: 0, running: 0 });

            // The LISTEN is back: a job enqueued now wakes every idle foreman by NOTIFY.
            const before = machines.map((m) => m.wakes.length);
            const t0 = performance.now();
            const [late] = await queue.enqueueMany([{ name: 'append', payload: { file: log } }]);
            await until(() => machines.every((m, i) => m.wakes.length > before[i]!), 'a NOTIFY wake-up of every foreman after the restart', 5_000);
            const wokeMs = Math.max(...machines.map((m, i) => m.wakes[before[i]!]! - t0));
            await until(() => loggedJobIds(log).includes(late!), 'the job enqueued after the restart to run', 5_000);
            const said = (msg: string): number => machines.reduce((k, m) => k + m.messages.filter((x) => x.msg === msg).length, 0);
            console.log(`pg-restart ${n === 1 ? '1 foreman' : `${n} foremen`} ${mode} ${delivery}: pg_ctl stop ${(r.stoppedAt - r.stoppingAt).toFixed(0)} ms + start ${(r.upAt - r.stoppedAt).toFixed(0)} ms; ` +
              `first claim ${back.toFixed(0)} ms after the server was down; held when the stop began ${heldAtStop.size} (claimed until it was up ${inFlight.size}); ` +
              `outcomes recorded again ${said('foreman: recording a job outcome failed, retrying')}; foremen taken over ${said('postgres queue: a gone foreman was taken over')}; ` +
              `run twice ${twice.length}; lost ${lostDead.length} dead 'lost' + ${missing.length} never run; NOTIFY wake-up ${wokeMs.toFixed(1)} ms after enqueue`);
          });
        });
      }
    }
  }

  it('an idle foreman whose server restarted runs a job enqueued at once after the restart', { timeout: T }, async () => {
    await withForemen('at-least-once', 1, async ({ machines: [m], queue, log, events }) => {
      await m!.foreman.drained();
      const r = await restart('fast');
      const enqueuedAt = performance.now();
      const [id] = await queue.enqueueMany([{ name: 'append', payload: { file: log } }]);
      await until(() => loggedJobIds(log).includes(id!), 'the job enqueued right after the restart to run', 15_000);
      const claimedAt = events.claims.find((c) => c.id === id)!.at;
      console.log(`pg-restart idle: pg_ctl stop ${(r.stoppedAt - r.stoppingAt).toFixed(0)} ms + start ${(r.upAt - r.stoppedAt).toFixed(0)} ms; a job enqueued as soon as it was up was claimed ${(claimedAt - enqueuedAt).toFixed(0)} ms later (${(claimedAt - r.stoppedAt).toFixed(0)} ms after the server was down)`);
      await m!.foreman.drained();
      expect(await queue.stats()).toMatchObject({ queued: 0, running: 0 });
    });
  });
});
