/**
 * scripts/build.mjs, on a copy of the repository's sources in a temp dir (the worktree's own dist/ is in use by
 * the other tests): a clean copy builds in full; `--if-stale` runs no tsc when dist/ is fresh; a changed source
 * rebuilds; and dist/ deleted, or one output deleted while tsc's incremental state says it is up to date, still
 * emits everything (an incremental tsc alone would skip it).
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
let dir = '';

/** Runs the build script in the copy; returns the stamp's mtime after it (undefined: no stamp). */
async function build(...args: string[]): Promise<number | undefined> {
  await run(process.execPath, [join(dir, 'scripts', 'build.mjs'), ...args], { cwd: dir, timeout: 120_000 });
  return statSync(join(dir, 'dist', '.build-stamp'), { throwIfNoEntry: false })?.mtimeMs;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'bgworkers-build-'));
  for (const name of ['src', 'scripts', 'tsconfig.json', 'package.json']) cpSync(join(repo, name), join(dir, name), { recursive: true });
  symlinkSync(realpathSync(join(repo, 'node_modules')), join(dir, 'node_modules'));
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('scripts/build.mjs', () => {
  it('builds a clean copy, skips a fresh one, rebuilds a changed one, and emits in full after dist/ or an output is deleted', async () => {
    // Clean copy (no dist/): a full build.
    const first = await build('--if-stale');
    expect(first).toBeDefined();
    expect(existsSync(join(dir, 'dist', 'index.js'))).toBe(true);
    expect(existsSync(join(dir, 'dist', 'worker.d.ts'))).toBe(true);
    expect(existsSync(join(dir, 'dist', '.tsbuildinfo'))).toBe(true);

    // Fresh: no tsc, so the stamp is not rewritten.
    expect(await build('--if-stale')).toBe(first);

    // A source newer than the stamp (saved now, after the first build started): tsc runs, the stamp moves.
    const now = new Date();
    utimesSync(join(dir, 'src', 'errors.ts'), now, now);
    const second = await build('--if-stale');
    expect(second).toBeGreaterThan(first!);

    // One output deleted while the incremental state (dist/.tsbuildinfo) is kept and the sources are unchanged.
    rmSync(join(dir, 'dist', 'index.js'));
    await build('--if-stale');
    expect(existsSync(join(dir, 'dist', 'index.js'))).toBe(true);

    // dist/ deleted: everything again.
    rmSync(join(dir, 'dist'), { recursive: true });
    expect(await build('--if-stale')).toBeDefined();
    expect(existsSync(join(dir, 'dist', 'worker.js'))).toBe(true);
    expect(existsSync(join(dir, 'dist', 'pool', 'pool-worker.js'))).toBe(true);
  }, 180_000);
});
