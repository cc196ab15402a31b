// The worker of scripts/worker-log-cost.mjs: times ctx.data.filtered debug calls (below the level), then ctx.data.lines info lines.
import { defineWorker } from '../dist/worker.js';
export default defineWorker((ctx) => {
  const log = ctx.logger;
  let t = performance.now();
  for (let i = 0; i < ctx.data.filtered; i++) log.debug({ i }, 'filtered');
  const filteredNs = ((performance.now() - t) * 1e6) / ctx.data.filtered;
  t = performance.now();
  for (let i = 0; i < ctx.data.lines; i++) log.info({ i }, 'line');
  return { filteredNs, sentUs: ((performance.now() - t) * 1e3) / ctx.data.lines };
});
