/**
 * The slot control word (src/shared/slots.ts) by example: packing, and each operation of the state machine from
 * the states where it applies and where it must do nothing. The exhaustive interleavings are in
 * test/property/slots.model.test.ts.
 */
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
  TERM,
  checkTransition,
  claim,
  commit,
  genOf,
  outcomeOf,
  pack,
  reportOutcome,
  requestTermination,
  stateOf,
  termRequested,
  transition,
  type Outcome,
  type SlotState,
} from '../../src/shared/slots.js';
import { IllegalTransitionError } from '../../src/shared/transitions.js';

const AT = 1; // not 0, so an operation that ignores `at` shows up

/** A one-slot table whose control word at AT starts as `word`; its neighbours are sentinels nothing may touch. */
function slot(word = 0): Int32Array {
  const i32 = new Int32Array(new SharedArrayBuffer(3 * 4));
  i32[0] = 0x5a5a5a5a;
  i32[AT] = word;
  i32[2] = 0x5a5a5a5a;
  return i32;
}
const word = (i32: Int32Array): number => Atomics.load(i32, AT);
const outcomeBits = (o: Outcome): number => o << 4;

describe('pack and field accessors', () => {
  it('pack puts state in bits 0-2, TERM in bit 3, outcome in bits 4-6, generation in bits 8-29', () => {
    expect(pack(RUNNING, 5, TERM | outcomeBits(O_FAILED))).toBe(3 | 8 | (2 << 4) | (5 << 8));
    expect(pack(FREE, 0)).toBe(0);
  });

  it('the accessors read back every field of a packed word', () => {
    for (const s of [FREE, PENDING, STARTING, RUNNING] as const) {
      for (const o of [O_NONE, O_COMPLETED, O_FAILED, O_CRASHED, O_TERMINATED] as const) {
        for (const term of [false, true]) {
          for (const gen of [0, 1, 0x1234, GEN_MASK]) {
            const w = pack(s, gen, (term ? TERM : 0) | outcomeBits(o));
            expect([stateOf(w), genOf(w), outcomeOf(w), termRequested(w)]).toEqual([s, gen, o, term]);
          }
        }
      }
    }
  });

  it('pack keeps state and generation out of `bits`, and masks the generation to 22 bits', () => {
    const stateAndGenBits = 0x3fffff07;
    const w = pack(PENDING, GEN_MASK + 2, stateAndGenBits);
    expect(stateOf(w)).toBe(PENDING);
    expect(genOf(w)).toBe(1);
    expect(w).toBeGreaterThanOrEqual(0); // bits 30-31 stay clear: the word is a non-negative Int32
  });
});

describe('claim (registrant: FREE -> PENDING)', () => {
  it('claims a FREE slot with generation + 1, all flags clear', () => {
    const i32 = slot(pack(FREE, 41));
    expect(claim(i32, AT)).toBe(42);
    expect(word(i32)).toBe(pack(PENDING, 42));
    expect([i32[0], i32[2]]).toEqual([0x5a5a5a5a, 0x5a5a5a5a]);
  });

  it('returns -1 and changes nothing on a slot that is not FREE', () => {
    for (const s of [PENDING, STARTING, RUNNING] as const) {
      const i32 = slot(pack(s, 7, TERM));
      expect(claim(i32, AT)).toBe(-1);
      expect(word(i32)).toBe(pack(s, 7, TERM));
    }
  });

  it('wraps the generation from GEN_MASK to 0 (a handle is only stale-safe within 2^22 claims)', () => {
    const i32 = slot(pack(FREE, GEN_MASK));
    expect(claim(i32, AT)).toBe(0);
    expect(word(i32)).toBe(pack(PENDING, 0));
    expect(genOf(word(i32))).toBe(0);
  });

  it('a claim, free and claim again never hands out the same generation twice in a row', () => {
    const i32 = slot();
    const gens: number[] = [];
    for (let i = 0; i < 5; i++) {
      const g = claim(i32, AT);
      gens.push(g);
      expect(transition(i32, AT, g, [PENDING], FREE, 'rollback')).toBe(pack(FREE, g));
    }
    expect(gens).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('commit (worker: PENDING -> STARTING, invariant 2)', () => {
  it('commits from PENDING with TERM clear', () => {
    const i32 = slot(pack(PENDING, 3));
    expect(commit(i32, AT, 3)).toBe(true);
    expect(word(i32)).toBe(pack(STARTING, 3));
  });

  it('refuses once TERM is set, and leaves the word as it was', () => {
    const i32 = slot(pack(PENDING, 3, TERM));
    expect(commit(i32, AT, 3)).toBe(false);
    expect(word(i32)).toBe(pack(PENDING, 3, TERM));
  });

  it('refuses a stale generation and any state but PENDING', () => {
    const stale = slot(pack(PENDING, 4));
    expect(commit(stale, AT, 3)).toBe(false);
    expect(word(stale)).toBe(pack(PENDING, 4));
    for (const s of [FREE, STARTING, RUNNING] as const) {
      const i32 = slot(pack(s, 3));
      expect(commit(i32, AT, 3)).toBe(false);
      expect(word(i32)).toBe(pack(s, 3));
    }
  });
});

describe('requestTermination (TERM, sticky until FREE)', () => {
  it('sets TERM in every non-FREE state and returns the word before', () => {
    for (const s of [PENDING, STARTING, RUNNING] as const) {
      const before = pack(s, 9, outcomeBits(s === PENDING ? O_NONE : O_FAILED));
      const i32 = slot(before);
      expect(requestTermination(i32, AT, 9)).toBe(before);
      expect(word(i32)).toBe(before | TERM);
    }
  });

  it('does nothing on a FREE slot, a stale generation or when TERM is already set', () => {
    const cases: [number, number][] = [
      [pack(FREE, 9), 9],
      [pack(RUNNING, 10), 9],
      [pack(RUNNING, 9, TERM), 9],
    ];
    for (const [w, gen] of cases) {
      const i32 = slot(w);
      expect(requestTermination(i32, AT, gen)).toBeUndefined();
      expect(word(i32)).toBe(w);
    }
  });

  it('TERM survives STARTING -> RUNNING and a restart to PENDING, and is cleared only by FREE', () => {
    const i32 = slot(pack(STARTING, 2, TERM));
    expect(transition(i32, AT, 2, [STARTING], RUNNING, 'running')).toBe(pack(RUNNING, 2, TERM));
    expect(transition(i32, AT, 2, [RUNNING], PENDING, 'restart', true)).toBe(pack(PENDING, 2, TERM));
    expect(commit(i32, AT, 2)).toBe(false);
    expect(transition(i32, AT, 2, [PENDING], FREE, 'stopped')).toBe(pack(FREE, 2));
  });
});

describe('transition', () => {
  it('keeps TERM and the outcome, or clears the outcome when asked', () => {
    const i32 = slot(pack(RUNNING, 6, TERM | outcomeBits(O_CRASHED)));
    expect(transition(i32, AT, 6, [STARTING, RUNNING], PENDING, 'restart')).toBe(pack(PENDING, 6, TERM | outcomeBits(O_CRASHED)));
    const j32 = slot(pack(RUNNING, 6, outcomeBits(O_CRASHED)));
    expect(transition(j32, AT, 6, [STARTING, RUNNING], PENDING, 'restart', true)).toBe(pack(PENDING, 6));
  });

  it('FREE clears TERM and outcome but keeps the generation', () => {
    const i32 = slot(pack(RUNNING, 6, TERM | outcomeBits(O_TERMINATED)));
    expect(transition(i32, AT, 6, [PENDING, STARTING, RUNNING], FREE, 'stopped')).toBe(pack(FREE, 6));
    expect(word(i32)).toBe(pack(FREE, 6));
  });

  it('returns undefined, changing nothing, for a stale generation or a state not in `from`', () => {
    const i32 = slot(pack(RUNNING, 6));
    expect(transition(i32, AT, 5, [RUNNING], FREE, 'stopped')).toBeUndefined();
    expect(transition(i32, AT, 6, [PENDING, STARTING], FREE, 'stopped')).toBeUndefined();
    expect(word(i32)).toBe(pack(RUNNING, 6));
  });

  it('throws IllegalTransitionError on a transition outside the table, naming event and states, and changes nothing', () => {
    const i32 = slot(pack(RUNNING, 6));
    let err: unknown;
    try {
      transition(i32, AT, 6, [RUNNING], STARTING, 'bogus-event');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(IllegalTransitionError);
    expect((err as Error).name).toBe('IllegalTransitionError');
    expect((err as Error).message).toContain('bogus-event');
    expect((err as Error).message).toContain('RUNNING -> STARTING');
    expect(word(i32)).toBe(pack(RUNNING, 6));
  });

  // Facts from the slots.ts header (the invariants and what each state means), checked against every (from, to)
  // pair the code allows — not against a copy of its table.
  describe('checkTransition, over every (from, to) pair', () => {
    const STATES = [FREE, PENDING, STARTING, RUNNING] as const;
    const allowed = (from: SlotState, to: SlotState): boolean => {
      try {
        checkTransition('e', from, to);
        return true;
      } catch (e) {
        expect(e).toBeInstanceOf(IllegalTransitionError);
        return false;
      }
    };
    const into = (to: SlotState): SlotState[] => STATES.filter((from) => allowed(from, to));
    const outOf = (from: SlotState): SlotState[] => STATES.filter((to) => allowed(from, to));

    it('a same-state change is never a transition (flags change without one)', () => {
      for (const s of STATES) expect(allowed(s, s)).toBe(false);
    });

    it('a FREE slot is left only by a claim, to PENDING (invariant 1: only the registrant claims)', () => {
      expect(outOf(FREE)).toEqual([PENDING]);
    });

    it('every state that holds a worker can end in FREE: a run can always be finished, a claim rolled back', () => {
      for (const s of [PENDING, STARTING, RUNNING] as const) expect(allowed(s, FREE)).toBe(true);
    });

    it('STARTING is entered only by the commit, from PENDING (invariant 2: no user code runs without it)', () => {
      expect(into(STARTING)).toEqual([PENDING]);
    });

    it('RUNNING is entered only from STARTING: main is called only once the entry loaded', () => {
      expect(into(RUNNING)).toEqual([STARTING]);
    });

    it('PENDING is entered by a claim and by the restart of a run that committed, from nowhere else', () => {
      expect(into(PENDING)).toEqual([FREE, STARTING, RUNNING]);
    });

    it('a run never goes back over user code it ran: no RUNNING -> STARTING', () => {
      expect(allowed(RUNNING, STARTING)).toBe(false);
    });

    it('transition() enforces the same relation: it writes a legal change and throws on an illegal one', () => {
      for (const from of [PENDING, STARTING, RUNNING] as const) {
        for (const to of STATES) {
          if (from === to) continue;
          const i32 = slot(pack(from, 9));
          if (allowed(from, to)) expect(stateOf(transition(i32, AT, 9, [from], to, 'e')!)).toBe(to);
          else expect(() => transition(i32, AT, 9, [from], to, 'e')).toThrow(IllegalTransitionError);
        }
      }
    });
  });
});

describe('reportOutcome (worker, once per run, invariant 3)', () => {
  it('records the outcome as given while TERM is clear', () => {
    for (const o of [O_COMPLETED, O_FAILED, O_CRASHED, O_TERMINATED] as const) {
      const i32 = slot(pack(RUNNING, 1));
      expect(reportOutcome(i32, AT, 1, o)).toBe(o);
      expect(word(i32)).toBe(pack(RUNNING, 1, outcomeBits(o)));
    }
  });

  it('under TERM a failure becomes TERMINATED and COMPLETED stays COMPLETED', () => {
    const expected: [Outcome, Outcome][] = [
      [O_COMPLETED, O_COMPLETED],
      [O_FAILED, O_TERMINATED],
      [O_CRASHED, O_TERMINATED],
      [O_TERMINATED, O_TERMINATED],
    ];
    for (const [given, recorded] of expected) {
      const i32 = slot(pack(RUNNING, 1, TERM));
      expect(reportOutcome(i32, AT, 1, given)).toBe(recorded);
      expect(outcomeOf(word(i32))).toBe(recorded);
      expect(termRequested(word(i32))).toBe(true);
    }
  });

  it('is accepted in STARTING too (the entry failed to load)', () => {
    const i32 = slot(pack(STARTING, 1));
    expect(reportOutcome(i32, AT, 1, O_FAILED)).toBe(O_FAILED);
    expect(word(i32)).toBe(pack(STARTING, 1, outcomeBits(O_FAILED)));
  });

  it('records only the first outcome of a run', () => {
    const i32 = slot(pack(RUNNING, 1));
    expect(reportOutcome(i32, AT, 1, O_FAILED)).toBe(O_FAILED);
    expect(reportOutcome(i32, AT, 1, O_COMPLETED)).toBe(O_NONE);
    expect(outcomeOf(word(i32))).toBe(O_FAILED);
  });

  it('does nothing for a stale generation, or in FREE or PENDING', () => {
    const cases: [number, number][] = [
      [pack(RUNNING, 2), 1],
      [pack(FREE, 1), 1],
      [pack(PENDING, 1), 1],
    ];
    for (const [w, gen] of cases) {
      const i32 = slot(w);
      expect(reportOutcome(i32, AT, gen, O_COMPLETED)).toBe(O_NONE);
      expect(word(i32)).toBe(w);
    }
  });

  it('a restart clears the outcome, so the next run reports again', () => {
    const i32 = slot(pack(RUNNING, 1, outcomeBits(O_FAILED)));
    transition(i32, AT, 1, [STARTING, RUNNING], PENDING, 'restart', true);
    expect(commit(i32, AT, 1)).toBe(true);
    expect(reportOutcome(i32, AT, 1, O_COMPLETED)).toBe(O_COMPLETED);
  });
});

describe('a whole run', () => {
  it('claim -> commit -> running -> completed -> free, and a stale handle touches nothing after reuse', () => {
    const i32 = slot();
    const g = claim(i32, AT);
    expect(commit(i32, AT, g)).toBe(true);
    expect(transition(i32, AT, g, [STARTING], RUNNING, 'running')).toBe(pack(RUNNING, g));
    expect(reportOutcome(i32, AT, g, O_COMPLETED)).toBe(O_COMPLETED);
    expect(transition(i32, AT, g, [PENDING, STARTING, RUNNING], FREE, 'stopped')).toBe(pack(FREE, g));
    const g2 = claim(i32, AT);
    expect(g2).not.toBe(g);
    const reused = word(i32);
    expect(requestTermination(i32, AT, g)).toBeUndefined();
    expect(commit(i32, AT, g)).toBe(false);
    expect(reportOutcome(i32, AT, g, O_FAILED)).toBe(O_NONE);
    expect(transition(i32, AT, g, [PENDING], FREE, 'rollback')).toBeUndefined();
    expect(word(i32)).toBe(reused);
  });
});
