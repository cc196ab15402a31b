/**
 * The process bootstrap: the main module of every process worker. It only starts the host (process-host.ts);
 * the worker side itself loads from the bundle that `npm run build` makes (scripts/build.mjs).
 */
import { startProcessWorker } from './process-host.js';

startProcessWorker();
