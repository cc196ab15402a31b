/**
 * PostgresQueue against a real PostgreSQL server (BGWORKERS_PG_URL, default postgres://postgres@127.0.0.1:5432/test).
 * Unset and unreachable: skipped with one line saying how to run it; set (or CI) and unreachable: fails.
 * Every schema this file makes starts with bgw_pg_test_ and is dropped in afterAll.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { InvalidJobError, PostgresQueue, QueueError, type AttachOptions, type QueueSession } from '../../dist/foreman.js';
import { fixture } from '../helpers.js';
import { queueContract } from './contract.js';
import { PG_URL, pgDescribe, pgUp } from '../pg.js';

const T = 30_000;
const suite = pgDescribe('postgres-queue tests');
const up = pgUp;

const schemas: string[] = [];
function newSchema(): string {
  const s = `bgw_pg_test_${randomBytes(5).toString('hex')}`;
  schemas.push(s);
  return s;
}
const queues: PostgresQueue[] = [];
async function open(schema: string): Promise<PostgresQueue> {
  const q = await PostgresQueue.connect(PG_URL, { schema });
  queues.push(q);
  return q;
}
const admin = up ? new pg.Pool({ connectionString: PG_URL, max: 2 }) : undefined;
async function sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  return (await admin!.query<R>(text, values)).rows;
}

afterAll(async () => {
  for (const q of queues) await q.close().catch(() => undefined); // some were closed by their tests
  if (admin) {
    for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    await admin.end();
  }
}, T);

/** A logger that keeps what it is told (warnings of takeovers are expected, not printed). */
function captureLogger(): AttachOptions['logger'] & { warns: string[]; infos: string[] } {
  const warns: string[] = [];
  const infos: string[] = [];
  return { warns, infos, warn: (_o, m) => void warns.push(m), info: (_o, m) => void infos.push(m) };
}
function attachOptions(delivery: AttachOptions['delivery'] = 'at-least-once', leaseMs = 60_000): AttachOptions & { logger: ReturnType<typeof captureLogger> } {
  return { owner: { id: randomUUID(), pid: process.pid, startTime: 0, host: hostname() }, delivery, leaseMs, logger: captureLogger() };
}

/** Waits until `cond` holds, checking it after each `step`; fails after `max` checks (no timing decides a result). */
async function until(cond: () => Promise<boolean>, what: string, max = 2_000): Promise<void> {
  for (let i = 0; i < max; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`gave up waiting: ${what}`);
}

/** A LISTEN connection on the queue's channel counting notifications, with a sentinel to know all earlier ones arrived. */
async function listenTo(schema: string): Promise<{ count(): number; flush(): Promise<void>; close(): Promise<void> }> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  const channel = `${schema}_jobs`;
  let n = 0;
  let sentinel: (() => void) | undefined;
  c.on('notification', (m) => {
    if (m.payload === 'sentinel') sentinel?.();
    else n++;
  });
  await c.query(`LISTEN "${channel}"`);
  return {
    count: () => n,
    // Notifications arrive in commit order: once the sentinel sent after them arrived, all of them did.
    flush: () => new Promise<void>((resolve, reject) => {
      sentinel = resolve;
      admin!.query(`SELECT pg_notify($1, 'sentinel')`, [channel]).catch(reject);
    }),
    close: () => c.end(),
  };
}

async function ownerBackend(ownerId: string): Promise<number | undefined> {
  const rows = await sql<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = $1`, [`bgworkers foreman ${ownerId}`]);
  return rows[0]?.pid;
}

suite('PostgresQueue', () => {
  it('connect validates the schema name and hides the password in location', async () => {
    await expect(PostgresQueue.connect(PG_URL, { schema: 'Robert"); DROP' })).rejects.toBeInstanceOf(QueueError);
    await expect(PostgresQueue.connect('mysql://x')).rejects.toBeInstanceOf(QueueError);
    const u = new URL(PG_URL);
    u.password = 'sekrit';
    const q = PostgresQueue.connect(u.toString(), { schema: newSchema() }).catch((e: unknown) => e);
    const r = await q;
    // trust auth ignores the password, so it connects; either way the password never shows
    const text = r instanceof PostgresQueue ? r.location : String(r);
    if (r instanceof PostgresQueue) await r.close();
    expect(text).not.toContain('sekrit');
  }, T);

  it('without pg installed, connect fails with QueueError saying npm install pg', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', fixture('hide-pg.mjs'), fixture('pg-connect.mjs'), PG_URL]);
    const r = JSON.parse(stdout) as { code: string; message: string };
    expect(r.code).toBe('ERR_QUEUE');
    expect(r.message).toContain('npm install pg');
  }, T);

  it('attach refuses bad options with QueueError naming the field', async () => {
    const q = await open(newSchema());
    const good = attachOptions();
    for (const [field, bad] of [['delivery', { ...good, delivery: 'twice' }], ['leaseMs', { ...good, leaseMs: 0 }], ['owner.id', { ...good, owner: { ...good.owner, id: '' } }]] as const) {
      const err = await q.attach(bad as never).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueueError);
      expect(String((err as Error).message)).toContain(`\`${field}\``);
    }
  }, T);

  it('two connects at once on a new schema both migrate it, once', async () => {
    for (let round = 0; round < 4; round++) {
      const schema = newSchema();
      const [a, b] = await Promise.all([open(schema), open(schema)]);
      expect(a.kind).toBe('postgres');
      expect(b.location).toBe(a.location);
      const versions = await sql<{ version: number }>(`SELECT version FROM "${schema}".migrations`);
      expect(versions.map((v) => v.version)).toEqual([1]);
    }
  }, T);

  it('two sessions claiming concurrently never get the same job (SKIP LOCKED)', async () => {
    const schema = newSchema();
    const [qa, qb] = [await open(schema), await open(schema)];
    const N = 2000;
    await qa.enqueueMany(Array.from({ length: N }, (_, i) => ({ name: 'j', payload: i })));
    const sa = await qa.attach(attachOptions());
    const sb = await qb.attach(attachOptions());
    async function drain(s: QueueSession): Promise<string[]> {
      const got: string[] = [];
      for (;;) {
        const jobs = await s.claim(64);
        if (jobs.length === 0) return got;
        got.push(...jobs.map((j) => j.id));
      }
    }
    // two claim loops per session, all four at once
    const [a1, b1, a2, b2] = await Promise.all([drain(sa), drain(sb), drain(sa), drain(sb)]);
    const a = [...a1!, ...a2!];
    const b = [...b1!, ...b2!];
    const all = [...a, ...b];
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBe(N);
    expect(a.length).toBeGreaterThan(0);
    expect(b.length).toBeGreaterThan(0);
    await sa.detach();
    await sb.detach();
  }, T);

  it('one NOTIFY per enqueue transaction, never per row', async () => {
    const schema = newSchema();
    const q = await open(schema);
    const l = await listenTo(schema);
    try {
      await q.enqueueMany(Array.from({ length: 500 }, (_, i) => ({ name: 'j', payload: i })));
      await l.flush();
      expect(l.count()).toBe(1);
      await q.enqueue('a');
      await q.enqueue('b');
      await l.flush();
      expect(l.count()).toBe(3);
      expect((await q.stats()).queued).toBe(502);
    } finally {
      await l.close();
    }
  }, T);

  it('enqueue with { client } exists exactly when the caller commits, and notifies then', async () => {
    const schema = newSchema();
    const q = await open(schema);
    const l = await listenTo(schema);
    const client = await admin!.connect();
    try {
      await client.query('BEGIN');
      const id = await q.enqueue('in-tx', { a: 1 }, { client });
      expect(id).toMatch(/^\d+$/);
      expect((await q.stats()).queued).toBe(0);
      await client.query('COMMIT');
      expect((await q.stats()).queued).toBe(1);
      await l.flush();
      expect(l.count()).toBe(1);

      await client.query('BEGIN');
      await q.enqueue('rolled-back', null, { client, priority: 3 });
      await client.query('ROLLBACK');
      expect((await q.stats()).queued).toBe(1);
      await l.flush();
      expect(l.count()).toBe(1);
      await expect(q.enqueue('x', null, { client: {} as never })).rejects.toMatchObject({ field: 'options.client' });
      await expect(q.enqueue('x', null, { client, bogus: 1 } as never)).rejects.toBeInstanceOf(InvalidJobError);
    } finally {
      client.release();
      await l.close();
    }
  }, T);

  it('the listener connection is re-established after pg_terminate_backend, fires once, and wakes on later enqueues', async () => {
    const schema = newSchema();
    const q = await open(schema);
    const o = attachOptions();
    const s = await q.attach(o);
    let wakes = 0;
    let onWake: (() => void) | undefined;
    s.onWakeup(() => { wakes++; onWake?.(); });
    const nextWake = (): Promise<void> => new Promise((r) => { onWake = r; });
    const before = await ownerBackend(o.owner.id);
    expect(before).toBeTypeOf('number');
    const reconnected = nextWake();
    await sql('SELECT pg_terminate_backend($1)', [before]);
    await reconnected;
    expect(wakes).toBe(1);
    const after = await ownerBackend(o.owner.id);
    expect(after).toBeTypeOf('number');
    expect(after).not.toBe(before);
    // still the owner: its lock is held again, so a second foreman does not take it over
    const woke = nextWake();
    await q.enqueue('after-reconnect');
    await woke;
    expect(wakes).toBe(2);
    const [job] = await s.claim(1);
    const other = await q.attach(attachOptions());
    expect(other.report).toEqual({ released: 0, lost: 0 });
    expect(await s.complete(job!)).toBe(true);
    expect(o.logger.warns).toContain('postgres queue: owner connection lost, reconnecting');
    await other.detach();
    await s.detach();
  }, T);

  for (const delivery of ['at-least-once', 'at-most-once'] as const) {
    it(`a SIGKILLed foreman's ${delivery} jobs are taken over at once, without waiting for the lease`, async () => {
      const schema = newSchema();
      const q = await open(schema);
      await q.enqueueMany(Array.from({ length: 5 }, (_, i) => ({ name: 'j', payload: i })));
      const child = spawn(process.execPath, [fixture('pg-claimer.mjs'), PG_URL, schema, delivery, '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
      const line = await firstLine(child);
      const claimed = JSON.parse(line) as { owner: string; ids: string[] };
      expect(claimed.ids).toHaveLength(3);
      expect((await q.stats()).running).toBe(3);
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      // The server ends the killed client's session (and frees its lock) when it sees the socket closed.
      await until(async () => (await ownerBackend(claimed.owner)) === undefined, 'the killed owner session to end');
      const o = attachOptions();
      const s = await q.attach(o);
      expect(s.report.tookOverFrom).toEqual({ pid: child.pid, host: hostname() });
      if (delivery === 'at-least-once') {
        expect(s.report).toMatchObject({ released: 3, lost: 0 });
        expect(await q.stats()).toMatchObject({ queued: 5, running: 0, dead: 0 });
        const again = await s.claim(10);
        expect(again.map((j) => j.id).sort()).toEqual((await allIds(schema)).sort());
        expect(again.filter((j) => claimed.ids.includes(j.id)).every((j) => j.attempt === 2)).toBe(true);
      } else {
        expect(s.report).toMatchObject({ released: 0, lost: 3 });
        expect(await q.stats()).toMatchObject({ queued: 2, running: 0, dead: 3 });
        const dead = await q.dead();
        expect(dead.map((d) => d.id).sort()).toEqual([...claimed.ids].sort());
        expect(dead.every((d) => d.reason === 'lost' && d.error.name === 'JobFailedError')).toBe(true);
        expect(o.logger.warns.filter((w) => w.includes('lost'))).toHaveLength(3);
        // never runnable again by any path but retry()
        const again = await s.claim(10);
        expect(again.some((j) => claimed.ids.includes(j.id))).toBe(false);
      }
      expect(stderr).toBe('');
      await s.detach();
    }, T);
  }

  it('an attached foreman takes a gone owner over during claim, not only at attach', async () => {
    const schema = newSchema();
    const q = await open(schema);
    await q.enqueueMany([{ name: 'a' }, { name: 'b' }]);
    const o = attachOptions();
    const s = await q.attach(o);
    const child = spawn(process.execPath, [fixture('pg-claimer.mjs'), PG_URL, schema, 'at-least-once', '10'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const claimed = JSON.parse(await firstLine(child)) as { owner: string; ids: string[] };
    expect(claimed.ids).toHaveLength(2);
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    await until(async () => (await ownerBackend(claimed.owner)) === undefined, 'the killed owner session to end');
    const jobs = await s.claim(10);
    expect(jobs.map((j) => j.id).sort()).toEqual([...claimed.ids].sort());
    expect(o.logger.warns).toContain('postgres queue: a gone foreman was taken over');
    await s.detach();
  }, T);

  it('after a failed claim, jobs running under the owner that it never handed out are queued again (a lost reply)', async () => {
    const schema = newSchema();
    const q = await open(schema);
    const ids = await q.enqueueMany([{ name: 'held' }, { name: 'lost-reply' }, { name: 'other' }]);
    const o = attachOptions('at-most-once');
    const s = await q.attach(o);
    const [held] = await s.claim(1);
    expect(held!.id).toBe(ids[0]);
    // A claim fails (here: its table is briefly renamed), and a claim of this owner's committed without its reply
    // ever reaching it (here: written by hand, as the claim statement would have).
    await sql(`ALTER TABLE "${schema}".jobs RENAME TO jobs_away`);
    await expect(s.claim(1)).rejects.toBeInstanceOf(QueueError);
    await sql(`ALTER TABLE "${schema}".jobs_away RENAME TO jobs`);
    await sql(`UPDATE "${schema}".jobs SET state = 'running', owner = $1, delivery = 'at-most-once', attempts = attempts + 1, fence = fence + 1 WHERE id = $2`, [o.owner.id, ids[1]]);
    const again = await s.claim(10);
    expect(again.map((j) => j.id).sort()).toEqual([ids[1], ids[2]].sort());
    expect(again.every((j) => j.attempt === 1)).toBe(true); // the lost claim's attempt is not counted: it never ran
    expect(o.logger.infos).toContain('postgres queue: jobs of a claim whose reply was lost queued again');
    for (const j of [held!, ...again]) expect(await s.complete(j)).toBe(true);
    expect(await q.stats()).toMatchObject({ queued: 0, running: 0 });
    await s.detach();
  }, T);

  it("a live owner's job whose lease expired is never taken over", async () => {
    const schema = newSchema();
    const q = await open(schema);
    await q.enqueue('long');
    const a = await q.attach(attachOptions('at-least-once', 1));
    const [job] = await a.claim(1);
    await until(async () => (await sql<{ e: boolean }>(`SELECT lease_expires_at < (extract(epoch from clock_timestamp()) * 1000)::bigint AS e FROM "${schema}".jobs`))[0]!.e, 'the lease to expire');
    const ob = attachOptions();
    const b = await q.attach(ob);
    expect(b.report).toEqual({ released: 0, lost: 0 });
    expect(await b.claim(10)).toEqual([]);
    expect((await q.stats()).running).toBe(1);
    expect(await a.complete(job!)).toBe(true);
    await a.detach();
    await b.detach();
  }, T);

  it('an expired lease of an owner with no owner row (detached) is the fallback', async () => {
    const schema = newSchema();
    const q = await open(schema);
    await q.enqueue('j');
    const a = await q.attach(attachOptions('at-least-once', 1));
    const [job] = await a.claim(1);
    await a.detach(); // claims still held stay as they are
    await until(async () => (await sql<{ e: boolean }>(`SELECT lease_expires_at < (extract(epoch from clock_timestamp()) * 1000)::bigint AS e FROM "${schema}".jobs`))[0]!.e, 'the lease to expire');
    const b = await q.attach(attachOptions());
    expect(b.report).toMatchObject({ released: 1, lost: 0 });
    const [again] = await b.claim(1);
    expect(again!.id).toBe(job!.id);
    expect(again!.fence).toBe(job!.fence + 1);
    await b.detach();
  }, T);

  it('finishing calls act only with the current fence', async () => {
    const schema = newSchema();
    const q = await open(schema);
    await q.enqueue('j', { x: 1 }, { maxAttempts: 3 });
    const s = await q.attach(attachOptions());
    const [first] = await s.claim(1);
    expect(first).toMatchObject({ name: 'j', payloadText: '{"x":1}', attempt: 1, maxAttempts: 3 });
    expect(await s.release(first!)).toBe(true);
    const [second] = await s.claim(1);
    expect(second!.fence).toBe(first!.fence + 1);
    expect(second!.attempt).toBe(1); // release does not count the attempt
    const err = { name: 'Error', message: 'boom', stack: undefined, code: 'E_X', nonError: false };
    expect(await s.complete(first!)).toBe(false);
    expect(await s.fail(first!, err, null, 'failed')).toBe(false);
    expect(await s.release(first!)).toBe(false);
    expect((await q.stats()).running).toBe(1);
    expect(await s.fail(second!, err, null, 'failed')).toBe(true);
    const [dead] = await q.dead();
    expect(dead).toMatchObject({ id: second!.id, reason: 'failed', attempts: 1, payload: { x: 1 } });
    expect((dead!.error.cause as Error).message).toBe('boom');
    expect(await s.complete(second!)).toBe(false);
    await q.retry(second!.id);
    await expect(q.retry(second!.id)).rejects.toBeInstanceOf(QueueError);
    const [third] = await s.claim(1);
    expect(third!.attempt).toBe(1);
    expect(await s.complete(third!)).toBe(true);
    expect(await q.stats()).toEqual({ queued: 0, running: 0, scheduled: 0, dead: 0 });
    await s.detach();
  }, T);

  it('a failing statement rejects every finishing call of its batch, and none of them happened', async () => {
    const schema = newSchema();
    const q = await open(schema);
    await q.enqueueMany([{ name: 'good' }, { name: 'poison' }, { name: 'good' }, { name: 'retried', maxAttempts: 3 }]);
    const s = await q.attach(attachOptions());
    const [good1, poison, good2, retried] = await s.claim(4);
    // From now on any change to the poison row raises (after the claim, which changed it too).
    await sql(`CREATE FUNCTION "${schema}".poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF OLD.name = 'poison' THEN RAISE EXCEPTION 'poisoned'; END IF; IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; RETURN NEW; END $$`);
    await sql(`CREATE TRIGGER poison BEFORE DELETE OR UPDATE ON "${schema}".jobs FOR EACH ROW EXECUTE FUNCTION "${schema}".poison()`);
    const err = { name: 'Error', message: 'boom', stack: undefined, code: 'E_X', nonError: false };
    const rejections = async (calls: Promise<boolean>[]): Promise<unknown[]> => (await Promise.allSettled(calls)).map((r) => (r.status === 'rejected' ? r.reason : r.value));
    const completes = await rejections([s.complete(good1!), s.complete(poison!), s.complete(good2!)]);
    const mixed = await rejections([s.fail(retried!, err, new Date(Date.now() - 1), 'failed'), s.complete(good1!), s.release(poison!)]);
    for (const [what, e] of [...completes.map((e, i) => [['complete', 'complete', 'complete'][i], e] as const), ...mixed.map((e, i) => [['fail', 'complete', 'release'][i], e] as const)]) {
      expect(e).toBeInstanceOf(QueueError);
      expect((e as Error).message).toContain(`${what!} failed`);
      expect(((e as Error).cause as Error).message).toBe('poisoned');
    }
    expect(await q.stats()).toEqual({ queued: 0, running: 4, scheduled: 0, dead: 0 });
    await sql(`DROP TRIGGER poison ON "${schema}".jobs`);
    expect(await Promise.all([good1, poison, good2, retried].map((j) => s.complete(j!)))).toEqual([true, true, true, true]);
    await s.detach();
  }, T);

  it('key dedupe replaces a queued job (also within one enqueueMany) and returns its id; priority and runAt order claims', async () => {
    const schema = newSchema();
    const q = await open(schema);
    const id1 = await q.enqueue('k', 1, { key: 'K' });
    const ids = await q.enqueueMany([{ name: 'k', payload: 2, key: 'K' }, { name: 'p', priority: 5 }, { name: 'k', payload: 3, key: 'K' }, { name: 'late', runAt: new Date(Date.now() + 3_600_000) }]);
    expect(ids[0]).toBe(id1);
    expect(ids[2]).toBe(id1);
    expect(await q.stats()).toMatchObject({ queued: 2, scheduled: 1 });
    const s = await q.attach(attachOptions());
    const jobs = await s.claim(10);
    expect(jobs.map((j) => j.name)).toEqual(['p', 'k']);
    expect(jobs[1]!.payloadText).toBe('3');
    expect((await s.nextRunAt())!.getTime()).toBeGreaterThan(Date.now());
    await s.detach();
  }, T);
});

async function allIds(schema: string): Promise<string[]> {
  return (await sql<{ id: string }>(`SELECT id::text FROM "${schema}".jobs`)).map((r) => r.id);
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(out.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`claimer exited (${code}) before reporting`)));
  });
}

if (up) {
  queueContract('PostgresQueue', async () => {
    const schema = newSchema();
    const opened: PostgresQueue[] = [await PostgresQueue.connect(PG_URL, { schema })];
    return {
      queue: opened[0]!,
      reopen: async () => {
        const q = await PostgresQueue.connect(PG_URL, { schema });
        opened.push(q);
        return q;
      },
      cleanup: async () => {
        for (const q of opened) await q.close().catch((e: unknown) => { if (!(e instanceof QueueError)) throw e; });
        await sql(`DROP SCHEMA "${schema}" CASCADE`);
      },
    };
  });
}
