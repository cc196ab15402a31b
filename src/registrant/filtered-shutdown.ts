/**
 * Filtered shutdown (G14): neon's shutdown_tasks(kind, tenant, timeline) for workers and in-thread tasks. Every
 * match is stopped at once (not one after another); the promise resolves with every exit once all have stopped.
 * Only what matches when it is called is included; later registrations are not.
 *
 * Complaining (the Stragglers class): `complainAfterMs` after the start, one info line per member still running,
 * "still waiting for <name> to shut down" with its kind, labels and age; again every `complainEveryMs`; a member
 * complained about logs "<name> shut down after N s" when it stops. The clock is injected, so tests drive it.
 *
 * timeoutMs: workers still running then are stopped by force (their grace is cut to 0); tasks cannot be forced,
 * so they are reported in the result with `stillRunning: true` and a TaskCancelledError saying so.
 */
import type { Logger } from 'pino';
import { TaskCancelledError, invalidOption } from '../errors.js';
import type { WorkerRecord } from '../record.js';
import type { WorkerExit } from '../shared/exit.js';
import type { TaskCore, TaskExit } from '../task/task.js';
import { bag, ms } from '../validate.js';

/** Options of shutdownWorkers() and shutdownTasks(). */
export interface ShutdownOptions {
  /** Then workers are stopped by force and stragglers among tasks reported. @default Infinity (wait as long as it takes) */
  timeoutMs?: number;
  /** First "still waiting for …" line after this long. @default 1000 */
  complainAfterMs?: number;
  /** Then again every this long. @default 60000 */
  complainEveryMs?: number;
}

export interface ResolvedShutdownOptions {
  timeoutMs: number;
  complainAfterMs: number;
  complainEveryMs: number;
}

export function validateFilteredShutdownOptions(options: unknown): ResolvedShutdownOptions {
  const o = bag(options, 'options', 'shutdown', ['timeoutMs', 'complainAfterMs', 'complainEveryMs']);
  const timeoutMs = o['timeoutMs'] === Infinity ? Infinity : (ms(o['timeoutMs'], 'timeoutMs') ?? Infinity);
  const complainEveryMs = ms(o['complainEveryMs'], 'complainEveryMs') ?? 60_000;
  if (complainEveryMs === 0) throw invalidOption('complainEveryMs', 'a finite number of milliseconds > 0', 0);
  return { timeoutMs, complainAfterMs: ms(o['complainAfterMs'], 'complainAfterMs') ?? 1000, complainEveryMs };
}

/** Timers the complainer uses; the real ones by default. */
export interface ShutdownClock {
  now(): number;
  /** `keepAlive`: the timer holds the event loop open (the timeoutMs deadline does; complaints do not). */
  setTimeout(fn: () => void, ms: number, keepAlive?: boolean): unknown;
  clearTimeout(t: unknown): void;
}

export const realShutdownClock: ShutdownClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms, keepAlive = false) => {
    const t = setTimeout(fn, ms);
    if (!keepAlive) t.unref();
    return t;
  },
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
};

/** One worker or task being waited for. */
export interface Member<E> {
  readonly name: string;
  readonly kind: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  /** ms since epoch it was registered or spawned, for its age. */
  readonly since: number;
  readonly done: Promise<E>;
}

/**
 * Waits for every member, complaining about stragglers. At timeoutMs, if some remain, `onTimeout(pending)` is
 * called once: it returns undefined to go on waiting (workers: it forced them), or what to report for each
 * pending member, which ends the wait at once (tasks: they cannot be forced).
 */
export async function waitComplaining<E>(
  members: readonly Member<E>[],
  o: ResolvedShutdownOptions,
  logger: Logger | undefined,
  onTimeout: (pending: readonly number[]) => E[] | undefined,
  clock: ShutdownClock = realShutdownClock,
): Promise<(E | undefined)[]> {
  const results: (E | undefined)[] = new Array(members.length);
  const pending = new Set(members.map((_, i) => i));
  const complained = new Set<number>();
  const started = clock.now();
  let timer: unknown;
  let deadline: unknown;
  let finish!: () => void;
  const all = new Promise<void>((resolve) => (finish = resolve));
  const complain = (): void => {
    for (const i of pending) {
      const m = members[i]!;
      complained.add(i);
      logger?.info({ name: m.name, kind: m.kind, labels: m.labels, ageMs: Math.round(Date.now() - m.since) }, `still waiting for ${m.name} to shut down`);
    }
    timer = clock.setTimeout(complain, o.complainEveryMs);
  };
  const end = (): void => {
    clock.clearTimeout(timer);
    clock.clearTimeout(deadline);
    finish();
  };
  members.forEach((m, i) => {
    void m.done.then((exit) => {
      if (!pending.delete(i)) return; // reported already at the timeout: the result handed out stays as it was
      results[i] = exit;
      if (complained.has(i)) logger?.info({ name: m.name, kind: m.kind, labels: m.labels }, `${m.name} shut down after ${((clock.now() - started) / 1000).toFixed(1)} s`);
      if (pending.size === 0) end();
    });
  });
  if (members.length === 0) return results;
  timer = clock.setTimeout(complain, o.complainAfterMs);
  if (o.timeoutMs !== Infinity) {
    deadline = clock.setTimeout(() => {
      if (pending.size === 0) return;
      const list = [...pending];
      const report = onTimeout(list);
      if (report === undefined) return;
      list.forEach((i, k) => (results[i] = report[k]));
      pending.clear();
      end();
    }, o.timeoutMs, true); // a promised resolution at timeoutMs must not depend on something else holding the loop
  }
  await all;
  return results;
}

/** shutdownWorkers(): requests termination of every record at once, waits complaining, forces the rest at timeoutMs. */
export async function stopWorkers(records: readonly WorkerRecord[], o: ResolvedShutdownOptions, logger: Logger | undefined, force: (r: WorkerRecord) => void): Promise<WorkerExit[]> {
  for (const r of records) r.requestTermination();
  const lost = (err: unknown): WorkerExit => ({ reason: 'crashed', code: null, signal: null, error: err instanceof Error ? err : new Error(String(err)) });
  const members = records.map((r) => ({ name: r.ref.name, kind: r.kind, labels: r.labels, since: r.registeredAt, done: r.closed.catch(lost) }));
  const exits = await waitComplaining(members, o, logger, (pending) => {
    for (const i of pending) force(records[i]!);
    return undefined; // forced stops end with exits of their own
  });
  return exits as WorkerExit[];
}

/** shutdownTasks(): cancels every task at once, waits complaining; at timeoutMs the rest are reported still running. */
export async function cancelTasks(tasks: readonly TaskCore[], o: ResolvedShutdownOptions, logger: Logger | undefined): Promise<TaskExit<unknown>[]> {
  for (const t of tasks) t.cancel(undefined, 'cancelled by shutdownTasks()');
  const members = tasks.map((t) => ({ name: t.name, kind: t.kind, labels: t.labels, since: t.spawnedAt, done: t.closed }));
  const stillRunning = (t: TaskCore): TaskExit<unknown> => ({
    reason: 'cancelled',
    stillRunning: true,
    error: new TaskCancelledError(t.ref, `did not stop within ${o.timeoutMs} ms of its cancel; tasks cannot be forced: it is still running`),
  });
  const exits = await waitComplaining<TaskExit<unknown>>(members, o, logger, (pending) => pending.map((i) => stillRunning(tasks[i]!)));
  return exits as TaskExit<unknown>[];
}
