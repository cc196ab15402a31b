/**
 * Model-based test of the supervisor loop's restart and stop decisions (src/supervisor/restart-policy.ts, carried out
 * by src/supervisor/loop.ts): random sequences of every move the other threads and time can make — register
 * (with TERM set before it or not), the worker's commit, outcome and exit, terminate (current or stale), shutdown,
 * the clock — run against a real SupervisorLoop on a real slot table with fake runtimes and a fake clock
 * (test/unit/loop-harness.ts), and checked after every move against a plain model written from the headers of
 * lifecycle.ts and restart-policy.ts: every message posted, the slot word, the runners' stop and force calls, the
 * interrupts, the armed timers. The model is ./loop-model.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { O_COMPLETED, O_FAILED } from '../../src/shared/slots.js';
import { LoopHarness, type RegisterOptions } from '../unit/loop-harness.js';
import { beginStopping, check, exit, finish, newSlot, reached, start, type Model, type Real, type Slot } from './loop-model.js';

const SEED = 20261201;
const SLOTS = 2;

type Cmd = fc.Command<Model, Real>;
const alive = (s: Slot): boolean => s.phase === 'spawning' || s.phase === 'running';

class Register implements Cmd {
  constructor(readonly i: number, readonly o: Omit<Required<RegisterOptions>, 'restartBackoff'>) {}
  check = (m: Readonly<Model>): boolean => m.slots[this.i]!.phase === 'free';
  run(m: Model, r: Real): void {
    const s = m.slots[this.i]!;
    const gen = r.h.register(this.i, this.o);
    // A new Run: nothing carries over from the slot's previous registration but its runners' counts.
    Object.assign(s, { gen: s.gen + 1, restartDelayMs: this.o.restartDelayMs, graceMs: this.o.gracefulTimeoutMs, precious: this.o.precious, forced: false, ranBefore: false });
    expect(gen).toBe(s.gen);
    if (this.o.termBeforeRequest || m.shuttingDown) {
      reached.add(this.o.termBeforeRequest ? 'TERM before the request' : 'register during shutdown');
      s.term = true;
    }
    start(m, this.i);
    check(m, r);
  }
  toString = (): string => `register(${this.i}, ${JSON.stringify(this.o)})`;
}

class Commit implements Cmd {
  constructor(readonly i: number) {}
  check = (m: Readonly<Model>): boolean => m.slots[this.i]!.phase === 'spawning';
  run(m: Model, r: Real): void {
    const s = m.slots[this.i]!;
    expect(r.h.run(this.i)).toBe(!s.term); // slots.ts invariant 2
    if (!s.term) {
      Object.assign(s, { committed: true, phase: 'running' });
      m.posted.push(`${this.i} started`);
    }
    check(m, r);
  }
  toString = (): string => `commit(${this.i})`;
}

class Outcome implements Cmd {
  constructor(readonly i: number, readonly failed: boolean) {}
  check = (m: Readonly<Model>): boolean => m.slots[this.i]!.phase === 'running';
  run(m: Model, r: Real): void {
    const s = m.slots[this.i]!;
    r.h.outcome(this.i, this.failed ? O_FAILED : O_COMPLETED, { name: 'Error', message: 'boom', stack: undefined, code: undefined, nonError: false });
    if (s.outcome === 'none') s.outcome = !this.failed ? 'completed' : s.term ? 'terminated' : 'failed';
    check(m, r);
  }
  toString = (): string => `outcome(${this.i}, ${this.failed ? 'failed' : 'completed'})`;
}

class Exit implements Cmd {
  constructor(readonly i: number, readonly signal: boolean) {}
  check = (m: Readonly<Model>): boolean => alive(m.slots[this.i]!);
  run(m: Model, r: Real): void {
    r.h.exit(this.i, this.signal ? null : 1, this.signal ? 'SIGKILL' : null);
    if (m.slots[this.i]!.forced) reached.add('forced, then exited');
    exit(m, this.i);
    check(m, r);
  }
  toString = (): string => `exit(${this.i}${this.signal ? ', SIGKILL' : ''})`;
}

class Terminate implements Cmd {
  constructor(readonly i: number, readonly stale: boolean) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const s = m.slots[this.i]!;
    r.h.terminate(this.i, this.stale ? s.gen - 1 : s.gen);
    if (!this.stale && s.phase !== 'free') {
      s.term = true;
      if (s.phase === 'restart-wait') {
        reached.add('terminate in restart-wait');
        finish(m, this.i, 'terminated', true);
      } else beginStopping(m, this.i);
    }
    check(m, r);
  }
  toString = (): string => `terminate(${this.i}${this.stale ? ', stale' : ''})`;
}

class Shutdown implements Cmd {
  constructor(readonly ms: number) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.h.shutdown(this.ms);
    m.shuttingDown = true;
    m.shutdownGraceMs = this.ms;
    m.slots.forEach((s, i) => {
      if (s.phase === 'free') return;
      if (!s.term && s.outcome === 'none') s.workerInterrupts++;
      s.term = true;
      if (s.phase === 'restart-wait') finish(m, i, 'terminated', true);
      else beginStopping(m, i);
    });
    check(m, r);
  }
  toString = (): string => `shutdown(${this.ms})`;
}

class Advance implements Cmd {
  constructor(readonly ms: number) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    r.h.clock.advance(this.ms);
    const until = m.t + this.ms;
    // Due timers fire in deadline order, ties in the order they were set; firing one arms none.
    const due = m.slots
      .map((s, i) => ({ s, i, at: s.phase === 'restart-wait' ? s.restartAt : alive(s) && s.stopping && !s.forceFired ? s.deadline : Infinity }))
      .filter((e) => e.at <= until)
      .sort((a, b) => a.at - b.at || a.s.timerSeq - b.s.timerSeq);
    for (const { s, i } of due) {
      if (s.phase === 'restart-wait') {
        start(m, i); // TERM is never set in restart-wait: a terminate or shutdown ends the wait at once
      } else {
        reached.add('forced');
        Object.assign(s, { forceFired: true, forced: true, forces: s.forces + 1 });
      }
    }
    m.t = until;
    check(m, r);
  }
  toString = (): string => `advance(${this.ms})`;
}

const slot = fc.integer({ min: 0, max: SLOTS - 1 });
const options = fc.record({
  restartDelayMs: fc.constantFrom(-1, 0, 30),
  gracefulTimeoutMs: fc.constantFrom(0, 20, 100, Infinity),
  precious: fc.boolean(),
  termBeforeRequest: fc.oneof({ arbitrary: fc.constant(false), weight: 5 }, { arbitrary: fc.constant(true), weight: 1 }),
});
const commands = fc.oneof(
  { arbitrary: fc.tuple(slot, options).map(([i, o]) => new Register(i, o)), weight: 3 },
  { arbitrary: slot.map((i) => new Commit(i)), weight: 3 },
  { arbitrary: fc.tuple(slot, fc.boolean()).map(([i, f]) => new Outcome(i, f)), weight: 2 },
  { arbitrary: fc.tuple(slot, fc.boolean()).map(([i, s]) => new Exit(i, s)), weight: 3 },
  { arbitrary: fc.tuple(slot, fc.boolean()).map(([i, s]) => new Terminate(i, s)), weight: 2 },
  { arbitrary: fc.constantFrom(0, 10, 200, Infinity).map((ms) => new Shutdown(ms)), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 60 }).map((ms) => new Advance(ms)), weight: 3 },
);

describe('supervisor loop decisions: model-based', () => {
  it('every move, in every phase, posts what the model predicts and leaves the slot as it says', () => {
    fc.assert(
      fc.property(fc.commands([commands], { maxCommands: 60, size: 'max' }), (cmds) => {
        const setup = (): { model: Model; real: Real } => {
          const h = new LoopHarness(SLOTS);
          return {
            model: { t: 0, shuttingDown: false, shutdownGraceMs: Infinity, slots: Array.from({ length: SLOTS }, newSlot), posted: [], registrantInterrupts: 0, seq: 0 },
            real: { h },
          };
        };
        fc.modelRun(setup, cmds);
      }),
      { seed: SEED, numRuns: 400 },
    );
    const cases = [
      'restart',
      'restart of a run that never committed',
      'TERM before the request',
      'register during shutdown',
      'terminate in restart-wait',
      'never-started after a failure is terminated',
      'forced',
      'forced, then exited',
      'forced stop brought forward',
      'shutdown finishing',
    ];
    expect(cases.filter((c) => !reached.has(c)), 'cases the random runs never reached').toEqual([]);
  });
});
