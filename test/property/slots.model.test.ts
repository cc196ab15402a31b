/**
 * Model-based test of the slot control word (src/shared/slots.ts): random sequences of every operation any
 * thread may make, each run against a real Int32Array over a SharedArrayBuffer and checked against a plain model,
 * in every state (an operation that does not apply must return its "nothing to do" value and change nothing).
 * Then a real-thread race: a worker spinning commit() against the registrant's requestTermination().
 */
import fc from 'fast-check';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import {
  FREE,
  GEN_MASK,
  O_COMPLETED,
  O_CRASHED,
  O_FAILED,
  O_NONE,
  O_TERMINATED,
  PENDING,
  RUNNING,
  STARTING,
  claim,
  commit,
  genOf,
  outcomeOf,
  reportOutcome,
  requestTermination,
  stateOf,
  termRequested,
  transition,
  type Outcome,
  type SlotState,
} from '../../src/shared/slots.js';
import { IllegalTransitionError } from '../../src/shared/transitions.js';

const SEED = 20240611;
const AT = 0;

interface Model {
  state: SlotState;
  gen: number;
  term: boolean;
  outcome: Outcome;
}
interface Real {
  i32: Int32Array;
}

/** The word the model predicts, spelled out from the header's bit layout rather than with pack(). */
const wordOf = (m: Model): number => m.state | (m.term ? 0x8 : 0) | (m.outcome << 4) | (m.gen << 8);
const NAMES = ['FREE', 'PENDING', 'STARTING', 'RUNNING'];
const OUTCOMES = ['NONE', 'COMPLETED', 'FAILED', 'CRASHED', 'TERMINATED'];
const staleGen = (m: Model): number => (m.gen - 1) & GEN_MASK;

/** Which interesting cases the random runs reached, so the property cannot pass by never getting there. */
const reached = new Set<string>();

/** After every command: the real word equals the model, and the header's invariants hold of the real word. */
function verify(m: Model, r: Real, genBefore: number, isClaim: boolean, termBefore: boolean, clearsTerm: boolean): void {
  const w = Atomics.load(r.i32, AT);
  expect(w, `word ${w.toString(16)} vs model ${JSON.stringify(m)}`).toBe(wordOf(m));
  if (!isClaim) expect(genOf(w), 'invariant 4: the generation changes only at claim').toBe(genBefore);
  if (termBefore && !clearsTerm) expect(termRequested(w), 'TERM is sticky until FREE').toBe(true);
  if (stateOf(w) === FREE) expect([termRequested(w), outcomeOf(w)], 'a FREE word carries no flags').toEqual([false, O_NONE]);
  if (stateOf(w) === PENDING) expect(outcomeOf(w), 'no outcome before a run commits').toBe(O_NONE);
}

/** Runs `op` on the real word, applies `apply` to the model, checks the result and `verify`. */
function step<T>(m: Model, r: Real, op: () => T, expected: T, apply: () => void, opts: { isClaim?: boolean; clearsTerm?: boolean } = {}): void {
  const genBefore = m.gen;
  const termBefore = m.term;
  const got = op();
  expect(got).toBe(expected);
  apply();
  verify(m, r, genBefore, opts.isClaim ?? false, termBefore, opts.clearsTerm ?? false);
}

class Claim implements fc.Command<Model, Real> {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    if (m.state !== FREE) return step(m, r, () => claim(r.i32, AT), -1, () => {});
    const gen = (m.gen + 1) & GEN_MASK;
    if (gen === 0) reached.add('generation wrapped');
    step(m, r, () => claim(r.i32, AT), gen, () => Object.assign(m, { state: PENDING, gen, term: false, outcome: O_NONE }), { isClaim: true });
  }
  toString = (): string => 'claim';
}

class Rollback implements fc.Command<Model, Real> {
  constructor(readonly stale: boolean) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const gen = this.stale ? staleGen(m) : m.gen;
    const applies = !this.stale && m.state === PENDING;
    const expected = applies ? wordOf({ state: FREE, gen, term: false, outcome: O_NONE }) : undefined;
    step(m, r, () => transition(r.i32, AT, gen, [PENDING], FREE, 'rollback'), expected, () => applies && Object.assign(m, { state: FREE, term: false, outcome: O_NONE }), { clearsTerm: true });
  }
  toString = (): string => `rollback${this.stale ? '(stale)' : ''}`;
}

class RequestTermination implements fc.Command<Model, Real> {
  constructor(readonly stale: boolean) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const gen = this.stale ? staleGen(m) : m.gen;
    const applies = !this.stale && m.state !== FREE && !m.term;
    if (applies) reached.add(`TERM in ${NAMES[m.state]}`);
    step(m, r, () => requestTermination(r.i32, AT, gen), applies ? wordOf(m) : undefined, () => applies && (m.term = true));
  }
  toString = (): string => `requestTermination${this.stale ? '(stale)' : ''}`;
}

class Commit implements fc.Command<Model, Real> {
  constructor(readonly stale: boolean) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const gen = this.stale ? staleGen(m) : m.gen;
    const applies = !this.stale && m.state === PENDING && !m.term; // invariant 2
    if (!this.stale && m.state === PENDING && m.term) reached.add('commit refused under TERM');
    step(m, r, () => commit(r.i32, AT, gen), applies, () => applies && (m.state = STARTING));
  }
  toString = (): string => `commit${this.stale ? '(stale)' : ''}`;
}

class Running implements fc.Command<Model, Real> {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const applies = m.state === STARTING;
    const next = { ...m, state: RUNNING as SlotState };
    step(m, r, () => transition(r.i32, AT, m.gen, [STARTING], RUNNING, 'running'), applies ? wordOf(next) : undefined, () => applies && (m.state = RUNNING));
  }
  toString = (): string => 'running';
}

class ReportOutcome implements fc.Command<Model, Real> {
  constructor(
    readonly outcome: Outcome,
    readonly stale: boolean,
  ) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const gen = this.stale ? staleGen(m) : m.gen;
    const applies = !this.stale && (m.state === STARTING || m.state === RUNNING) && m.outcome === O_NONE;
    // invariant 3: under TERM any failure becomes TERMINATED; COMPLETED stays COMPLETED
    const recorded = this.outcome !== O_COMPLETED && m.term ? O_TERMINATED : this.outcome;
    if (applies && m.term) reached.add(`${OUTCOMES[this.outcome]} under TERM`);
    if (!this.stale && m.outcome !== O_NONE && m.state !== FREE) reached.add('second outcome ignored');
    step(m, r, () => reportOutcome(r.i32, AT, gen, this.outcome), applies ? recorded : O_NONE, () => applies && (m.outcome = recorded));
  }
  toString = (): string => `reportOutcome(${OUTCOMES[this.outcome]}${this.stale ? ', stale' : ''})`;
}

class Restart implements fc.Command<Model, Real> {
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const applies = m.state === STARTING || m.state === RUNNING;
    if (applies) reached.add('restart');
    const next = { ...m, state: PENDING as SlotState, outcome: O_NONE as Outcome };
    const op = (): number | undefined => transition(r.i32, AT, m.gen, [STARTING, RUNNING], PENDING, 'restart', true);
    step(m, r, op, applies ? wordOf(next) : undefined, () => applies && Object.assign(m, { state: PENDING, outcome: O_NONE }));
  }
  toString = (): string => 'restart';
}

class Free implements fc.Command<Model, Real> {
  constructor(readonly stale: boolean) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const gen = this.stale ? staleGen(m) : m.gen;
    const applies = !this.stale && m.state !== FREE;
    const expected = applies ? wordOf({ state: FREE, gen, term: false, outcome: O_NONE }) : undefined;
    const op = (): number | undefined => transition(r.i32, AT, gen, [PENDING, STARTING, RUNNING], FREE, 'stopped');
    step(m, r, op, expected, () => applies && Object.assign(m, { state: FREE, term: false, outcome: O_NONE }), { clearsTerm: true });
  }
  toString = (): string => `free${this.stale ? '(stale)' : ''}`;
}

/** Every (from, to) that is *not* in the transition table, same-state included. */
const LEGAL: Record<SlotState, SlotState[]> = {
  [FREE]: [PENDING],
  [PENDING]: [STARTING, FREE],
  [STARTING]: [RUNNING, PENDING, FREE],
  [RUNNING]: [PENDING, FREE],
};
const STATES = [FREE, PENDING, STARTING, RUNNING] as const;
const ILLEGAL = STATES.flatMap((from) => STATES.filter((to) => !LEGAL[from].includes(to)).map((to) => [from, to] as const));

class Illegal implements fc.Command<Model, Real> {
  constructor(
    readonly from: SlotState,
    readonly to: SlotState,
  ) {}
  check = (): boolean => true;
  run(m: Model, r: Real): void {
    const word = Atomics.load(r.i32, AT);
    const op = (): number | undefined => transition(r.i32, AT, m.gen, [this.from], this.to, 'illegal');
    if (m.state === this.from) {
      reached.add('illegal transition thrown');
      expect(op).toThrow(IllegalTransitionError);
    } else {
      expect(op()).toBeUndefined(); // the slot is in none of `from`: nothing to do, nothing thrown
    }
    expect(Atomics.load(r.i32, AT)).toBe(word);
  }
  toString = (): string => `illegal(${NAMES[this.from]} -> ${NAMES[this.to]})`;
}

/** Mostly the current generation: stale operations are checked, but a run must also get somewhere. */
const stale = fc.oneof({ arbitrary: fc.constant(false), weight: 3 }, { arbitrary: fc.constant(true), weight: 1 });
const outcome = fc.constantFrom<Outcome>(O_COMPLETED, O_FAILED, O_CRASHED, O_TERMINATED);
/** Weighted towards the operations that move a run forward, so RUNNING under TERM is reached often. */
const commands = fc.oneof(
  { arbitrary: fc.constant(new Claim()), weight: 3 },
  { arbitrary: stale.map((s) => new Rollback(s)), weight: 1 },
  { arbitrary: stale.map((s) => new RequestTermination(s)), weight: 2 },
  { arbitrary: stale.map((s) => new Commit(s)), weight: 3 },
  { arbitrary: fc.constant(new Running()), weight: 3 },
  { arbitrary: fc.tuple(outcome, stale).map(([o, s]) => new ReportOutcome(o, s)), weight: 3 },
  { arbitrary: fc.constant(new Restart()), weight: 1 },
  { arbitrary: stale.map((s) => new Free(s)), weight: 1 },
  { arbitrary: fc.constantFrom(...ILLEGAL).map(([from, to]) => new Illegal(from, to)), weight: 1 },
);
/** Starting generations: fresh, random, and near the wrap at GEN_MASK. */
const startGen = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: GEN_MASK }), fc.integer({ min: GEN_MASK - 3, max: GEN_MASK }));

describe('slot control word: model-based', () => {
  it('every operation, in every state, matches the model and keeps the header invariants', () => {
    fc.assert(
      fc.property(startGen, fc.commands([commands], { maxCommands: 80, size: 'max' }), (gen, cmds) => {
        const setup = (): { model: Model; real: Real } => {
          const i32 = new Int32Array(new SharedArrayBuffer(4));
          Atomics.store(i32, AT, gen << 8);
          return { model: { state: FREE, gen, term: false, outcome: O_NONE }, real: { i32 } };
        };
        fc.modelRun(setup, cmds);
      }),
      { seed: SEED, numRuns: 300 },
    );
    const cases = [
      'generation wrapped',
      'TERM in PENDING',
      'TERM in STARTING',
      'TERM in RUNNING',
      'commit refused under TERM',
      'COMPLETED under TERM',
      'FAILED under TERM',
      'CRASHED under TERM',
      'second outcome ignored',
      'restart',
      'illegal transition thrown',
    ];
    expect(cases.filter((c) => !reached.has(c)), 'cases the random runs never reached').toEqual([]);
  });
});

/** Words of the race buffer besides the control word. */
const W = { CTRL: 0, ROUND: 1, READY: 2, RESULT: 3 } as const;
const COMMIT_WON = 1;
const SAW_TERM = 2;

/**
 * The worker half: for each round, announce it is spinning, then spin commit() on that round's generation until
 * it either commits or sees TERM (after which no commit can succeed). Result word: round << 2 | outcome.
 */
const RACER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.slotsUrl).then(({ commit, genOf, termRequested }) => {
  const { i32, rounds, W } = workerData;
  parentPort.postMessage('ready');
  for (let round = 1; round <= rounds; round++) {
    while (Atomics.load(i32, W.ROUND) !== round) Atomics.wait(i32, W.ROUND, round - 1);
    Atomics.store(i32, W.READY, round);
    let result;
    for (;;) {
      if (commit(i32, W.CTRL, round)) { result = ${COMMIT_WON}; break; }
      const w = Atomics.load(i32, W.CTRL);
      if (genOf(w) === round && termRequested(w)) { result = ${SAW_TERM}; break; }
    }
    Atomics.store(i32, W.RESULT, (round << 2) | result);
    Atomics.notify(i32, W.RESULT);
  }
});
`;

function spin(loads: number, i32: Int32Array): void {
  for (let i = 0; i < loads; i++) Atomics.load(i32, W.READY);
}

/** The main thread blocks during the race, so a dead worker could only be noticed by this hang detector. */
const HANG_MS = 15_000;
function hangCheck(deadline: number, what: string): void {
  if (performance.now() > deadline) throw new Error(`race worker did not answer: ${what}`);
}

describe('slot control word: commit against requestTermination on real threads', () => {
  it('each round exactly one wins: the commit, or a TERM that landed first — never both', async () => {
    const rounds = 600; // enough for both sides to win many rounds; spin handshakes are slow on a loaded 2-core machine
    const i32 = new Int32Array(new SharedArrayBuffer(4 * 4));
    const slotsUrl = new URL('../../dist/shared/slots.js', import.meta.url).href;
    expect(fileURLToPath(slotsUrl)).toMatch(/dist\/shared\/slots\.js$/);
    const worker = new Worker(RACER, { eval: true, workerData: { i32, rounds, slotsUrl, W } });
    const failed = new Promise<never>((_, reject) => worker.once('error', reject));
    await Promise.race([once(worker, 'message'), failed]);
    // Delays from a seeded generator spread the registrant's TERM across the worker's commit window.
    const delays = fc.sample(fc.tuple(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 3000 })), { seed: SEED, numRuns: rounds });
    const violations: string[] = [];
    let commitWins = 0;
    let termWins = 0;
    try {
      const deadline = performance.now() + HANG_MS;
      for (let round = 1; round <= rounds; round++) {
        // Every third round forces each order, so both outcomes are checked however the threads get scheduled;
        // the rest race freely.
        const order = round % 3 === 0 ? 'term-first' : round % 3 === 1 ? 'commit-first' : 'race';
        let gen: number;
        let prev: number | undefined;
        if (order === 'term-first') {
          // The claim and TERM land before the worker may start spinning: its commit can only see TERM.
          gen = claim(i32, W.CTRL);
          prev = requestTermination(i32, W.CTRL, gen);
          Atomics.store(i32, W.ROUND, round);
          Atomics.notify(i32, W.ROUND);
        } else {
          Atomics.store(i32, W.ROUND, round);
          Atomics.notify(i32, W.ROUND);
          // The worker announces the round before it starts spinning on commit().
          while (Atomics.load(i32, W.READY) !== round) hangCheck(deadline, `round ${round} ready`);
          const [beforeClaim, beforeTerm] = delays[round - 1]!;
          spin(beforeClaim, i32);
          gen = claim(i32, W.CTRL); // FREE -> PENDING: from here the worker's commit can win
          if (order === 'commit-first') {
            while (stateOf(Atomics.load(i32, W.CTRL)) === PENDING) hangCheck(deadline, `round ${round} commit`);
          } else {
            spin(beforeTerm, i32);
          }
          prev = requestTermination(i32, W.CTRL, gen);
        }
        for (let r = Atomics.load(i32, W.RESULT); r >>> 2 !== round; r = Atomics.load(i32, W.RESULT)) {
          hangCheck(deadline, `round ${round} result`);
          Atomics.wait(i32, W.RESULT, r, 10);
        }
        const committed = (Atomics.load(i32, W.RESULT) & 3) === COMMIT_WON;
        const word = Atomics.load(i32, W.CTRL);
        if (order === 'race') {
          if (committed) commitWins++;
          else termWins++;
        } else if (committed !== (order === 'commit-first')) {
          violations.push(`round ${round}: forced ${order}, but commit ${committed}`);
        }
        const termFirst = prev !== undefined && stateOf(prev) === PENDING;
        const ok =
          gen === round &&
          prev !== undefined &&
          committed !== termFirst &&
          committed === (stateOf(prev) === STARTING) &&
          termRequested(word) &&
          stateOf(word) === (committed ? STARTING : PENDING);
        if (!ok) violations.push(`round ${round}: commit ${committed}, word before TERM ${prev?.toString(16)}, word after ${word.toString(16)}`);
        transition(i32, W.CTRL, gen, [PENDING, STARTING], FREE, 'stopped');
      }
    } finally {
      await worker.terminate();
    }
    // Which side wins the free races depends on scheduling (on a loaded machine the commit may never get through
    // in time), so the split is not asserted, only shown with a failure; the forced rounds check both outcomes
    // whatever the scheduling.
    expect(violations, `free races: commit won ${commitWins}, TERM won ${termWins}`).toEqual([]);
  });
});
