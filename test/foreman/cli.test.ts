/**
 * bgworkers-foreman (the package bin): enqueue prints the id, status prints the queue's counts, run drains and
 * exits 143 on SIGTERM / 130 on SIGINT, bad usage exits 2.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { until } from '../helpers.js';
import { PG_URL, pgDescribe } from '../pg.js';
import pg from 'pg';
import { randomBytes } from 'node:crypto';

const CLI = fileURLToPath(new URL('../../dist/foreman/cli.js', import.meta.url));
const JOBS = fileURLToPath(new URL('../fixtures/foreman/jobs.mjs', import.meta.url));

describe('bgworkers-foreman', () => {
  for (const [signal, code] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`enqueue, status, run (drains; ${signal} → exit ${code})`, { timeout: 30_000 }, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'bgw-foreman-cli-'));
      const db = join(dir, 'jobs.db');
      const out = join(dir, 'out');
      writeFileSync(out, '');
      const enq = await runCli(CLI, ['enqueue', '--queue', db, 'append', JSON.stringify({ file: out })], undefined, 10_000);
      expect(enq).toMatchObject({ code: 0, stdout: '1\n' });
      const st = await runCli(CLI, ['status', '--queue', db], undefined, 10_000);
      expect(JSON.parse(st.stdout)).toEqual({ queued: 1, running: 0, scheduled: 0, dead: 0 });
      const child = spawn(process.execPath, [CLI, 'run', '--queue', db, '--handlers', JOBS, '--concurrency', '1'], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000, killSignal: 'SIGKILL' });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
      await until(() => readFileSync(out, 'utf8').length > 0, 'the job ran', 15_000);
      child.kill(signal);
      expect(await exited).toBe(code);
      expect(stderr).toContain('"completed":1');
      const after = await runCli(CLI, ['status', '--queue', db], undefined, 10_000);
      expect(JSON.parse(after.stdout)).toEqual({ queued: 0, running: 0, scheduled: 0, dead: 0 });
    });
  }

  it('bad usage exits 2 with the usage; a queue that cannot be opened exits 1', { timeout: 20_000 }, async () => {
    expect(await runCli(CLI, ['nope'], undefined, 10_000)).toMatchObject({ code: 2, stderr: expect.stringContaining('usage:') });
    expect(await runCli(CLI, ['status'], undefined, 10_000)).toMatchObject({ code: 2, stderr: expect.stringContaining('--queue is required') });
    expect(await runCli(CLI, ['enqueue', '--queue', '/tmp/x.db', 'a', '{bad'], undefined, 10_000)).toMatchObject({ code: 2 });
    expect(await runCli(CLI, ['status', '--queue', '/nonexistent-dir/x/jobs.db'], undefined, 10_000)).toMatchObject({ code: 1 });
  });
});

pgDescribe('bgworkers-foreman on PostgreSQL')('bgworkers-foreman with a postgres:// queue', () => {
  it('enqueue and status on a postgres:// URL with --schema; --schema on a file is bad usage', { timeout: 30_000 }, async () => {
    const schema = `bgw_cli_test_${randomBytes(4).toString('hex')}`;
    try {
      const enq = await runCli(CLI, ['enqueue', '--queue', PG_URL, '--schema', schema, 'append', '{"file":"/dev/null"}'], undefined, 15_000);
      expect(enq, enq.stderr).toMatchObject({ code: 0 });
      expect(enq.stdout.trim()).toMatch(/^\d+$/);
      const st = await runCli(CLI, ['status', '--queue', PG_URL, '--schema', schema], undefined, 15_000);
      expect(JSON.parse(st.stdout)).toEqual({ queued: 1, running: 0, scheduled: 0, dead: 0 });
      expect(await runCli(CLI, ['status', '--queue', '/tmp/x.db', '--schema', schema], undefined, 10_000)).toMatchObject({ code: 2 });
    } finally {
      const c = new pg.Client({ connectionString: PG_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    }
  });
});
