/**
 * Every TSDoc example is a program that runs as written, and the README's example is examples/quickstart.
 *
 * Each `@example` in src/ starts with a `// <name>.ts` line naming its module. The test writes them all into a
 * temporary project that installs this package under its own name (node_modules/bgworkers → the repository), so
 * the imports are what a user writes. Then:
 * 1. `tsc` type-checks every module, strict, as a user's project would (moduleResolution nodenext).
 * 2. Each module is transpiled to `<name>.js`, and each registrant example (one that imports `bgworkers` or
 *    `bgworkers/foreman`) runs
 *    in a child process: it must exit 0, and print what its `// prints: …` comment says. Worker and task
 *    examples are the modules those programs load, so they run too.
 * An example that names no module, does not compile, fails or prints something else fails the test.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RUN_TIMEOUT_MS = 15_000;

interface Example {
  /** `src/…` file and line of the `@example` tag. */
  where: string;
  /** Module file name from the first line, e.g. `sum.ts`. */
  file: string;
  code: string;
}

/** The code of every ```ts block that follows an `@example` tag in a TSDoc comment. */
function examplesIn(path: string): Example[] {
  const lines = readFileSync(join(ROOT, path), 'utf8').split('\n');
  const found: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\*\s*@example\b/.test(lines[i]!)) continue;
    const open = lines.findIndex((l, j) => j > i && /^\s*\*\s*```/.test(l));
    const close = lines.findIndex((l, j) => j > open && /^\s*\*\s*```\s*$/.test(l));
    if (open < 0 || close < 0) throw new Error(`${path}:${i + 1}: @example without a fenced code block`);
    const code = lines.slice(open + 1, close).map((l) => l.replace(/^\s*\* ?/, '')).join('\n');
    const name = /^\/\/ ([\w-]+\.ts)\b/.exec(code)?.[1];
    if (name === undefined) throw new Error(`${path}:${i + 1}: an example must start with "// <module>.ts"`);
    found.push({ where: `${path}:${i + 1}`, file: name, code: code + '\n' });
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .map((f) => join(dir, f));
}

const examples = sourceFiles('src').flatMap(examplesIn);
let project: string;

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'bgworkers-examples-'));
  mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
  symlinkSync(ROOT, join(project, 'node_modules', 'bgworkers'), 'dir');
  symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'), 'dir');
  writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module', private: true }));
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
      types: ['node'], skipLibCheck: true, noUncheckedIndexedAccess: true,
    },
    include: ['*.ts'],
  }));
  for (const ex of examples) {
    writeFileSync(join(project, ex.file), ex.code);
    const js = ts.transpileModule(ex.code, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } });
    writeFileSync(join(project, ex.file.replace(/\.ts$/, '.js')), js.outputText);
  }
});

afterAll(() => {
  if (project !== undefined) rmSync(project, { recursive: true, force: true });
});

describe('TSDoc examples', () => {
  it('are found, one module each', () => {
    // The examples of Supervisor, Scope.pool, ScopedPool, defineWorker, defineTask and move at least.
    expect(examples.length).toBeGreaterThanOrEqual(6);
    const names = examples.map((e) => e.file);
    expect(new Set(names).size, `two examples name the same module: ${names.join(', ')}`).toBe(names.length);
  });

  it('type-check as a user project (strict, nodenext)', async () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const result = await run(process.execPath, [tsc, '-p', project], { cwd: project, timeout: 60_000 }).then(
      () => '',
      (e: { stdout?: string }) => e.stdout ?? String(e),
    );
    expect(result).toBe('');
  }, 70_000);

  const registrants = examples.filter((e) => /from 'bgworkers(\/foreman)?'/.test(e.code));
  it.each(registrants.map((e) => [e.where, e] as const))('%s runs as written', async (_where, ex) => {
    const { stdout } = await run(process.execPath, [ex.file.replace(/\.ts$/, '.js')], { cwd: project, timeout: RUN_TIMEOUT_MS });
    const expected = /\/\/ prints: (.+)$/m.exec(ex.code)?.[1];
    expect(expected, `${ex.where}: a registrant example says what it prints`).toBeDefined();
    expect(stdout.trim()).toBe(expected);
  }, RUN_TIMEOUT_MS + 5_000);
});

describe('README example', () => {
  /** A module without its leading comment lines: the README and the file may introduce it differently. */
  const body = (code: string) => code.replace(/^(\/\/.*\n)+/, '').trim();

  it('is examples/quickstart, block for block', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const sum = blocks.find((b) => b.startsWith('// sum.mjs'));
    const main = blocks.find((b) => b.startsWith('// main.mjs'));
    expect(sum).toBeDefined();
    expect(main).toBeDefined();
    expect(body(sum!)).toBe(body(readFileSync(join(ROOT, 'examples/quickstart/sum.mjs'), 'utf8')));
    expect(body(main!)).toBe(body(readFileSync(join(ROOT, 'examples/quickstart/main.mjs'), 'utf8')));
  });
});
