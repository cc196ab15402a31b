/** Test helper: what a call throws, for assertions on the error itself. */
import { expect } from 'vitest';

/** What `f` throws; fails the test if it throws nothing. */
export function thrownBy(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return expect.unreachable('expected a throw');
}
