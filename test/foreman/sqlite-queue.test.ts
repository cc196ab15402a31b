/**
 * SqliteQueue: the queue contract on temp files, then what only SQLite has — WAL, the migrations table, two
 * processes creating a file at once, one foreman per file (a live child holding it; a SIGKILLed one taken over),
 * wake-ups from another process, and the core never loading better-sqlite3.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ForemanRunningError, InvalidJobError, QueueError, SqliteQueue, type ClaimedJob, type Delivery } from '../../dist/foreman.js';
import { newOwner } from '../../dist/foreman/owner.js';
import { fixture } from '../helpers.js';
import { thrownBy } from '../thrown.js';
import { queueContract, recordingLogger, rejectionOf } from './contract.js';

const Database = createRequire(import.meta.url)('better-sqlite3') as new (path: string) => {
  prepare(sql: string): { get(...p: unknown[]): unknown; all(...p: unknown[]): unknown[]; run(...p: unknown[]): unknown };
  pragma(sql: string, o?: { simple: boolean }): unknown;
  close(): void;
};

const TIMEOUT_MS = 20_000;
const dirs: string[] = [];
const children: ChildProcess[] = [];
const stderrOf = new WeakMap<ChildProcess, string>();

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bgw-sqlite-'));
  dirs.push(dir);
  return join(dir, 'jobs.db');
}

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A safety poll that never fires within a test: wake-ups must come from the wake-up file. */
const NO_POLL = { safetyPollMs: 3_600_000 };

queueContract('sqlite', async () => {
  const path = tempFile();
  const opened: SqliteQueue[] = [];
  const queue = SqliteQueue.open(path, NO_POLL);
  opened.push(queue);
  return {
    queue,
    reopen: async () => {
      const q = SqliteQueue.open(path);
      opened.push(q);
      return q;
    },
    cleanup: async () => {
      for (const q of opened) await q.close().catch(() => undefined); // closed already by the test: fine
    },
  };
});

function child(name: string, args: string[]): ChildProcess {
  const c = fork(fixture(`foreman/${name}`), args, { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  children.push(c);
  // Kept, not printed: a child that fails names why in the rejection of nextMessage.
  stderrOf.set(c, '');
  c.stderr!.on('data', (d: Buffer) => stderrOf.set(c, stderrOf.get(c) + d.toString()));
  return c;
}

function nextMessage<T>(c: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null, signal: string | null): void => reject(new Error(`child exited (${code ?? signal}) before its message: ${stderrOf.get(c)}`));
    c.once('exit', onExit);
    c.once('message', (m) => {
      c.off('exit', onExit);
      resolve(m as T);
    });
  });
}

function exited(c: ChildProcess): Promise<void> {
  return c.exitCode !== null || c.signalCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));
}

describe('SqliteQueue on a file', { timeout: TIMEOUT_MS }, () => {
  it('opens in WAL mode with the migrations recorded, creating the file', async () => {
    const path = tempFile();
    const queue = SqliteQueue.open(path);
    expect(queue.kind).toBe('sqlite');
    expect(queue.location).toBe(path);
    const db = new Database(path);
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const rows = db.prepare('SELECT version FROM bgworkers_migrations ORDER BY version').all();
      expect(rows).toEqual([{ version: 1 }]);
    } finally {
      db.close();
      await queue.close();
    }
    // Reopening applies nothing twice.
    const again = SqliteQueue.open(path);
    await again.close();
    const db2 = new Database(path);
    expect(db2.prepare('SELECT COUNT(*) AS n FROM bgworkers_migrations').get()).toEqual({ n: 1 });
    db2.close();
  });

  it('four processes creating new files at once all succeed and migrate each once', async () => {
    const openers = Array.from({ length: 4 }, () => child('open.mjs', []));
    await Promise.all(openers.map((c) => nextMessage(c)));
    // Rounds on fresh files: each round is a race of four first opens (one round alone rarely overlaps them).
    for (let round = 0; round < 16; round++) {
      const path = tempFile();
      const opened = openers.map((c) => nextMessage<string>(c));
      for (const c of openers) c.send({ path });
      expect(await Promise.all(opened)).toEqual(['opened', 'opened', 'opened', 'opened']);
      const db = new Database(path);
      expect(db.prepare('SELECT COUNT(*) AS n FROM bgworkers_migrations').get()).toEqual({ n: 1 });
      expect(db.prepare("SELECT COUNT(*) AS n FROM bgworkers_jobs WHERE name = 'from'").get()).toEqual({ n: 4 });
      db.close();
    }
    for (const c of openers) c.send('exit');
    await Promise.all(openers.map(exited));
  });

  it('dead() gives the stored text of a payload that does not decode', async () => {
    const path = tempFile();
    const queue = SqliteQueue.open(path);
    const id = await queue.enqueue('j', { ok: true });
    const db = new Database(path);
    db.prepare('UPDATE bgworkers_jobs SET payload = ? WHERE id = ?').run('{not json', Number(id));
    db.close();
    const session = await queue.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: 1000, logger: recordingLogger() });
    const [job] = await session.claim(1);
    expect(job!.payloadText).toBe('{not json');
    await session.fail(job!, { name: 'SyntaxError', message: 'bad', stack: undefined, code: undefined, nonError: false }, null, 'bad-payload');
    const [dead] = await queue.dead();
    expect(dead).toMatchObject({ id, payload: '{not json', reason: 'bad-payload' });
    await session.detach();
    await queue.close();
  });

  it('renew moves the lease forward', async () => {
    const path = tempFile();
    const queue = SqliteQueue.open(path);
    await queue.enqueue('j');
    const session = await queue.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: 1_000, logger: recordingLogger() });
    const [job] = await session.claim(1);
    const db = new Database(path);
    const lease = (): number => (db.prepare('SELECT lease_expires_at AS l FROM bgworkers_jobs').get() as { l: number }).l;
    const before = lease();
    db.prepare('UPDATE bgworkers_jobs SET lease_expires_at = lease_expires_at - 500000').run();
    await session.renew([job!]);
    expect(lease()).toBeGreaterThanOrEqual(before);
    db.close();
    await session.detach();
    await queue.close();
  });

  it('a second attach in the same process, or after detach by another queue, follows ownership', async () => {
    const path = tempFile();
    const a = SqliteQueue.open(path);
    const b = SqliteQueue.open(path);
    const sa = await a.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: 1000, logger: recordingLogger() });
    const err = await rejectionOf(b.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: 1000, logger: recordingLogger() }));
    expect(err).toBeInstanceOf(ForemanRunningError);
    expect((err as ForemanRunningError).pid).toBe(process.pid);
    await sa.detach();
    const sb = await b.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: 1000, logger: recordingLogger() });
    expect(sb.report).toEqual({ released: 0, lost: 0 });
    await sb.detach();
    await a.close();
    await b.close();
  });
});

describe('ownership within one process', { timeout: TIMEOUT_MS }, () => {
  it('close() of an attached queue gives the file up; its session then rejects with QueueError', async () => {
    const path = tempFile();
    const a = SqliteQueue.open(path);
    const session = await a.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: 1000, logger: recordingLogger() });
    await a.close();
    expect(await rejectionOf(session.claim(1))).toBeInstanceOf(QueueError);
    const b = SqliteQueue.open(path);
    const next = await b.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: 1000, logger: recordingLogger() });
    expect(next.report).toEqual({ released: 0, lost: 0 });
    await next.detach();
    expect(await rejectionOf(next.claim(1))).toBeInstanceOf(QueueError);
    await b.close();
  });

  it('a finishing call made just before close() is committed before the connection closes', async () => {
    const path = tempFile();
    const queue = SqliteQueue.open(path);
    await queue.enqueue('j');
    const session = await queue.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: 1000, logger: recordingLogger() });
    const [job] = await session.claim(1);
    const completed = session.complete(job!);
    await queue.close();
    expect(await completed).toBe(true);
    const again = SqliteQueue.open(path);
    expect(await again.stats()).toEqual({ queued: 0, running: 0, scheduled: 0, dead: 0 });
    await again.close();
  });

  it('a session detached with claims held leaves them running; the same owner re-attaching keeps them', async () => {
    const path = tempFile();
    const queue = SqliteQueue.open(path);
    await queue.enqueue('j');
    const owner = newOwner();
    const first = await queue.attach({ owner, delivery: 'at-least-once', leaseMs: 60_000, logger: recordingLogger() });
    const [job] = await first.claim(1);
    await first.detach();
    const again = await queue.attach({ owner, delivery: 'at-least-once', leaseMs: 60_000, logger: recordingLogger() });
    expect(again.report).toEqual({ released: 0, lost: 0 });
    expect(await queue.stats()).toMatchObject({ running: 1 });
    expect(await again.complete(job!)).toBe(true);
    await again.detach();
    await queue.close();
  });
});

describe('one foreman per file, across processes', { timeout: TIMEOUT_MS }, () => {
  async function holder(path: string, delivery: Delivery): Promise<{ c: ChildProcess; pid: number; claimed: ClaimedJob[] }> {
    const c = child('hold.mjs', [path, delivery]);
    const { pid, claimed } = await nextMessage<{ pid: number; claimed: ClaimedJob[] }>(c);
    return { c, pid, claimed };
  }

  it('a second attach fails with ForemanRunningError carrying the live holder\'s pid', async () => {
    const path = tempFile();
    const queue = SqliteQueue.open(path);
    const { c, pid } = await holder(path, 'at-least-once');
    const err = await rejectionOf(queue.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: 1000, logger: recordingLogger() }));
    expect(err).toBeInstanceOf(ForemanRunningError);
    expect((err as ForemanRunningError).code).toBe('ERR_FOREMAN_RUNNING');
    expect((err as ForemanRunningError).pid).toBe(pid);
    expect(pid).toBe(c.pid);
    // Producers are not affected by the holder.
    await queue.enqueue('still-fine');
    await queue.close();
  });

  it('after SIGKILL of an at-least-once holder its claims are released (fence unchanged until the next claim)', async () => {
    const path = tempFile();
    const queue = SqliteQueue.open(path);
    const ids = await queue.enqueueMany([{ name: 'a' }, { name: 'b' }]);
    const { c, pid, claimed } = await holder(path, 'at-least-once');
    expect(claimed.map((j) => j.id).sort()).toEqual([...ids].sort());
    c.kill('SIGKILL');
    await exited(c);
    const logger = recordingLogger();
    const session = await queue.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: 1000, logger });
    expect(session.report).toEqual({ tookOverFrom: { pid, host: expect.any(String) }, released: 2, lost: 0 });
    expect(logger.warnings.map((w) => w.msg)).toEqual(['took over the queue from a dead foreman']);
    expect(logger.warnings[0]!.obj).toMatchObject({ pid, released: 2, lost: 0 });
    expect(await queue.stats()).toEqual({ queued: 2, running: 0, scheduled: 0, dead: 0 });
    // The dead holder's late completion would carry its old fence: refused.
    expect(await session.complete(claimed[0]!)).toBe(false);
    const again = await session.claim(10);
    expect(again.map((j) => j.attempt)).toEqual([1, 1]);
    for (const j of again) expect(j.fence).toBe(claimed.find((k) => k.id === j.id)!.fence + 1);
    await session.detach();
    await queue.close();
  });

  it('after SIGKILL of an at-most-once holder its claims are dead (lost), never runnable again', async () => {
    const path = tempFile();
    const queue = SqliteQueue.open(path);
    const ids = await queue.enqueueMany([{ name: 'once-a', payload: 1 }, { name: 'once-b', payload: 2 }]);
    const { c, pid } = await holder(path, 'at-most-once');
    c.kill('SIGKILL');
    await exited(c);
    const logger = recordingLogger();
    const session = await queue.attach({ owner: newOwner(), delivery: 'at-most-once', leaseMs: 1000, logger });
    expect(session.report).toMatchObject({ tookOverFrom: { pid }, released: 0, lost: 2 });
    expect(logger.warnings.map((w) => w.msg)).toEqual(['took over the queue from a dead foreman', 'at-most-once jobs lost: their foreman died before they finished']);
    expect((logger.warnings[1]!.obj as { jobs: { id: string }[] }).jobs.map((j) => j.id).sort()).toEqual([...ids].sort());
    expect(await session.claim(10)).toEqual([]);
    const dead = await queue.dead();
    expect(dead.map((d) => d.reason)).toEqual(['lost', 'lost']);
    expect(dead.map((d) => d.id).sort()).toEqual([...ids].sort());
    expect((dead[0]!.error.cause as { code?: unknown }).code).toBe('ERR_JOB_LOST');
    await session.detach();
    await queue.close();
  });
});

describe('wake-ups and loading', { timeout: TIMEOUT_MS }, () => {
  it('an enqueue in another process wakes the attached session (by the wake-up file: no safety poll)', async () => {
    const path = tempFile();
    const queue = SqliteQueue.open(path, NO_POLL);
    const session = await queue.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: 1000, logger: recordingLogger() });
    const producer = child('enqueue.mjs', [path]);
    expect(await nextMessage(producer)).toBe('ready');
    for (let i = 0; i < 3; i++) {
      const woke = new Promise<void>((r) => {
        const off = session.onWakeup(() => {
          off();
          r();
        });
      });
      const answered = nextMessage<{ id: string }>(producer);
      producer.send({ name: `remote-${i}` });
      await woke;
      const { id } = await answered;
      expect((await session.claim(1)).map((j) => j.id)).toEqual([id]);
    }
    producer.send('exit');
    await exited(producer);
    await session.detach();
    await queue.close();
  });

  it('the safety poll wakes the session on a commit that rang no bell', async () => {
    const path = tempFile();
    const queue = SqliteQueue.open(path, { safetyPollMs: 20 });
    const session = await queue.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: 1000, logger: recordingLogger() });
    const woke = new Promise<void>((r) => session.onWakeup(r));
    const db = new Database(path);
    db.prepare("INSERT INTO bgworkers_jobs (name, payload, state, run_at, priority, max_attempts, enqueued_at) VALUES ('raw', 'null', 'queued', 0, 0, 1, 0)").run();
    db.close();
    await woke;
    expect((await session.claim(1)).map((j) => j.name)).toEqual(['raw']);
    await session.detach();
    await queue.close();
  });

  it('open refuses bad options, naming the field', () => {
    const path = tempFile();
    expect((thrownBy(() => SqliteQueue.open(path, { safetyPollMs: 0 })) as InvalidJobError).field).toBe('options.safetyPollMs');
    expect((thrownBy(() => SqliteQueue.open(path, { poll: 1 } as never)) as InvalidJobError).field).toBe('options.poll');
    expect((thrownBy(() => SqliteQueue.open('' as string)) as InvalidJobError).field).toBe('path');
  });

  it('the core never loads better-sqlite3 (or pg); the Foreman entry loads it only on open', () => {
    const path = tempFile();
    const r = spawnSync(process.execPath, [fixture('foreman/loads-driver.mjs'), path], { encoding: 'utf8', timeout: TIMEOUT_MS });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ core: false, foreman: false, opened: true });
  });
});
