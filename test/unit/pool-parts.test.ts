/**
 * The parts of the pool engine that need no thread (src/pool/): the queue (deque.ts) against a plain array as
 * model, the start gate's per-task compare-and-swap protocol (gate.ts invariants 1 and 2, raced on real threads
 * by test/integration/pool-engine.test.ts; a map batch's run claims: test/unit/pool-claims.test.ts), the batch
 * helpers (work.ts) and the stats histograms (stats.ts).
 * Batching, fair share and cancellation on real workers: test/integration/pool-engine.test.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Deque } from '../../src/pool/deque.js';
import { GATE_SIZE, GATE_WORDS, G_CANCELLED, G_QUEUED, G_STARTED, gateCancel, gateQueue, gateStart, gateState, newGate } from '../../src/pool/gate.js';
import { PoolTimes, summary } from '../../src/pool/stats.js';
import { SEGMENT, T_PENDING, answeredInputs, callAt, callsOf, indexAt, rangeOf, segmentsOf, unansweredOf, usable, type Batch, type Call, type Member } from '../../src/pool/work.js';

/** Input i of a call, read through its segments. */
function inputAt(call: Call, i: number): unknown {
  return call.inputs[Math.floor(i / SEGMENT)]![i % SEGMENT];
}

describe('Deque', () => {
  type Op = { op: 'push' | 'unshift'; v: number } | { op: 'shift' };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant('push' as const), v: fc.integer() }),
    fc.record({ op: fc.constant('unshift' as const), v: fc.integer() }),
    fc.record({ op: fc.constant('shift' as const) }),
  );

  it('behaves as an array under any sequence of push, unshift and shift, across growth and wrap-around', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300, size: 'max' }), (ops) => {
        const d = new Deque<number>();
        const model: number[] = [];
        for (const o of ops) {
          if (o.op === 'push') {
            d.push(o.v);
            model.push(o.v);
          } else if (o.op === 'unshift') {
            d.unshift(o.v);
            model.unshift(o.v);
          } else expect(d.shift()).toBe(model.shift());
          expect(d.size).toBe(model.length);
          expect(d.peek()).toBe(model[0]);
        }
        for (let k = -1; k <= model.length; k++) expect(d.at(k)).toBe(model[k]);
      }),
      { numRuns: 300 },
    );
  });

  it('keeps its order when it grows while its contents wrap around the end of the ring', () => {
    const d = new Deque<number>();
    for (let i = 0; i < 10; i++) d.push(i);
    for (let i = 0; i < 8; i++) d.shift(); // head at 8: [8, 9]
    for (let i = 10; i < 24; i++) d.push(i); // wraps past the end, fills all 16, then grows
    d.unshift(7);
    expect(Array.from({ length: d.size }, (_, k) => d.at(k))).toEqual(Array.from({ length: 17 }, (_, k) => 7 + k));
  });

  it('an empty deque shifts and peeks undefined and stays usable', () => {
    const d = new Deque<string>();
    expect([d.shift(), d.peek(), d.at(0), d.size]).toEqual([undefined, undefined, undefined, 0]);
    d.unshift('a');
    expect([d.peek(), d.size]).toEqual(['a', 1]);
  });
});

describe('the start gate (gate.ts)', () => {
  const words = (): Int32Array => new Int32Array(newGate());

  it('has GATE_WORDS words (task words, then claim words), all free (no task) at first', () => {
    const g = words();
    expect(g.length).toBe(GATE_WORDS);
    expect(g.every((w) => w !== G_QUEUED && w !== G_STARTED && w !== G_CANCELLED)).toBe(true);
  });

  it('gateQueue marks exactly [seq, seq + count) as QUEUED, wrapping past GATE_SIZE, and nothing else', () => {
    for (const [seq, count] of [
      [0, 1],
      [5, 10],
      [GATE_SIZE - 3, 7],
      [3 * GATE_SIZE + 2, 4],
    ] as const) {
      const g = words();
      gateQueue(g, seq, count);
      const queued = new Set(Array.from({ length: count }, (_, i) => (seq + i) % GATE_SIZE));
      for (let i = 0; i < GATE_WORDS; i++) if (g[i] !== (queued.has(i) ? G_QUEUED : 0)) expect(g[i], `word ${i} after gateQueue(${seq}, ${count})`).toBe(queued.has(i) ? G_QUEUED : 0);
    }
  });

  it('QUEUED -> STARTED and QUEUED -> CANCELLED: exactly one of start and cancel wins, whichever comes first (invariant 2)', () => {
    for (const first of ['start', 'cancel'] as const) {
      const g = words();
      gateQueue(g, 41, 1);
      const started = first === 'start' ? gateStart(g, 41) : false;
      const cancelled = gateCancel(g, 41);
      const startedLate = first === 'cancel' ? gateStart(g, 41) : started;
      expect([startedLate, cancelled]).toEqual(first === 'start' ? [true, false] : [false, true]);
      expect(gateState(g, 41)).toBe(first === 'start' ? G_STARTED : G_CANCELLED);
      // Neither side wins twice.
      expect(gateStart(g, 41)).toBe(false);
      expect(gateCancel(g, 41)).toBe(false);
    }
  });

  it('a word not queued can be neither started nor cancelled; re-queueing a used word makes it live again', () => {
    const g = words();
    expect(gateStart(g, 7)).toBe(false);
    expect(gateCancel(g, 7)).toBe(false);
    gateQueue(g, 7, 1);
    expect(gateStart(g, 7)).toBe(true);
    gateQueue(g, 7 + GATE_SIZE, 1); // the same word, a later task (the pool keeps < GATE_SIZE outstanding)
    expect(gateState(g, 7)).toBe(G_QUEUED);
    expect(gateCancel(g, 7 + GATE_SIZE)).toBe(true);
  });

  it('each seq has its own word: starting or cancelling one task leaves its neighbours queued', () => {
    const g = words();
    gateQueue(g, 100, 3);
    expect(gateStart(g, 101)).toBe(true);
    expect([gateState(g, 100), gateState(g, 101), gateState(g, 102)]).toEqual([G_QUEUED, G_STARTED, G_QUEUED]);
    expect(gateCancel(g, 102)).toBe(true);
    expect([gateState(g, 100), gateState(g, 102)]).toEqual([G_QUEUED, G_CANCELLED]);
  });
});

describe('batch helpers (work.ts)', () => {
  const call = (name: string): Call => ({ name }) as unknown as Call;
  const batch = (over: Partial<Batch>): Batch => ({ id: 1, seq: 0, count: 3, call: undefined, start: 0, runs: undefined, state: new Uint8Array(3), ...over }) as Batch;

  it("a map batch's task t is its call's input start + t", () => {
    const c = call('map');
    const b = batch({ call: c, start: 40, count: 3 });
    expect([0, 1, 2].map((t) => [callAt(b, t), indexAt(b, t)])).toEqual([
      [c, 40],
      [c, 41],
      [c, 42],
    ]);
    expect([...callsOf(b)]).toEqual([c]);
  });

  it("a batch of run()s: task t is runs[t]'s only input (index 0); its calls are the distinct runs", () => {
    const [a, b2] = [call('a'), call('b')];
    const b = batch({ runs: [a, b2, a], count: 3 });
    expect([0, 1, 2].map((t) => [callAt(b, t).name, indexAt(b, t)])).toEqual([
      ['a', 0],
      ['b', 0],
      ['a', 0],
    ]);
    expect([...callsOf(b)]).toEqual([a, b2]);
    expect(b.state.every((s) => s === T_PENDING)).toBe(true);
  });

  it('a member gets work only while it is neither retiring nor owing the end of an abandoned task', () => {
    const m = (retiring: boolean, abandoned: number): Member => ({ retiring, abandoned }) as Member;
    expect([usable(m(false, 0)), usable(m(true, 0)), usable(m(false, 1)), usable(m(true, 2))]).toEqual([true, false, false, false]);
  });
});

describe("a call's inputs in segments (work.ts)", () => {
  const n = 2 * SEGMENT + 5;
  const list = Array.from({ length: n }, (_, i) => i);
  const callOf = (inputs: Iterable<unknown>): Call => {
    const segments = segmentsOf(inputs);
    return { inputs: segments, count: segments.reduce((k, s) => k + s.length, 0), unanswered: unansweredOf(segments) } as unknown as Call;
  };

  it('an array and any other iterable are copied into full segments and a shorter last one, in order', () => {
    function* gen(): Generator<number> {
      yield* list;
    }
    for (const c of [callOf(list), callOf(gen()), callOf(new Set(list))]) {
      expect(c.inputs.map((s) => s?.length)).toEqual([SEGMENT, SEGMENT, 5]);
      expect(c.count).toBe(n);
      expect([0, SEGMENT - 1, SEGMENT, SEGMENT + 1, n - 1].map((i) => inputAt(c, i))).toEqual([0, SEGMENT - 1, SEGMENT, SEGMENT + 1, n - 1]);
    }
    expect(segmentsOf([])).toEqual([]);
    expect(segmentsOf(Array.from({ length: SEGMENT }, () => 0)).map((s) => s.length)).toEqual([SEGMENT]);
    // A copy: changing the caller's array afterwards changes nothing.
    const mine = [1, 2, 3];
    const c = callOf(mine);
    mine[0] = 9;
    expect(inputAt(c, 0)).toBe(1);
  });

  it('a range is the whole segment itself, a slice of one, or joined across the 4,096 boundary (and more)', () => {
    const c = callOf(list);
    expect(rangeOf(c, SEGMENT, SEGMENT)).toBe(c.inputs[1]); // whole: no copy
    expect(rangeOf(c, 2 * SEGMENT, 5)).toBe(c.inputs[2]);
    const expectRange = (from: number, count: number): void => {
      const got = rangeOf(c, from, count);
      expect(got).toEqual(list.slice(from, from + count));
      expect(got).not.toBe(c.inputs[Math.floor(from / SEGMENT)]); // a part is a copy: posting it may not alias
    };
    expectRange(0, 16);
    expectRange(SEGMENT - 1, 2);
    expectRange(SEGMENT - 3, SEGMENT);
    expectRange(100, 2 * SEGMENT);
    expectRange(SEGMENT - 1, SEGMENT + 6);
    expectRange(n - 1, 1);
  });
  it('a segment is dropped once all its inputs are answered, in any order and across boundaries; not before', () => {
    const c = callOf(list);
    const [s0, s1, s2] = c.inputs;
    answeredInputs(c, SEGMENT - 10, 20); // the end of segment 0 and the start of segment 1
    answeredInputs(c, 0, SEGMENT - 11); // all of segment 0 but one
    expect(c.inputs).toEqual([s0, s1, s2]);
    answeredInputs(c, SEGMENT - 11, 1);
    expect(c.inputs[0]).toBeUndefined();
    expect(rangeOf(c, SEGMENT + 10, 3)).toEqual([SEGMENT + 10, SEGMENT + 11, SEGMENT + 12]); // the rest still reads
    answeredInputs(c, 2 * SEGMENT, 5);
    expect(c.inputs[2]).toBeUndefined();
    answeredInputs(c, SEGMENT + 10, SEGMENT - 11);
    expect(c.inputs[1]).toBe(s1);
    answeredInputs(c, 2 * SEGMENT - 1, 1);
    expect(c.inputs).toEqual([undefined, undefined, undefined]);
    // A run has no per-segment count: its one input stays until the call settles.
    const run = { inputs: [[7]], count: 1, unanswered: undefined } as unknown as Call;
    answeredInputs(run, 0, 1);
    expect(run.inputs).toEqual([[7]]);
  });
});

describe('pool stats (stats.ts)', () => {
  it('a batch is recorded once at its mean, and counted as its number of tasks', () => {
    const t = new PoolTimes();
    t.recordRun(3000, 3); // three tasks, 1 ms each on average
    t.recordRun(10_000, 1);
    t.recordRun(500, 0); // nothing ran: not recorded
    expect(t.runCount).toBe(4);
    expect(t.run.count).toBe(2);
    const s = summary(t.run, t.runCount);
    expect(s.count).toBe(4);
    expect(s.min).toBeCloseTo(1, 1);
    expect(s.max).toBeCloseTo(10, 1);
  });

  it('samples under a microsecond count as one; an empty histogram summarises as zeros', () => {
    const t = new PoolTimes();
    expect(summary(t.wait)).toEqual({ count: 0, min: 0, p50: 0, p90: 0, p99: 0, max: 0 });
    t.recordWait(0.2);
    t.recordRun(0, 5);
    expect([t.wait.min, t.run.min]).toEqual([1, 1]);
    expect(summary(t.wait)).toMatchObject({ count: 1, min: 0.001, max: 0.001 });
  });
});
