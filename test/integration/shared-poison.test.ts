/**
 * G15 SharedPoison across threads: a worker thread that ends in any way while it holds an armed guard leaves the
 * poison poisoned for every thread (the registrant and other workers), with `what` and `at`; one that disarms
 * leaves it clean. Order: the worker arms, then sets the registrant's latch; the test waits on that latch before
 * it acts, so "armed" is a fact when the death comes, not a guess.
 */
import { describe, expect, it } from 'vitest';
import { PoisonArmedError, PoisonedError, SharedPoison, myLatch, type Supervisor, type WorkerHandle } from '../../dist/index.js';
import { fixture, startSupervisor } from '../helpers.js';
import { thrownBy } from '../thrown.js';

const ENTRY = fixture('shared-poison.mjs');

/** Registers the fixture with `how`, and resolves once it holds the armed guard. */
async function armedWorker(sup: Supervisor, poison: SharedPoison, how: string, extra: Record<string, unknown> = {}): Promise<WorkerHandle> {
  const me = myLatch();
  me.reset();
  const h = sup.register({ entry: ENTRY, data: { poison, how }, ...extra });
  while (!me.isSet) {
    const r = await me.wait({ timeoutMs: 10_000 });
    if (r.timedOut) throw new Error(`worker (${how}) never armed the poison`);
  }
  me.reset();
  return h;
}

/** What checkAndArm() gives in a fresh worker thread. */
async function seenByAnotherWorker(sup: Supervisor, poison: SharedPoison): Promise<{ seen: string; what?: string; at?: number }> {
  const exit = await sup.register<unknown, { seen: string; what?: string; at?: number }>({ entry: ENTRY, data: { poison, how: 'check' } }).waitForShutdown();
  expect(exit.reason).toBe('completed');
  return exit.result!;
}

function expectPoisonedHere(poison: SharedPoison, what: string): PoisonedError {
  expect(poison.poisoned).toBe(true);
  const caught = thrownBy(() => poison.checkAndArm());
  expect(caught).toBeInstanceOf(PoisonedError);
  const e = caught as PoisonedError;
  expect(e.code).toBe('ERR_POISONED');
  expect(e.what).toBe(what);
  return e;
}

describe('G15 SharedPoison', () => {
  const deaths: [string, string, Record<string, unknown>][] = [
    ['throws', 'throw', {}],
    ['calls process.exit', 'exit', {}],
    ['runs out of memory', 'oom', { resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } }],
    ["returns without disarm()", "return", {}],
    ["drops the guard without disarm() and returns", "drop", {}],
  ];
  for (const [title, how, extra] of deaths) {
    it(`armed, a worker that ${title} leaves it poisoned for every thread`, async () => {
      const sup = await startSupervisor();
      const poison = new SharedPoison(`state-${how}`);
      const before = Date.now();
      const h = await armedWorker(sup, poison, how, extra);
      h.latch.set();
      const exit = await h.waitForShutdown();
      expect(exit.reason).not.toBe('never-started');
      const e = expectPoisonedHere(poison, `state-${how}`);
      expect(e.at.getTime()).toBeGreaterThanOrEqual(before);
      expect(await seenByAnotherWorker(sup, poison)).toEqual({ seen: 'ERR_POISONED', what: `state-${how}`, at: e.at.getTime() });
    });
  }

  it('a worker that never yields, stopped by force after its grace, leaves it poisoned', async () => {
    const sup = await startSupervisor();
    const poison = new SharedPoison('state-hang');
    const h = await armedWorker(sup, poison, 'hang', { gracefulTimeoutMs: 50 });
    h.latch.set();
    h.terminate();
    const exit = await h.waitForShutdown();
    expect(exit.reason).toBe('terminated');
    expect(sup.metrics().terminations.forced).toBe(1);
    expectPoisonedHere(poison, 'state-hang');
    expect((await seenByAnotherWorker(sup, poison)).seen).toBe('ERR_POISONED');
  });

  it('while a worker holds it, another thread gets PoisonArmedError; its disarm leaves it clean', async () => {
    const sup = await startSupervisor();
    const poison = new SharedPoison('state-held');
    const h = await armedWorker(sup, poison, 'disarm');
    const caught = thrownBy(() => poison.checkAndArm());
    expect(caught).toBeInstanceOf(PoisonArmedError);
    expect((caught as PoisonArmedError).message).toContain('another thread');
    expect((await seenByAnotherWorker(sup, poison)).seen).toBe('ERR_POISON_ARMED');
    h.latch.set();
    expect((await h.waitForShutdown()).result).toBe('disarmed');
    expect(poison.poisoned).toBe(false);
    expect(await seenByAnotherWorker(sup, poison)).toEqual({ seen: 'clean' });
    poison.checkAndArm().disarm(); // and the registrant can arm it again
  });

  it('a restartable worker that dies armed poisons it at its restart, not only at its final stop', async () => {
    const sup = await startSupervisor();
    const poison = new SharedPoison('state-restart');
    const h = await armedWorker(sup, poison, 'throw', { restart: { delayMs: 60_000 } });
    h.latch.set();
    // The run ends; the next one is scheduled a minute out, so only the 'restarting' notice can have poisoned it.
    const deadline = Date.now() + 10_000;
    while (!poison.poisoned && Date.now() < deadline) await new Promise((r) => setTimeout(r, 2));
    expect(h.state).not.toBe('stopped');
    expectPoisonedHere(poison, 'state-restart');
    h.terminate();
    await h.waitForShutdown();
  });

  it('the registrant holding it and dropping the guard poisons it for workers too', async () => {
    const sup = await startSupervisor();
    const poison = new SharedPoison('state-main');
    poison.checkAndArm()[Symbol.dispose]();
    expect((await seenByAnotherWorker(sup, poison)).seen).toBe('ERR_POISONED');
  });

  it('from() rejects what is not a SharedPoison or its clone', () => {
    expect(() => SharedPoison.from({ what: 'x', buffer: new ArrayBuffer(16) })).toThrow(/SharedPoison/);
    expect(() => SharedPoison.from(null)).toThrow(/SharedPoison/);
  });
});
