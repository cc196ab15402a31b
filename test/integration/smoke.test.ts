import { describe, expect, it } from 'vitest';
import { fixture, startSupervisor } from '../helpers.js';

describe('smoke', () => {
  it('runs a worker to completion and returns its result', async () => {
    const sup = await startSupervisor();
    const h = sup.register({ entry: fixture('echo.mjs'), data: { a: 1 } });
    expect(h.state).toBe('pending');
    const exit = await h.waitForShutdown();
    expect(exit).toEqual({ reason: 'completed', code: 0, signal: null, result: { a: 1 } });
  });
});
