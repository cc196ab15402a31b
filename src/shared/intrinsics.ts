/**
 * Built-ins captured once, when the library loads, before any user code runs.
 *
 * Why: user code in a worker shares its thread's globals and may overwrite them (`globalThis.Atomics = ...`,
 * `process.exit = ...`, `globalThis.Error = ...`; test/reliability/hostile.test.ts does each). The library keeps
 * running in that thread after it: it records the worker's outcome in the control word, sets latches, reports the
 * error and exits. So every module that runs there uses these captures, never the globals. This module is
 * imported statically (through slots.ts, latch.ts, protocol.ts) by both worker bootstraps, so it is evaluated
 * before they import the user's entry.
 *
 * Use: `import { Atomics } from '../shared/intrinsics.js'` shadows the global for the whole module.
 */

/** globalThis.Atomics as it was at load. */
export const Atomics: typeof globalThis.Atomics = globalThis.Atomics;

/** globalThis.Error as it was at load (for `instanceof` checks on errors being reported). */
export const ErrorClass: ErrorConstructor = globalThis.Error;

/** `process.exit` as it was at load, bound to `process`. */
export const exitProcess: (code?: number) => never = process.exit.bind(process);
