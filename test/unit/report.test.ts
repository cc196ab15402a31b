/**
 * A thread worker's outcome report (src/worker/report.ts reportTo): the order of its three effects, read at the
 * moment each one happens. The details reach the host before the control word holds an outcome (a forced stop
 * between the two must never leave a `failed` word without its error: the fuzz suite's CI failure); a precious
 * death reaches the registrant only once the word holds it; and the word, not the claim, decides.
 */
import { describe, expect, it } from 'vitest';
import { reportTo, type ReportTarget } from '../../src/worker/report.js';
import { O_COMPLETED, O_CRASHED, O_FAILED, O_NONE, O_TERMINATED, RUNNING, TERM, outcomeOf, pack } from '../../src/shared/slots.js';
import { serializeError } from '../../src/shared/protocol.js';

const CTRL_AT = 1;
const INTERRUPT_AT = 3;
const LATCH_AT = 4;
const GEN = 7;

interface Seen {
  what: 'host' | 'death';
  message: Record<string, unknown>;
  /** The control word's outcome when the message was posted. */
  outcome: number;
  /** The registrant's interrupt word when the message was posted. */
  interrupts: number;
}

function target(precious: boolean, word = pack(RUNNING, GEN)): { t: ReportTarget; seen: Seen[]; i32: Int32Array } {
  const i32 = new Int32Array(new SharedArrayBuffer(6 * 4));
  i32[CTRL_AT] = word;
  const seen: Seen[] = [];
  const port = (what: Seen['what']) => ({
    postMessage: (message: unknown) =>
      void seen.push({ what, message: message as Record<string, unknown>, outcome: outcomeOf(Atomics.load(i32, CTRL_AT)), interrupts: Atomics.load(i32, INTERRUPT_AT) }),
  });
  const t: ReportTarget = {
    i32,
    ctrlAt: CTRL_AT,
    gen: GEN,
    precious,
    controlPort: precious ? port('death') : undefined,
    registrant: { i32, interrupt: INTERRUPT_AT, latch: LATCH_AT },
    port: port('host'),
    nonce: 'n1',
  };
  return { t, seen, i32 };
}

const error = serializeError(new Error('boom'));

describe('reportTo', () => {
  it('posts the details to the host before the word holds the outcome, for every worker', () => {
    for (const precious of [false, true]) {
      const { t, seen, i32 } = target(precious);
      expect(reportTo(t, O_FAILED, 1, { error }, 0)).toBe(O_FAILED);
      const host = seen.find((s) => s.what === 'host')!;
      expect(host.outcome).toBe(O_NONE);
      expect(host.message).toMatchObject({ t: 'outcome', reason: 'failed', code: 1, error, nonce: 'n1' });
      expect(outcomeOf(i32[CTRL_AT]!)).toBe(O_FAILED);
    }
  });

  it('a precious death: the host first, then the death report once the word holds it, then the interrupt', () => {
    const { t, seen, i32 } = target(true);
    reportTo(t, O_FAILED, 1, { error }, 0);
    expect(seen.map((s) => s.what)).toEqual(['host', 'death']);
    const death = seen[1]!;
    expect(death.outcome).toBe(O_FAILED);
    expect(death.interrupts).toBe(0);
    expect(death.message).toMatchObject({ t: 'death', reason: 'failed', code: 1, error });
    expect(i32[INTERRUPT_AT]).toBe(1);
    expect(i32[LATCH_AT]).not.toBe(0);
  });

  it('a crash of a precious worker is a death too', () => {
    const { t, seen } = target(true);
    expect(reportTo(t, O_CRASHED, 3, {}, 0)).toBe(O_CRASHED);
    expect(seen.map((s) => [s.what, s.message['reason']])).toEqual([
      ['host', 'crashed'],
      ['death', 'crashed'],
    ]);
  });

  it('under TERM a failure is recorded as terminated: the claim reaches the host, the registrant hears nothing', () => {
    const { t, seen, i32 } = target(true, pack(RUNNING, GEN) | TERM);
    expect(reportTo(t, O_FAILED, 1, { error }, 0)).toBe(O_TERMINATED);
    expect(seen.map((s) => s.what)).toEqual(['host']);
    expect(outcomeOf(i32[CTRL_AT]!)).toBe(O_TERMINATED);
    expect(i32[INTERRUPT_AT]).toBe(0);
  });

  it('a run that already has its outcome keeps it, and no death is reported', () => {
    const { t, seen, i32 } = target(true);
    expect(reportTo(t, O_COMPLETED, 0, {}, 0)).toBe(O_COMPLETED);
    seen.length = 0;
    expect(reportTo(t, O_CRASHED, 1, {}, 0)).toBe(O_NONE);
    expect(seen.map((s) => s.what)).toEqual(['host']);
    expect(outcomeOf(i32[CTRL_AT]!)).toBe(O_COMPLETED);
    expect(i32[INTERRUPT_AT]).toBe(0);
  });

  it('a report for another generation changes nothing and interrupts no one', () => {
    const { t, seen, i32 } = target(true, pack(RUNNING, GEN + 1));
    const before = i32[CTRL_AT];
    expect(reportTo(t, O_FAILED, 1, { error }, 0)).toBe(O_NONE);
    expect(i32[CTRL_AT]).toBe(before);
    expect(seen.map((s) => s.what)).toEqual(['host']);
    expect(i32[INTERRUPT_AT]).toBe(0);
  });
});
