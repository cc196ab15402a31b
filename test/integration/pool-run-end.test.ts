/**
 * runWithEnd (internal, for the Foreman): `ended` resolves only once an aborted task has really ended — its
 * answer arrived, or its worker was stopped — never at the abort itself.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TaskTimeoutError } from '../../dist/index.js';
import { runWithEnd } from '../../dist/pool/scoped-pool.js';
import { fixture, startSupervisor } from '../helpers.js';

function marks(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'bgw-run-end-')), 'marks');
  writeFileSync(file, '');
  return file;
}

describe('runWithEnd', () => {
  it('a timed-out task that ends by itself: ended after its end, not at the timeout', { timeout: 15_000 }, async () => {
    const sup = await startSupervisor();
    const file = marks();
    await sup.scope(async (scope) => {
      const pool = scope.pool({ entry: fixture('task-spin-mark.mjs'), maxWorkers: 1, abortGraceMs: 10_000 });
      await pool.run({ file, ms: 0 }); // the worker is up: the timeout below counts from a started task
      writeFileSync(file, '');
      const { result, ended } = runWithEnd(pool, { file, ms: 300 }, { timeoutMs: 20 });
      await expect(result).rejects.toBeInstanceOf(TaskTimeoutError);
      expect(readFileSync(file, 'utf8')).toBe(''); // rejected while the task still runs
      await ended;
      expect(readFileSync(file, 'utf8')).toBe('end\n');
    });
  });

  it('a timed-out task that never ends: ended once its worker was stopped', { timeout: 15_000 }, async () => {
    const sup = await startSupervisor();
    const file = marks();
    await sup.scope(async (scope) => {
      const pool = scope.pool({ entry: fixture('task-spin-mark.mjs'), maxWorkers: 1, abortGraceMs: 50 });
      await pool.run({ file, ms: 0 }); // the worker is up: the task below starts before its timeout
      writeFileSync(file, '');
      const [worker] = sup.workers();
      const { result, ended } = runWithEnd(pool, { file, ms: 60_000 }, { timeoutMs: 20 });
      await expect(result).rejects.toBeInstanceOf(TaskTimeoutError);
      await ended;
      expect(worker).toBeDefined();
      expect(sup.workers().map((w) => w.id)).not.toContain(worker!.id); // its worker has stopped
      expect(readFileSync(file, 'utf8')).toBe('');
    });
  });

  it('a task that answers: ended with its result; a run refused at once: ended at once', { timeout: 15_000 }, async () => {
    const sup = await startSupervisor();
    const file = marks();
    await sup.scope(async (scope) => {
      const pool = scope.pool({ entry: fixture('task-spin-mark.mjs'), maxWorkers: 1 });
      const ok = runWithEnd(pool, { file, ms: 0 });
      expect(await ok.result).toBe('done');
      await ok.ended;
      const bad = runWithEnd(pool, { file, ms: 0 }, { timeoutMs: -1 });
      await expect(bad.result).rejects.toMatchObject({ field: 'timeoutMs' });
      await bad.ended;
    });
  });
});
