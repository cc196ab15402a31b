/**
 * The run-claim protocol of a map batch (src/pool/gate.ts, invariant 2): the worker raises the frontier F of a
 * batch's claim word by CAS (gateClaim), the pool lowers its limit L by CAS (gateCut), and a task is claimed (< F)
 * or cancelled (>= L), never both. First each order on one thread, then the two sides raced on two threads,
 * every round checked whatever order it took: a worker claims runs and stores STARTED in each claimed task's word
 * (as pool-worker.ts does), the main thread cuts at a random task after a random spin, and the final words must
 * be STARTED exactly below the limit the cut returned and CANCELLED from it on.
 * On real workers (steal, failure, death racing a claim): test/integration/pool-claims.test.ts.
 */
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { GATE_SIZE, GATE_WORDS, G_CANCELLED, G_QUEUED, G_STARTED, gateClaim, gateCut, gateFrontier, gateLimit, gateOpen, gateState, newGate } from '../../src/pool/gate.js';
import { MAX_SHARED_BATCH } from '../../src/pool/pool.js';

const words = (): Int32Array => new Int32Array(newGate());

describe('run claims (gate.ts)', () => {
  it('a new gate has GATE_WORDS words; gateOpen queues the tasks and opens the claim word (F = 0, L = count)', () => {
    const g = words();
    expect(g.length).toBe(GATE_WORDS);
    gateOpen(g, GATE_SIZE - 2, 5); // wraps: tasks at words GATE_SIZE - 2, GATE_SIZE - 1, 0, 1, 2
    expect([gateFrontier(g, GATE_SIZE - 2), gateLimit(g, GATE_SIZE - 2)]).toEqual([0, 5]);
    for (let t = 0; t < 5; t++) expect(gateState(g, GATE_SIZE - 2 + t)).toBe(G_QUEUED);
    // Nothing else moved: the wrapped fill stops at the task words (the claim words follow them).
    const touched = new Set([GATE_SIZE - 2, GATE_SIZE - 1, 0, 1, 2, GATE_SIZE + GATE_SIZE - 2]);
    for (let i = 0; i < GATE_WORDS; i++) if (!touched.has(i)) expect(g[i], `word ${i}`).toBe(0);
  });

  it("a batch of the largest size (pool.ts MAX_SHARED_BATCH, its limit in the claim word's sign bit) claims, cuts and reads back whole", () => {
    const g = words();
    const n = MAX_SHARED_BATCH;
    expect(n << 16).toBeLessThan(0); // the case: L << 16 sets the sign bit
    expect(2 * n).toBeLessThanOrEqual(GATE_SIZE); // two full batches fit a worker's gate (pool.ts #withRoom)
    gateOpen(g, GATE_SIZE - 7, n); // wrapping too
    expect([gateFrontier(g, GATE_SIZE - 7), gateLimit(g, GATE_SIZE - 7)]).toEqual([0, n]);
    expect(gateClaim(g, GATE_SIZE - 7, 0, 128)).toBe(128);
    expect(gateCut(g, GATE_SIZE - 7, n - 1)).toBe(n - 1); // one task cut, at the top
    expect([gateFrontier(g, GATE_SIZE - 7), gateLimit(g, GATE_SIZE - 7)]).toEqual([128, n - 1]);
    expect(gateState(g, GATE_SIZE - 7 + n - 1)).toBe(G_CANCELLED);
    expect(gateState(g, GATE_SIZE - 7 + n - 2)).toBe(G_QUEUED);
    expect(gateClaim(g, GATE_SIZE - 7, 128, n)).toBe(n - 1); // the rest, up to the limit
    expect(gateCut(g, GATE_SIZE - 7, 0)).toBe(n - 1); // nothing left to cut
  });

  it('claim first: the cut cannot take a claimed task; it cancels from the frontier on, and claiming stops there', () => {
    const g = words();
    gateOpen(g, 100, 10);
    expect(gateClaim(g, 100, 0, 4)).toBe(4);
    expect(gateCut(g, 100, 2)).toBe(4); // 2 and 3 are claimed: cut at the frontier
    for (let t = 4; t < 10; t++) expect(gateState(g, 100 + t)).toBe(G_CANCELLED);
    for (let t = 0; t < 4; t++) expect(gateState(g, 100 + t)).toBe(G_QUEUED); // claimed, not started
    expect(gateClaim(g, 100, 4, 4)).toBe(4); // nothing more to claim
    expect(gateCut(g, 100, 0)).toBe(4); // nor to cut
  });

  it('cut first: the claim stops at the limit; a later cut lowers it no further than the frontier', () => {
    const g = words();
    gateOpen(g, 7, 10);
    expect(gateCut(g, 7, 6)).toBe(6);
    expect(gateClaim(g, 7, 0, 8)).toBe(6);
    expect(gateClaim(g, 7, 6, 8)).toBe(6);
    expect(gateCut(g, 7, 3)).toBe(6);
    expect([gateFrontier(g, 7), gateLimit(g, 7)]).toEqual([6, 6]);
    // A cut of a batch nobody claimed from takes it all.
    gateOpen(g, 50, 3);
    expect(gateCut(g, 50, 0)).toBe(0);
    expect(gateClaim(g, 50, 0, 1)).toBe(0);
  });

  it('raced on two threads: every task ends claimed and STARTED below the cut, CANCELLED from it on, never both', { timeout: 120_000 }, async () => {
    const ROUNDS = 20_000;
    const COUNT = 64;
    const gate = newGate();
    const g = new Int32Array(gate);
    // ctl[0]: the round the worker may run (1-based; -1: stop); ctl[1]: the round it finished; ctl[2 + r % 2]: its
    // frontier. Both sides spin (a wait would put the worker to sleep and the race would rarely happen); the test
    // stops once enough cuts have found the worker mid-batch.
    const ctl = new Int32Array(new SharedArrayBuffer(16));
    const gateUrl = new URL('../../dist/pool/gate.js', import.meta.url).href;
    const worker = new Worker(
      `
      const { workerData: { gate, ctl: c, count, url } } = require('node:worker_threads');
      import(url).then(({ GATE_SIZE, G_STARTED, gateClaim }) => {
        const g = new Int32Array(gate), ctl = new Int32Array(c);
        for (let r = 1; ; r++) {
          let go;
          while ((go = Atomics.load(ctl, 0)) !== r && go !== -1) {}
          if (go === -1) return;
          const seq0 = ((r * count) % GATE_SIZE);
          let f = 0;
          for (let k = 1 + (r % 8);;) {
            const to = gateClaim(g, seq0, f, k);
            if (to === f) break;
            for (; f < to; f++) g[(seq0 + f) % GATE_SIZE] = G_STARTED;
          }
          Atomics.store(ctl, 2 + (r % 2), f);
          Atomics.store(ctl, 1, r);
        }
      });
      `,
      { eval: true, workerData: { gate, ctl: ctl.buffer, count: COUNT, url: gateUrl } },
    );
    try {
      let inside = 0; // rounds where the cut landed among the claims (both sides got some of the batch)
      let seed = 12345;
      const rand = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) % n);
      for (let r = 1; r <= ROUNDS && inside < 500; r++) {
        const seq0 = (r * COUNT) % GATE_SIZE;
        gateOpen(g, seq0, COUNT);
        Atomics.store(ctl, 0, r);
        let sink = 0;
        for (let spin = rand(3000); spin > 0; spin--) sink = (sink + spin) | 0;
        if (sink === -1) throw new Error('unreachable');
        const t = rand(COUNT + 1);
        const limit = gateCut(g, seq0, t);
        while (Atomics.load(ctl, 1) !== r);
        const front = Atomics.load(ctl, 2 + (r % 2));
        if (limit < t) expect(limit).toBeGreaterThanOrEqual(t);
        if (front !== limit) expect(front, `round ${r}: the worker's frontier against the cut`).toBe(limit); // it claimed up to the limit, no further
        for (let i = 0; i < COUNT; i++) {
          const st = gateState(g, seq0 + i);
          if (st !== (i < limit ? G_STARTED : G_CANCELLED)) expect(st, `round ${r}: task ${i} of a cut at ${limit} (asked ${t})`).toBe(i < limit ? G_STARTED : G_CANCELLED);
        }
        if (limit > t && limit < COUNT) inside++;
      }
      // The race was run, not only its ends: some cuts found the worker mid-batch.
      expect(inside).toBeGreaterThan(0);
    } finally {
      Atomics.store(ctl, 0, -1);
      await worker.terminate();
    }
  });
});
