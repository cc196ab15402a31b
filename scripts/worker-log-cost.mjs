#!/usr/bin/env node
/**
 * What a worker's ctx.logger costs (issue 11 point 4), per runtime: a call below the level (pino's no-op: nothing
 * serialized or sent), a line that is forwarded (serialized in the worker, sent to the supervisor), and the lines
 * per second that reach the user's destination end to end (the worker's start included).
 *
 *   npm run build && node scripts/worker-log-cost.mjs
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Supervisor } from '../dist/index.js';

const FILTERED = 1e7;
const LINES = 20_000;
const entry = new URL('./worker-log-cost.worker.mjs', import.meta.url);
for (const runtime of ['thread', 'process']) {
  let written = 0;
  const stream = new Writable({ write: (_c, _e, cb) => (written++, cb()) });
  const sup = await Supervisor.start({ logger: pino({ level: 'info' }, stream) });
  const t = performance.now();
  const exit = await sup.register({ entry, data: { filtered: FILTERED, lines: LINES }, runtime }).waitForShutdown();
  const s = (performance.now() - t) / 1000;
  await sup.shutdown();
  const { filteredNs, sentUs } = exit.result;
  console.log(`${runtime}: filtered call ${filteredNs.toFixed(1)} ns; forwarded line ${sentUs.toFixed(1)} µs in the worker; ${(LINES / s / 1000).toFixed(0)}k lines/s end to end; ${written} lines written`);
}
