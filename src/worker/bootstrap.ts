/**
 * The thread bootstrap: the main module of every worker thread (spares included). It only starts the host
 * (thread-host.ts); the worker side itself loads from the bundle that `npm run build` makes (scripts/build.mjs),
 * so a fresh thread loads three modules before the entry, not the worker side's whole graph.
 */
import { startThreadWorker } from './thread-host.js';

startThreadWorker();
