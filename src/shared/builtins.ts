/**
 * Node's built-in modules for the worker side, reached through `process.getBuiltinModule()` instead of an ES
 * `import`: what every worker loads before its main runs is on the path of every cold start (register → running,
 * measured against a bare `new Worker()` in bench/spawn.mjs).
 *
 * Why not `import`: in a fresh thread or process, an ES import of a built-in builds that module's namespace, which
 * reads every one of its exports, lazy getters included. `import { types } from 'node:util'` loaded util's
 * `parseArgs` and `MIMEType` modules; `import { readFileSync } from 'node:fs'` the fs streams;
 * `import { createRequire } from 'node:module'` the module loader's source maps (each 0.1-0.3 ms of a fresh
 * thread's CPU). `getBuiltinModule()` returns the CommonJS exports object and reads nothing else. A module only a
 * rare path needs is loaded on that path (node:os for a precious death's step aside, node:module for the first
 * use of ctx.logger).
 *
 * Measured (2026-12-07): a fresh thread worker loaded 8 built-in modules that a bare `new Worker()` does not (its
 * `process.moduleLoadList` against the bare one's), and none with this module (test/integration/startup-modules
 * .test.ts). `node bench/run.mjs spawn` in copies of the package, the two builds alternating, four runs each, ratios
 * to the bare Worker / bare fork(): thread cold 1.32x, 1.21x, 1.32x, 1.36x before, 1.28x, 1.16x, 1.30x, 1.28x after;
 * process 1.33x, 1.62x, 1.21x, 1.28x before, 1.08x, 1.21x, 1.23x, 1.23x after.
 *
 * Engines: `process.getBuiltinModule` is in Node 20.16 and 22.3; package.json asks for 20.19 or 22.12.
 */
import type * as Fs from 'node:fs';
import type Module from 'node:module';
import type * as Os from 'node:os';
import type * as Util from 'node:util';

export const fs = (): typeof Fs => process.getBuiltinModule('node:fs');
export const util = (): typeof Util => process.getBuiltinModule('node:util');
/** Loaded on first call (see the header). */
export const os = (): typeof Os => process.getBuiltinModule('node:os');
/** Loaded on first call (see the header). */
export const nodeModule = (): typeof Module => process.getBuiltinModule('node:module');
