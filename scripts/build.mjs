// Builds src/ into dist/ with tsc (incremental), then bundles the worker side (scripts/bundle-worker-side.mjs:
// dist/worker-side.js, and the members' dist/ files become re-exports of it), and with --if-stale only when dist/
// is older than its sources, so `npm run pingpong` (and every script that needs dist/) does not pay for a compile
// (~5 s) when nothing changed.
//
//   node scripts/build.mjs              build (tsc -p tsconfig.json; incremental, so a rebuild re-emits what changed)
//   node scripts/build.mjs --if-stale   the same, but run nothing when dist/ is fresh
//
// States of dist/, and who moves them:
// - incomplete: the stamp dist/.build-stamp is missing (clean clone, `rm -rf dist`, a failed build), or some
//   source's .js or .d.ts is missing (a file deleted by hand). tsc's incremental state (dist/.tsbuildinfo) would
//   then skip emitting what it believes is up to date, so this script deletes it first: a full build. A module
//   that stopped being bundled counts as missing (prepareWorkerSide deletes its stale re-export first).
// - stale: some file or folder under src/, or tsconfig.json, package.json or the bundling script, was modified
//   after the stamp's time. tsc runs, incrementally; the bundle is made again.
// - fresh: nothing is newer than the stamp. With --if-stale nothing runs; without it tsc runs (a no-op emit).
// After a successful tsc and bundle the stamp is written with the time the build *started*, so a source saved while
// tsc ran is still newer than the stamp and the next run builds again. A failed tsc or bundle leaves no stamp (incomplete).
// Folders count because deleting or renaming a source changes its folder's mtime and not any remaining file's.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkerSide, prepareWorkerSide } from './bundle-worker-side.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');
const stamp = join(dist, '.build-stamp');
const ifStale = process.argv.includes('--if-stale');

/** Every file under `dir`, with the newest mtime (ms) of them and of the folders. */
function walk(dir, files = [], mtime = { ms: statSync(dir).mtimeMs }) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    mtime.ms = Math.max(mtime.ms, statSync(path).mtimeMs);
    if (entry.isDirectory()) walk(path, files, mtime);
    else files.push(path);
  }
  return { files, newest: mtime.ms };
}

const { files, newest } = walk(src);
const outputsMissing = () =>
  files
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .some((f) => {
      const out = join(dist, relative(src, f)).slice(0, -'.ts'.length);
      return !existsSync(`${out}.js`) || !existsSync(`${out}.d.ts`);
    });
const built = statSync(stamp, { throwIfNoEntry: false })?.mtimeMs;
const incomplete = built === undefined || outputsMissing();
const sources = Math.max(newest, ...['tsconfig.json', 'package.json', 'scripts/bundle-worker-side.mjs'].map((f) => statSync(join(root, f)).mtimeMs));
if (ifStale && !incomplete && built >= sources) process.exit(0);

const started = new Date();
rmSync(stamp, { force: true });
await prepareWorkerSide(root);
if (incomplete || outputsMissing()) rmSync(join(dist, '.tsbuildinfo'), { force: true });
// tsc's own entry point, run by this node: no npx lookup, no shell.
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.json')], { stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status ?? 1);
await bundleWorkerSide(root);
writeFileSync(stamp, '');
utimesSync(stamp, started, started);
