/**
 * examples/foreman as its README runs it: produce.mjs enqueues a hash job per generated file (some flaky) and two
 * jobs that crash their worker; the CLI with --until-drained drains it and exits 0. Every file gets its .sha256,
 * the two crashing jobs end dead, and nothing is left queued, scheduled or running.
 */
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';

const FILES = 120;

describe('examples/foreman', () => {
  it('produce, then drain with the CLI: every file hashed, the two crashing jobs dead', { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bgw-foreman-example-'));
    const db = join(dir, 'jobs.db');
    const files = join(dir, 'files');
    const produced = await runCli('examples/foreman/produce.mjs', ['--queue', db, '--dir', files, '--files', String(FILES)], undefined, 20_000);
    expect(produced.code, produced.stderr).toBe(0);
    const drained = await runCli('dist/foreman/cli.js', ['run', '--queue', db, '--handlers', 'examples/foreman/jobs.mjs', '--concurrency', '2', '--until-drained'], undefined, 50_000);
    expect(drained.code, drained.stderr).toBe(0);
    const inputs = readdirSync(files).filter((f) => f.endsWith('.txt'));
    expect(inputs).toHaveLength(FILES);
    expect(inputs.filter((f) => !existsSync(join(files, `${f}.sha256`)))).toEqual([]);
    const status = await runCli('dist/foreman/cli.js', ['status', '--queue', db], undefined, 10_000);
    expect(JSON.parse(status.stdout)).toEqual({ queued: 0, running: 0, scheduled: 0, dead: 2 });
  });
});
