/**
 * SharedLatch (src/shared/latch.ts), G7: stays set until reset, setting a set latch is a no-op, a waiter sees a
 * set latch at once, interrupts end a wait, wait() never blocks the event loop and holds it open while pending,
 * waitSync() blocks. Cross-thread wake-ups use test/fixtures/latch-set-when-asleep.mjs, which sets a latch only
 * once its owner is asleep on it, so the order is decided by the sleeper count, not by time.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidWorkerSpecError } from '../../src/errors.js';
import { SharedLatch, deliverInterrupt, type LatchHooks, type WaitOptions, type WaitResult } from '../../src/shared/latch.js';

const LATCH = 0;
const SLEEPERS = 1;
const INTERRUPT = 2;

function words(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * 4));
}
function latchOn(i32: Int32Array, hooks?: LatchHooks): SharedLatch {
  return new SharedLatch(i32, LATCH, hooks);
}
const UNSET: WaitResult = { latchSet: false, timedOut: false, interrupted: false };
const SET: WaitResult = { latchSet: true, timedOut: false, interrupted: false };
const TIMED_OUT: WaitResult = { latchSet: false, timedOut: true, interrupted: false };

/** Only a hang detector: fails a wait that never returns with a message instead of the suite's timeout. */
const HANG_MS = 5000;
function orHang<T extends object>(p: Promise<T>, what: string, hangMs = HANG_MS): Promise<T | string> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<string>((resolve) => (timer = setTimeout(() => resolve(`${what}: hung`), hangMs)));
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

const workers: Worker[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.terminate()));
});
/** A thread that sets a latch once its owner sleeps on it (one postMessage per latch). */
async function setterThread(): Promise<Worker> {
  const w = new Worker(fileURLToPath(new URL('../fixtures/latch-set-when-asleep.mjs', import.meta.url)));
  workers.push(w);
  await once(w, 'online');
  return w;
}

describe('set, reset, isSet', () => {
  it('a new latch is unset; set() sets it; reset() clears it', () => {
    const i32 = words();
    const l = latchOn(i32);
    expect(l.isSet).toBe(false);
    l.set();
    expect(l.isSet).toBe(true);
    expect(Atomics.load(i32, LATCH)).toBe(1);
    l.reset();
    expect(l.isSet).toBe(false);
    expect(Atomics.load(i32, LATCH)).toBe(0);
  });

  it('setting a set latch is a no-op: it is a flag, not a counter, so one reset clears any number of sets', () => {
    const l = latchOn(words());
    l.set();
    l.set();
    l.set();
    expect(l.isSet).toBe(true);
    l.reset();
    expect(l.isSet).toBe(false);
  });

  it('two views of the same words see each other (the latch lives in shared memory, not in the object)', () => {
    const i32 = words();
    latchOn(i32).set();
    expect(latchOn(i32).isSet).toBe(true);
  });
});

describe('waiting on a set latch', () => {
  it('waitSync() returns at once without sleeping, and leaves the latch set', () => {
    const i32 = words();
    const l = latchOn(i32);
    l.set();
    expect(l.waitSync({ timeoutMs: 10_000 })).toEqual(SET);
    expect(l.waitSync()).toEqual(SET);
    expect(l.isSet).toBe(true);
    expect(Atomics.load(i32, SLEEPERS)).toBe(0);
  });

  it('wait() resolves at once without sleeping, and leaves the latch set', async () => {
    const i32 = words();
    const l = latchOn(i32);
    l.set();
    const p = l.wait();
    expect(Atomics.load(i32, SLEEPERS)).toBe(0); // it never went to sleep
    expect(await p).toEqual(SET);
    expect(l.isSet).toBe(true);
  });
});

describe('timeouts', () => {
  it('waitSync({ timeoutMs }) on a latch nobody sets returns timedOut, not before the timeout', () => {
    const l = latchOn(words());
    const t0 = performance.now();
    expect(l.waitSync({ timeoutMs: 20 })).toEqual(TIMED_OUT);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(20);
    expect(l.waitSync({ timeoutMs: 0 })).toEqual(TIMED_OUT);
  });

  it('wait({ timeoutMs }) on a latch nobody sets resolves timedOut, not before the timeout, every time', async () => {
    // Short timeouts, many times: Node's timers fire up to ~1 ms before a performance.now() deadline, and a
    // wait woken by its timer before the deadline must not go back to sleep without one. A wait of 1-3 ms that
    // has not returned after a second has hung.
    const l = latchOn(words());
    for (let i = 0; i < 50; i++) {
      const timeoutMs = 1 + (i % 3);
      const t0 = performance.now();
      const r = await orHang(l.wait({ timeoutMs }), `wait({ timeoutMs: ${timeoutMs} }) #${i}`, 1000);
      expect(r).toEqual(TIMED_OUT);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(timeoutMs);
    }
  });

  it('wait({ timeoutMs: 0 }) resolves timedOut at once', async () => {
    expect(await latchOn(words()).wait({ timeoutMs: 0 })).toEqual(TIMED_OUT);
  });
});

describe('waking from another thread', () => {
  it('wait() asleep on the latch resolves when another thread sets it', async () => {
    const setter = await setterThread();
    const i32 = words();
    const l = latchOn(i32);
    const p = l.wait();
    expect(Atomics.load(i32, SLEEPERS)).toBe(1); // asleep (waitAsync) before the setter is even asked
    setter.postMessage({ i32, index: LATCH });
    expect(await orHang(p, 'wait()')).toEqual(SET);
    expect(Atomics.load(i32, SLEEPERS)).toBe(0);
  });

  it('waitSync() blocks the thread until another thread sets the latch', async () => {
    const setter = await setterThread();
    const i32 = words();
    const l = latchOn(i32);
    setter.postMessage({ i32, index: LATCH }); // the setter waits until this thread is asleep in waitSync()
    const r = l.waitSync({ timeoutMs: HANG_MS });
    expect(r).toEqual(SET);
    await once(setter, 'message');
  });
});

describe('hooks', () => {
  it('alive() false makes the latch inert: set and reset do nothing, isSet is false, waits return at once', async () => {
    const i32 = words();
    const l = latchOn(i32, { alive: () => false });
    l.set();
    expect(Atomics.load(i32, LATCH)).toBe(0);
    Atomics.store(i32, LATCH, 1); // the word of whatever now uses it
    expect(l.isSet).toBe(false);
    l.reset();
    expect(Atomics.load(i32, LATCH)).toBe(1);
    Atomics.store(i32, LATCH, 0);
    expect(l.waitSync()).toEqual(UNSET); // untimed: only inertness can make it return
    expect(await l.wait()).toEqual(UNSET);
  });

  it('an interrupt already pending ends a wait at once with interrupted: true', async () => {
    const l = latchOn(words(), { interrupted: () => true });
    const early: WaitResult = { latchSet: false, timedOut: false, interrupted: true };
    expect(l.waitSync()).toEqual(early);
    expect(await l.wait()).toEqual(early);
  });

  it('an interrupt delivered to a thread asleep in wait() wakes it with interrupted: true', async () => {
    const i32 = words();
    const seen = Atomics.load(i32, INTERRUPT);
    const l = latchOn(i32, { interrupted: () => Atomics.load(i32, INTERRUPT) !== seen });
    const p = l.wait();
    expect(Atomics.load(i32, SLEEPERS)).toBe(1);
    deliverInterrupt(i32, INTERRUPT, LATCH);
    expect(await orHang(p, 'wait()')).toEqual({ latchSet: true, timedOut: false, interrupted: true });
  });

  it('a wake-up without the latch set re-checks the interrupted hook rather than sleeping again', async () => {
    const i32 = words();
    let pending = false;
    const l = latchOn(i32, { interrupted: () => pending });
    const p = l.wait();
    pending = true;
    Atomics.notify(i32, LATCH);
    expect(await orHang(p, 'wait()')).toEqual({ latchSet: false, timedOut: false, interrupted: true });
  });
});

describe('deliverInterrupt', () => {
  it('bumps the counter, wakes a watcher asleep on it, and sets the latch', async () => {
    const i32 = words();
    const watcher = Atomics.waitAsync(i32, INTERRUPT, 0);
    expect(watcher.async).toBe(true);
    deliverInterrupt(i32, INTERRUPT, LATCH);
    expect(Atomics.load(i32, INTERRUPT)).toBe(1);
    expect(latchOn(i32).isSet).toBe(true);
    expect(await watcher.value).toBe('ok');
  });
});

describe('bad wait options', () => {
  const bad: [string, unknown, string][] = [
    ['timeoutMs: -1', { timeoutMs: -1 }, 'timeoutMs'],
    ['timeoutMs: NaN', { timeoutMs: Number.NaN }, 'timeoutMs'],
    ["timeoutMs: '5'", { timeoutMs: '5' }, 'timeoutMs'],
    ['an unknown key', { timeoutMs: 5, timeout: 5 }, 'timeout'],
    ['a string', 'fast', 'options'],
    ['null', null, 'options'],
    ['a number', 5, 'options'],
  ];
  for (const [label, options, field] of bad) {
    it(`${label} throws InvalidWorkerSpecError naming \`${field}\`, from waitSync() and wait()`, async () => {
      const l = latchOn(words());
      const check = (e: unknown): void => {
        expect(e).toBeInstanceOf(InvalidWorkerSpecError);
        expect((e as InvalidWorkerSpecError).code).toBe('ERR_INVALID_WORKER_SPEC');
        expect((e as InvalidWorkerSpecError).field).toBe(field);
      };
      let syncError: unknown;
      try {
        l.waitSync(options as WaitOptions);
      } catch (e) {
        syncError = e;
      }
      check(syncError);
      const asyncError = await l.wait(options as WaitOptions).then(
        () => undefined,
        (e: unknown) => e,
      );
      check(asyncError);
    });
  }

  it('timeoutMs: Infinity and undefined mean no timeout', async () => {
    const l = latchOn(words());
    l.set();
    expect(l.waitSync({ timeoutMs: Infinity })).toEqual(SET);
    expect(await l.wait({ timeoutMs: undefined })).toEqual(SET);
  });
});

describe('the event loop', () => {
  it('an untimed wait() holds the event loop open until the latch is set', async () => {
    // The setter's timer is unref'd, so the pending wait() is the only thing that can keep the program alive:
    // a bare Atomics.waitAsync would let it exit with code 13 (unsettled top-level await) without printing.
    const latchUrl = new URL('../../dist/shared/latch.js', import.meta.url).href;
    const program = `
      import { SharedLatch } from ${JSON.stringify(latchUrl)};
      const latch = new SharedLatch(new Int32Array(new SharedArrayBuffer(8)), 0);
      setTimeout(() => latch.set(), 100).unref();
      const r = await latch.wait();
      console.log(r.latchSet ? 'done' : 'woke unset');
    `;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', program]);
    expect(stdout).toBe('done\n');
  });

  it('wait() does not block the event loop: a timer runs while the wait is pending', async () => {
    const l = latchOn(words());
    const p = l.wait();
    setImmediate(() => l.set());
    expect(await orHang(p, 'wait()')).toEqual(SET);
  });

  const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

  it('20,000 timed waits satisfied by set() leave no timers behind', async () => {
    const i32 = words();
    const l = latchOn(i32);
    const before = timeouts();
    for (let i = 0; i < 20_000; i++) {
      const p = l.wait({ timeoutMs: 60_000 });
      if (i === 0) expect(Atomics.load(i32, SLEEPERS)).toBe(1); // the wait really went to sleep (timer armed)
      l.set();
      expect((await p).latchSet).toBe(true);
      l.reset();
    }
    expect(timeouts()).toBeLessThanOrEqual(before);
  });

  it('untimed waits satisfied by set() leave no keep-alive timers behind', async () => {
    const l = latchOn(words());
    const before = timeouts();
    for (let i = 0; i < 2000; i++) {
      const p = l.wait();
      l.set();
      await p;
      l.reset();
    }
    expect(timeouts()).toBeLessThanOrEqual(before);
  });
});
