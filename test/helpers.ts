/**
 * Shared test setup: supervisors started through `startSupervisor()` are shut down after each test, and the
 * test fails if any worker, slot or thread was left behind.
 */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, expect } from 'vitest';
import { Supervisor, type SupervisorOptions } from '../dist/index.js';

const live = new Set<Supervisor>();
let threadsBefore = 0;
let childrenBefore: number[] = [];

/** Both runtimes, for suites parameterised over them. */
export const RUNTIMES = ['thread', 'process'] as const;
export type Runtime = (typeof RUNTIMES)[number];

/** Absolute path of a fixture module in test/fixtures. */
export function fixture(name: string): string {
  return fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
}

/** OS threads of this process (Linux): every worker thread is one; they must be gone after shutdown. */
export function threadCount(): number {
  return readdirSync('/proc/self/task').length;
}

/** Live (non-zombie) child processes of this process, from /proc: every process worker is one. */
export function childPids(): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(rest[1]) === process.pid && rest[0] !== 'Z') out.push(Number(name));
  }
  return out;
}

/**
 * What a worker that dies on purpose prints to stderr, captured for the test to assert on. Thread workers print
 * nothing of their own (their errors reach the supervisor as events); a process worker is Node's own process,
 * which prints an uncaught exception or V8's out-of-memory report on fd 2. Spread `spec` into a process worker's
 * spec: it preloads test/fixtures/capture-stderr.mjs, which points the child's fd 2 at a file. Its `env` is a copy
 * of process.env as it is now (set what the worker needs first).
 */
export function captureStderr(runtime: Runtime): { spec: { env?: Record<string, string>; execArgv?: string[] }; text: () => string } {
  if (runtime === 'thread') return { spec: {}, text: () => '' };
  const file = join(mkdtempSync(join(tmpdir(), 'bgw-stderr-')), 'stderr');
  writeFileSync(file, '');
  const env = { ...(process.env as Record<string, string>), BGW_STDERR_FILE: file };
  const execArgv = [...process.execArgv, '--import', pathToFileURL(fixture('capture-stderr.mjs')).href];
  return { spec: { env, execArgv }, text: () => readFileSync(file, 'utf8') };
}

/** Starts a supervisor (silent logger unless given) that afterEach shuts down and checks for leftovers. */
export async function startSupervisor(options: SupervisorOptions = {}): Promise<Supervisor> {
  const sup = await Supervisor.start({ logger: false, ...options });
  live.add(sup);
  return sup;
}

/** Resolves when `predicate` holds, polling on the event loop; rejects after `timeoutMs` naming `what`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

beforeEach(() => {
  threadsBefore = threadCount();
  childrenBefore = childPids();
});

afterEach(async () => {
  const sups = [...live];
  live.clear();
  for (const sup of sups) {
    await sup.shutdown({ timeoutMs: 2000 });
    expect(sup.closed).toBe(true);
    expect(sup.workers()).toEqual([]);
    expect(sup.metrics().slots.used).toBe(0);
  }
  // Every worker thread and supervisor thread is gone: the OS thread count is back to what it was.
  await until(() => threadCount() <= threadsBefore, `thread count back to ${threadsBefore} (now ${threadCount()})`, 5000);
  // Every process worker is gone (by pid). Shutdown waited for every child's exit; the short wait covers only a
  // supervisor that died, whose children end themselves when their control pipe closes.
  const leftover = (): number[] => childPids().filter((pid) => !childrenBefore.includes(pid));
  await until(() => leftover().length === 0, `child processes gone (left: ${leftover().join(', ')})`, 2000);
});

/** The job ids a foreman test's log file holds, one per line (`<id> <attempt>`, appended by fixtures/foreman/jobs.mjs). */
export function loggedJobIds(file: string): string[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => l.split(' ')[0]!);
}
