/**
 * The package as a user installs it, into a temp project outside the repository:
 * - from a tarball (`npm pack` of this checkout's dist/, as a publish would ship it), installed with
 *   `npm ci --offline` from a lockfile made of the repository's own (so only cached tarballs are used): an ESM
 *   and a CommonJS registrant run ESM and CommonJS worker entries on both runtimes, and TypeScript resolves both
 *   entry points under `moduleResolution: node10` and from a CommonJS module under `nodenext`;
 * - from git (`git+file://` of this repository at HEAD): npm clones it, installs its devDependencies and runs
 *   `prepare`, which builds dist/ (dist/ is not committed), then installs what `files` packs. npm's own install in
 *   the clone re-resolves some packages (it runs `npm install --force` there, not `npm ci`), so this install is
 *   `--prefer-offline`: the cache first, the registry only for what the cache lacks.
 * Slow (npm, a clone, a full tsc): generous timeouts.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const consumerSources = fileURLToPath(new URL('./consumer', import.meta.url));
const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
const npmFlags = ['--no-audit', '--no-fund', '--loglevel=error'];
let tmp = '';

interface Lock {
  packages: Record<string, { dev?: boolean }>;
}
interface Report {
  exits: Record<'thread' | 'process', { reason: string; result: { data: unknown; pid: number } }>;
  registrantPid: number;
}

/** A consumer project depending on bgworkers at `spec`, with a lockfile of the repository's runtime packages. */
function makeProject(name: string, spec: string, integrity?: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  cpSync(consumerSources, dir, { recursive: true });
  const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as Lock;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', dependencies: { bgworkers: spec } },
    'node_modules/bgworkers': { version: pkg.version, resolved: spec, ...(integrity ? { integrity } : {}), dependencies: pkg.dependencies },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path !== '' && entry.dev !== true) packages[path] = entry;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, dependencies: { bgworkers: spec } }));
  writeFileSync(join(dir, 'package-lock.json'), JSON.stringify({ name: 'consumer', lockfileVersion: 3, requires: true, packages }));
  return dir;
}

async function runProgram(dir: string, file: string): Promise<Report> {
  const { stdout, stderr } = await exec(process.execPath, [join(dir, file)], { cwd: dir, timeout: 30_000 });
  expect(stderr).toBe('');
  return JSON.parse(stdout) as Report;
}

function expectBothRuntimes(report: Report, from: string): void {
  for (const runtime of ['thread', 'process'] as const) {
    expect(report.exits[runtime]).toMatchObject({ reason: 'completed', result: { data: { runtime, from } } });
  }
  expect(report.exits.thread.result.pid).toBe(report.registrantPid);
  expect(report.exits.process.result.pid).not.toBe(report.registrantPid);
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'bgworkers-install-'));
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('installed package', () => {
  it('from a packed tarball: ESM and CommonJS registrants and workers on both runtimes; types under node10 and nodenext', async () => {
    // --ignore-scripts: pack this checkout's dist/ as it is (the suite runs on it), without rebuilding it.
    const { stdout } = await exec('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp, ...npmFlags], { cwd: repo, timeout: 60_000 });
    const tarball = join(tmp, stdout.trim().split('\n').pop()!);
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    const dir = makeProject('from-tarball', `file:${tarball}`, integrity);
    await exec('npm', ['ci', '--offline', ...npmFlags], { cwd: dir, timeout: 120_000 });

    // What `files` ships: the build, without the build's own state.
    const shipped = readdirSync(join(dir, 'node_modules', 'bgworkers', 'dist'));
    expect(shipped).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'worker.js', 'worker.d.ts']));
    expect(shipped).not.toContain('.tsbuildinfo');
    expect(shipped).not.toContain('.build-stamp');

    expectBothRuntimes(await runProgram(dir, 'esm.mjs'), 'esm');
    expectBothRuntimes(await runProgram(dir, 'cjs.cjs'), 'cjs');
    for (const config of ['tsconfig.node10.json', 'tsconfig.nodenext.json']) {
      // tsc prints its errors on stdout and exits non-zero: fail with them.
      await exec(process.execPath, [tsc, '-p', join(dir, config)], { cwd: dir, timeout: 60_000 }).catch((err: { stdout?: string }) => {
        throw new Error(`tsc -p ${config}:\n${err.stdout ?? String(err)}`);
      });
    }
  }, 180_000);

  it('from git (git+file:// at HEAD): prepare builds dist/, and a program importing bgworkers and bgworkers/worker runs', async () => {
    const { stdout: head } = await exec('git', ['rev-parse', 'HEAD'], { cwd: repo });
    const dir = makeProject('from-git', `git+file://${repo.replace(/\/$/, '')}#${head.trim()}`);
    // The clone installs every devDependency, better-sqlite3's native build (~90 s on 2 cores) among them.
    await exec('npm', ['ci', '--prefer-offline', ...npmFlags], { cwd: dir, timeout: 470_000 });
    const installed = join(dir, 'node_modules', 'bgworkers');
    expect(existsSync(join(installed, 'dist', 'index.js'))).toBe(true);
    expect(existsSync(join(installed, 'dist', 'worker.js'))).toBe(true);
    expect(existsSync(join(installed, 'src'))).toBe(false); // `files` applies to a git install too
    expectBothRuntimes(await runProgram(dir, 'esm.mjs'), 'esm');
  }, 480_000);
});
