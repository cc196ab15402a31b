/**
 * The one transition check (src/shared/transitions.ts) and the one error the state machines throw: a slot's
 * state and a supervisor run's phase here. The scope machine (scope/node.ts) uses the same assertTransition, but
 * every one of its moves is guarded by a state check first, so no call reaches an illegal move to test.
 */
import { describe, expect, it } from 'vitest';
import type { RegisterRequest } from '../../src/shared/protocol.js';
import { RUNNING, STARTING, checkTransition } from '../../src/shared/slots.js';
import { IllegalTransitionError, assertTransition, type TransitionTable } from '../../src/shared/transitions.js';
import { Run } from '../../src/supervisor/lifecycle.js';

const caught = (fn: () => void): IllegalTransitionError => {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(IllegalTransitionError);
    return e as IllegalTransitionError;
  }
  throw new Error('expected an IllegalTransitionError, nothing was thrown');
};

describe('assertTransition', () => {
  const table: TransitionTable<'a' | 'b' | 'c'> = { a: ['b'], b: ['a', 'c'], c: [] };

  it('lets a legal move through and throws on an illegal one, naming machine, event, both states and what was allowed', () => {
    expect(() => assertTransition('toy', table, 'go', 'a', 'b')).not.toThrow();
    const e = caught(() => assertTransition('toy', table, 'jump', 'a', 'c'));
    expect(e).toMatchObject({ code: 'ERR_ILLEGAL_TRANSITION', name: 'IllegalTransitionError', machine: 'toy', event: 'jump', from: 'a', to: 'c' });
    expect(e.message).toBe('internal: illegal toy transition on jump: a -> c (allowed: b)');
    expect(caught(() => assertTransition('toy', table, 'late', 'c', 'a')).message).toContain('(allowed: none)');
  });

  it('spells numeric states with the name function', () => {
    const nums: TransitionTable<0 | 1> = { 0: [1], 1: [] };
    const e = caught(() => assertTransition('num', nums, 'e', 1, 0, (s) => ['ZERO', 'ONE'][s]!));
    expect(e).toMatchObject({ from: 'ONE', to: 'ZERO' });
  });
});

describe('the machines throw the same error', () => {
  it('slot', () => {
    expect(caught(() => checkTransition('bogus', RUNNING, STARTING))).toMatchObject({ machine: 'slot', event: 'bogus', from: 'RUNNING', to: 'STARTING' });
  });

  it('run', () => {
    const run = new Run({} as RegisterRequest);
    run.move('done', 'exit');
    expect(caught(() => run.move('running', 'late'))).toMatchObject({ machine: 'run', event: 'late', from: 'done', to: 'running' });
    expect(run.phase).toBe('done');
  });
});
