/**
 * The queue contract suite (STYLE 16): what every Foreman queue (JobQueue + QueueSession of src/foreman/queue.ts)
 * must do, run against each store by its own test file (test/foreman/sqlite-queue.test.ts, the PostgreSQL one).
 * Nothing here knows the store: `open()` gives a fresh, empty queue, `reopen()` a second queue instance on the
 * same store (another connection, as another process would have), `cleanup()` closes and removes both.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidJobError, JobFailedError, QueueError, type AttachOptions, type ClaimRef, type Delivery, type JobQueue, type QueueSession } from '../../dist/foreman.js';
import { newOwner } from '../../dist/foreman/owner.js';

/** What a contract run needs of a store. */
export type QueueFactory = () => Promise<{ queue: JobQueue; reopen: () => Promise<JobQueue>; cleanup: () => Promise<void> }>;

/** A logger that keeps what it was told (deliberate warnings are asserted, never printed). */
export function recordingLogger(): AttachOptions['logger'] & { warnings: { obj: object; msg: string }[]; infos: { obj: object; msg: string }[] } {
  const warnings: { obj: object; msg: string }[] = [];
  const infos: { obj: object; msg: string }[] = [];
  return { warnings, infos, warn: (obj, msg) => void warnings.push({ obj, msg }), info: (obj, msg) => void infos.push({ obj, msg }) };
}

/** The rejection of `p`; fails the test if it resolves. */
export async function rejectionOf(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return expect.unreachable('expected a rejection');
}

const TEST_TIMEOUT_MS = 20_000;
const LEASE_MS = 30_000;
const anError = { name: 'TypeError', message: 'boom', stack: 'TypeError: boom\n    at handler (jobs.mjs:3:9)', code: 'E_BOOM', nonError: false };

/** Bad job inputs and the field each must be refused with (job-spec.ts). */
function badInputs(): { what: string; name: unknown; payload: unknown; options?: unknown; field: string }[] {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  // eslint-disable-next-line no-sparse-arrays
  const sparse = [1, , 3];
  return [
    { what: 'empty name', name: '', payload: 1, field: 'name' },
    { what: 'non-string name', name: 7, payload: 1, field: 'name' },
    { what: 'undefined in an object', name: 'j', payload: { a: undefined }, field: 'payload.a' },
    { what: 'a function', name: 'j', payload: { f: () => 1 }, field: 'payload.f' },
    { what: 'NaN', name: 'j', payload: { n: NaN }, field: 'payload.n' },
    { what: 'Infinity in an array', name: 'j', payload: [1, Infinity], field: 'payload[1]' },
    { what: 'a cycle', name: 'j', payload: cycle, field: 'payload.self' },
    { what: 'a class instance', name: 'j', payload: { m: new Map() }, field: 'payload.m' },
    { what: 'a bigint', name: 'j', payload: { b: 1n }, field: 'payload.b' },
    { what: 'a sparse array', name: 'j', payload: { a: sparse }, field: 'payload.a[1]' },
    { what: 'a too big payload', name: 'j', payload: 'x'.repeat(1024 * 1024), field: 'payload' },
    { what: 'an invalid runAt', name: 'j', payload: 1, options: { runAt: new Date(NaN) }, field: 'options.runAt' },
    { what: 'a runAt that is not a Date', name: 'j', payload: 1, options: { runAt: Date.now() }, field: 'options.runAt' },
    { what: 'a fractional priority', name: 'j', payload: 1, options: { priority: 1.5 }, field: 'options.priority' },
    { what: 'a priority out of range', name: 'j', payload: 1, options: { priority: 2 ** 31 }, field: 'options.priority' },
    { what: 'an empty key', name: 'j', payload: 1, options: { key: '' }, field: 'options.key' },
    { what: 'a non-string key', name: 'j', payload: 1, options: { key: 5 }, field: 'options.key' },
    { what: 'maxAttempts 0', name: 'j', payload: 1, options: { maxAttempts: 0 }, field: 'options.maxAttempts' },
    { what: 'an unknown option', name: 'j', payload: 1, options: { delay: 5 }, field: 'options.delay' },
    { what: 'options not an object', name: 'j', payload: 1, options: 'soon', field: 'options' },
  ];
}

/** Defines the contract's tests for one store. */
export function queueContract(label: string, open: QueueFactory): void {
  describe(`queue contract: ${label}`, { timeout: TEST_TIMEOUT_MS }, () => {
    const teardown: (() => Promise<void>)[] = [];

    afterEach(async () => {
      // Reverse order: sessions detach before their queues are closed and removed.
      for (const t of teardown.splice(0).reverse()) await t();
    });

    async function fresh(): Promise<{ queue: JobQueue; reopen: () => Promise<JobQueue> }> {
      const { queue, reopen, cleanup } = await open();
      teardown.push(cleanup);
      return { queue, reopen };
    }

    async function attach(queue: JobQueue, delivery: Delivery = 'at-least-once'): Promise<QueueSession> {
      const session = await queue.attach({ owner: newOwner(), delivery, leaseMs: LEASE_MS, logger: recordingLogger() });
      teardown.push(() => session.detach());
      return session;
    }

    const past = (ms: number): Date => new Date(Date.now() - ms);
    const future = (ms: number): Date => new Date(Date.now() + ms);

    it('claims runnable jobs by priority, then runAt, then enqueue order; returns them in that order', async () => {
      const { queue } = await fresh();
      const low = await queue.enqueue('low', 1, { priority: -1 });
      const late = await queue.enqueue('late', 2, { runAt: past(1_000) });
      const early = await queue.enqueue('early', 3, { runAt: past(2_000) });
      const high = await queue.enqueue('high', 4, { priority: 10 });
      const tieA = await queue.enqueue('tieA', 5, { runAt: past(500) });
      const tieB = await queue.enqueue('tieB', 6, { runAt: new Date(Date.now() - 500) });
      const session = await attach(queue);
      const first = await session.claim(2);
      expect(first.map((j) => j.id)).toEqual([high, early]);
      const rest = await session.claim(10);
      // tieA and tieB may share a runAt millisecond or not; either way tieA comes first (earlier runAt or lower id).
      expect(rest.map((j) => j.id)).toEqual([late, tieA, tieB, low]);
      expect(first[0]).toMatchObject({ name: 'high', payloadText: '4', attempt: 1, maxAttempts: 5 });
      expect(first[0]!.enqueuedAt).toBeInstanceOf(Date);
      expect(await session.claim(10)).toEqual([]);
    });

    it('a job whose runAt is in the future is scheduled, not claimable; nextRunAt names it', async () => {
      const { queue } = await fresh();
      const at = future(3_600_000);
      await queue.enqueue('later', null, { runAt: at });
      const session = await attach(queue);
      expect(await session.claim(10)).toEqual([]);
      expect(await queue.stats()).toEqual({ queued: 0, running: 0, scheduled: 1, dead: 0 });
      expect((await session.nextRunAt())?.getTime()).toBe(at.getTime());
    });

    it('nextRunAt is null on an empty queue and the earliest runAt otherwise', async () => {
      const { queue } = await fresh();
      const session = await attach(queue);
      expect(await session.nextRunAt()).toBeNull();
      const a = future(60_000);
      await queue.enqueue('b', null, { runAt: future(120_000) });
      await queue.enqueue('a', null, { runAt: a });
      expect((await session.nextRunAt())?.getTime()).toBe(a.getTime());
    });

    it('key: enqueueing a queued key replaces its payload and options and returns its id; a running key enqueues anew', async () => {
      const { queue } = await fresh();
      const id = await queue.enqueue('mail', { v: 1 }, { key: 'user-7' });
      expect(await queue.enqueue('mail', { v: 2 }, { key: 'user-7', priority: 3 })).toBe(id);
      expect(await queue.stats()).toMatchObject({ queued: 1 });
      const session = await attach(queue);
      const [job] = await session.claim(10);
      expect(job).toMatchObject({ id, payloadText: '{"v":2}' });
      const again = await queue.enqueue('mail', { v: 3 }, { key: 'user-7' });
      expect(again).not.toBe(id);
      expect(await queue.stats()).toMatchObject({ queued: 1, running: 1 });
      // The running one goes back while the new one holds the key: both stay, neither is lost.
      expect(await session.release(job!)).toBe(true);
      expect(await queue.stats()).toMatchObject({ queued: 2, running: 0 });
      expect((await session.claim(10)).map((j) => j.id).sort()).toEqual([id, again].sort());
    });

    it('enqueueMany stores all in order, or none when one item is bad (InvalidJobError naming jobs[i].field)', async () => {
      const { queue } = await fresh();
      const ids = await queue.enqueueMany([{ name: 'a', payload: 1 }, { name: 'b' }, { name: 'c', payload: [3], priority: 1 }]);
      expect(ids).toHaveLength(3);
      expect(new Set(ids).size).toBe(3);
      const err = await rejectionOf(queue.enqueueMany([{ name: 'x', payload: 1 }, { name: 'y', payload: 2 }, { name: 'z', payload: { d: NaN } }]));
      expect(err).toBeInstanceOf(InvalidJobError);
      expect((err as InvalidJobError).field).toBe('jobs[2].payload.d');
      const err2 = await rejectionOf(queue.enqueueMany([{ name: 'x' }, { name: 'y', maxAttempts: -1 }]));
      expect((err2 as InvalidJobError).field).toBe('jobs[1].options.maxAttempts');
      expect(await queue.stats()).toEqual({ queued: 3, running: 0, scheduled: 0, dead: 0 });
      const session = await attach(queue);
      const claimed = await session.claim(10);
      expect(claimed.map((j) => j.id)).toEqual([ids[2], ids[0], ids[1]]);
      expect(claimed.map((j) => j.payloadText)).toEqual(['[3]', '1', 'null']);
      expect(await queue.enqueueMany([])).toEqual([]);
      expect(((await rejectionOf(queue.enqueueMany(5 as never))) as InvalidJobError).field).toBe('jobs');
    });

    it('refuses every bad input with InvalidJobError naming the field, and stores nothing', async () => {
      const { queue } = await fresh();
      for (const bad of badInputs()) {
        const one = await rejectionOf(queue.enqueue(bad.name as string, bad.payload, bad.options as never));
        expect(one, bad.what).toBeInstanceOf(InvalidJobError);
        expect((one as InvalidJobError).field, bad.what).toBe(bad.field);
        expect((one as InvalidJobError).code).toBe('ERR_INVALID_JOB');
        const spec = { name: bad.name, payload: bad.payload, ...(typeof bad.options === 'object' ? bad.options : {}) };
        if (bad.field === 'options') continue; // enqueueMany has no options object to get wrong
        const many = await rejectionOf(queue.enqueueMany([{ name: 'ok' }, spec as never]));
        expect((many as InvalidJobError).field, bad.what).toBe(`jobs[1].${bad.field}`);
      }
      expect(await queue.stats()).toEqual({ queued: 0, running: 0, scheduled: 0, dead: 0 });
    });

    it('fencing: a stale claim complete/fail/release/renew changes nothing and returns false', async () => {
      const { queue } = await fresh();
      const id = await queue.enqueue('j', 1);
      const session = await attach(queue);
      const [first] = await session.claim(1);
      expect(await session.release(first!)).toBe(true);
      const [second] = await session.claim(1);
      expect(second!.id).toBe(id);
      expect(second!.fence).toBeGreaterThan(first!.fence);
      const stale: ClaimRef = { id: first!.id, fence: first!.fence };
      expect(await session.complete(stale)).toBe(false);
      expect(await session.fail(stale, anError, null, 'failed')).toBe(false);
      expect(await session.release(stale)).toBe(false);
      await session.renew([stale]);
      expect(await queue.stats()).toEqual({ queued: 0, running: 1, scheduled: 0, dead: 0 });
      expect(await session.complete({ id: 'no-such-id', fence: second!.fence })).toBe(false);
      expect(await session.complete(second!)).toBe(true);
      expect(await session.complete(second!)).toBe(false);
      expect(await queue.stats()).toEqual({ queued: 0, running: 0, scheduled: 0, dead: 0 });
    });

    it('finishing calls made together each get their own answer and effect', async () => {
      const { queue } = await fresh();
      await queue.enqueueMany([{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd', maxAttempts: 1 }]);
      const session = await attach(queue);
      const [a, b, c, d] = await session.claim(4);
      const answers = await Promise.all([
        session.complete(a!),
        session.complete({ id: b!.id, fence: b!.fence + 1 }),
        session.release(c!),
        session.fail(d!, anError, past(1), 'failed'),
        session.complete(a!),
        session.renew([b!]),
      ]);
      expect(answers).toEqual([true, false, true, true, false, undefined]);
      expect(await queue.stats()).toEqual({ queued: 1, running: 1, scheduled: 0, dead: 1 });
    });

    it('finishing calls made together with stale claims among them: only the current claims change', async () => {
      const { queue } = await fresh();
      await queue.enqueueMany(['a', 'b', 'c', 'd', 'e', 'f'].map((name) => ({ name })));
      const session = await attach(queue);
      const [a, b, c, d, e, f] = await session.claim(6);
      // a and d are taken over (released and claimed again: new fences); the old refs are stale.
      expect(await Promise.all([session.release(a!), session.release(d!)])).toEqual([true, true]);
      const again = await session.claim(2);
      expect(again.map((j) => j.id).sort()).toEqual([a!.id, d!.id].sort());
      // completes only
      expect(await Promise.all([session.complete(b!), session.complete(a!), session.complete(c!)])).toEqual([true, false, true]);
      // completes, fails and releases together
      expect(await Promise.all([session.fail(a!, anError, past(1), 'failed'), session.release(d!), session.complete(e!), session.fail(f!, anError, past(1), 'failed')]))
        .toEqual([false, false, true, true]);
      expect(await queue.stats()).toEqual({ queued: 1, running: 2, scheduled: 0, dead: 0 });
      expect(await Promise.all(again.map((j) => session.complete(j)))).toEqual([true, true]);
    });

    it('two running jobs of one key failing together are both queued again (one keeps the key)', async () => {
      const { queue } = await fresh();
      const first = await queue.enqueue('k', 1, { key: 'K' });
      const session = await attach(queue);
      const [one] = await session.claim(1);
      const second = await queue.enqueue('k', 2, { key: 'K' }); // K is running, not queued: a new job
      expect(second).not.toBe(first);
      const [two] = await session.claim(1);
      expect(await Promise.all([session.fail(one!, anError, past(1), 'failed'), session.fail(two!, anError, past(1), 'failed')])).toEqual([true, true]);
      expect(await queue.stats()).toEqual({ queued: 2, running: 0, scheduled: 0, dead: 0 });
      expect((await session.claim(2)).map((j) => j.id).sort()).toEqual([first, second].sort());
    });

    it('finishing calls made just before close all take effect', async () => {
      const { queue, reopen } = await fresh();
      const closing = await reopen();
      const n = 1_200; // more than one batch of a group commit
      await closing.enqueueMany(Array.from({ length: n }, (_, i) => ({ name: 'j', payload: i })));
      const session = await closing.attach({ owner: newOwner(), delivery: 'at-least-once', leaseMs: LEASE_MS, logger: recordingLogger() });
      const jobs = await session.claim(n);
      expect(jobs).toHaveLength(n);
      const answers = Promise.all(jobs.map((j) => session.complete(j)));
      await closing.close();
      expect((await answers).every((x) => x)).toBe(true);
      expect(await queue.stats()).toEqual({ queued: 0, running: 0, scheduled: 0, dead: 0 });
    });

    it('release makes a claim runnable now without counting the attempt', async () => {
      const { queue } = await fresh();
      await queue.enqueue('j', 1);
      const session = await attach(queue);
      const [a] = await session.claim(1);
      expect(a!.attempt).toBe(1);
      expect(await session.release(a!)).toBe(true);
      const [b] = await session.claim(1);
      expect(b!.attempt).toBe(1);
    });

    it('at-most-once: a claimed job is never claimable again; release refuses it', async () => {
      const { queue } = await fresh();
      await queue.enqueue('once', 1);
      const session = await attach(queue, 'at-most-once');
      const [job] = await session.claim(10);
      expect(job).toBeDefined();
      expect(await session.release(job!)).toBe(false);
      expect(await session.claim(10)).toEqual([]);
      expect(await queue.stats()).toEqual({ queued: 0, running: 1, scheduled: 0, dead: 0 });
      expect(await session.complete(job!)).toBe(true);
      expect(await queue.stats()).toEqual({ queued: 0, running: 0, scheduled: 0, dead: 0 });
    });

    it('fail: queued again at retryAt while attempts are left, then dead with the last error revived', async () => {
      const { queue } = await fresh();
      const id = await queue.enqueue('flaky', { n: 1 }, { maxAttempts: 2 });
      const session = await attach(queue);
      const [a1] = await session.claim(1);
      const retryAt = future(3_600_000);
      expect(await session.fail(a1!, anError, retryAt, 'failed')).toBe(true);
      expect(await queue.stats()).toEqual({ queued: 0, running: 0, scheduled: 1, dead: 0 });
      expect((await session.nextRunAt())?.getTime()).toBe(retryAt.getTime());
      expect(await session.claim(1)).toEqual([]);

      const other = await queue.enqueue('flaky2', 'p', { maxAttempts: 2 });
      const [b1] = await session.claim(1);
      expect(b1!.id).toBe(other);
      expect(await session.fail(b1!, anError, past(1), 'failed')).toBe(true);
      const [b2] = await session.claim(1);
      expect(b2).toMatchObject({ id: other, attempt: 2 });
      // No attempts left: dead even though a retryAt is given.
      expect(await session.fail(b2!, { ...anError, message: 'last' }, past(1), 'failed')).toBe(true);
      expect(await queue.stats()).toEqual({ queued: 0, running: 0, scheduled: 1, dead: 1 });
      const [dead] = await queue.dead();
      expect(dead).toMatchObject({ id: other, name: 'flaky2', payload: 'p', attempts: 2, reason: 'failed' });
      expect(dead!.diedAt).toBeInstanceOf(Date);
      expect(dead!.error).toBeInstanceOf(JobFailedError);
      expect((dead!.error as JobFailedError).attempts).toBe(2);
      const cause = dead!.error.cause as Error & { code?: unknown };
      expect(cause).toBeInstanceOf(Error);
      expect(cause.name).toBe('TypeError');
      expect(cause.message).toBe('last');
      expect(cause.stack).toBe(anError.stack);
      expect(cause.code).toBe('E_BOOM');
      expect(id).not.toBe(other);
    });

    it('fail with retryAt null is dead at once with the given reason', async () => {
      const { queue } = await fresh();
      const id = await queue.enqueue('nope', { a: [1, 2] });
      const session = await attach(queue);
      const [job] = await session.claim(1);
      expect(await session.fail(job!, { ...anError, name: 'Error', code: undefined }, null, 'unknown-name')).toBe(true);
      const dead = await queue.dead();
      expect(dead).toHaveLength(1);
      expect(dead[0]).toMatchObject({ id, payload: { a: [1, 2] }, attempts: 1, reason: 'unknown-name' });
    });

    it('retry(id): a dead job is runnable now with its attempts reset; QueueError for an id that is not dead', async () => {
      const { queue } = await fresh();
      const id = await queue.enqueue('j', 1, { maxAttempts: 1 });
      const session = await attach(queue);
      const [job] = await session.claim(1);
      await session.fail(job!, anError, past(1), 'failed');
      expect(await queue.stats()).toMatchObject({ dead: 1 });
      await queue.retry(id);
      expect(await queue.stats()).toEqual({ queued: 1, running: 0, scheduled: 0, dead: 0 });
      expect(await queue.dead()).toEqual([]);
      const [again] = await session.claim(1);
      expect(again).toMatchObject({ id, attempt: 1 });
      expect(await rejectionOf(queue.retry(id))).toBeInstanceOf(QueueError); // running, not dead
      expect(await rejectionOf(queue.retry('999999'))).toBeInstanceOf(QueueError);
      expect(await rejectionOf(queue.retry('not an id'))).toBeInstanceOf(QueueError);
    });

    it('dead(limit) lists at most limit jobs', async () => {
      const { queue } = await fresh();
      await queue.enqueueMany([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
      const session = await attach(queue);
      for (const j of await session.claim(3)) await session.fail(j, anError, null, 'failed');
      expect(await queue.dead()).toHaveLength(3);
      expect(await queue.dead({ limit: 2 })).toHaveLength(2);
    });

    it('stats counts queued (runnable now), running, scheduled and dead', async () => {
      const { queue } = await fresh();
      await queue.enqueueMany([{ name: 'a' }, { name: 'b' }, { name: 'c' }, { name: 'd' }, { name: 'e', runAt: future(3_600_000) }]);
      const session = await attach(queue);
      const [x, y] = await session.claim(2);
      await session.fail(y!, anError, null, 'failed');
      expect(x).toBeDefined();
      expect(await queue.stats()).toEqual({ queued: 2, running: 1, scheduled: 1, dead: 1 });
    });

    it('renew extends live claims and ignores stale ones; the claims stay completable', async () => {
      const { queue } = await fresh();
      await queue.enqueueMany([{ name: 'a' }, { name: 'b' }]);
      const session = await attach(queue);
      const claimed = await session.claim(2);
      await session.renew(claimed);
      await session.renew([]);
      await session.renew([{ id: claimed[0]!.id, fence: claimed[0]!.fence + 7 }]);
      for (const j of claimed) expect(await session.complete(j)).toBe(true);
    });

    it('wakes the attached session when a second queue instance enqueues, and when it retries', async () => {
      const { queue, reopen } = await fresh();
      const producer = await reopen();
      teardown.push(() => producer.close());
      const session = await attach(queue);
      let woke: () => void = () => {};
      const wakeups = { n: 0 };
      const remove = session.onWakeup(() => {
        wakeups.n++;
        woke();
      });
      const first = new Promise<void>((r) => (woke = r));
      const id = await producer.enqueue('from-elsewhere', 1, { maxAttempts: 1 });
      await first;
      const [job] = await session.claim(1);
      expect(job!.id).toBe(id);
      await session.fail(job!, anError, null, 'failed');
      const second = new Promise<void>((r) => (woke = r));
      await producer.retry(id);
      await second;
      expect((await session.claim(1))[0]!.id).toBe(id);
      remove();
    });

    it('wakes the attached session on an enqueue through the same queue instance', async () => {
      const { queue } = await fresh();
      const session = await attach(queue);
      const woke = new Promise<void>((r) => session.onWakeup(r));
      await queue.enqueueMany([{ name: 'a' }, { name: 'b' }]);
      await woke;
    });

    it('after close every call rejects with QueueError', async () => {
      const { reopen } = await fresh();
      const q = await reopen();
      await q.close();
      const owner = { owner: newOwner(), delivery: 'at-least-once' as const, leaseMs: LEASE_MS, logger: recordingLogger() };
      for (const p of [q.enqueue('a'), q.enqueueMany([{ name: 'a' }]), q.stats(), q.dead(), q.retry('1'), q.attach(owner), q.close()]) {
        expect(await rejectionOf(p)).toBeInstanceOf(QueueError);
      }
    });
  });
}
