#!/usr/bin/env node
/**
 * How fast a shutdown signal reaches a registrant busy in a synchronous loop (issue 13.2, docs/guide.md "A busy
 * registrant"). Starts test/fixtures/busy-signal-registrant.mjs N times as its own process-group leader; on its
 * "ready" line (it then spins on checkForInterrupts() for at most 3 s) sends the signal to the group (as Ctrl-C
 * does) or to the pid alone, and reports the time from the send to the throw inside the loop: p50, p90, p99, max
 * in ms ("never" when the loop ran to its end).
 *
 *   node scripts/measure-busy-signal.mjs [group|pid] [SIGINT|SIGTERM] [N] [busy-off]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const FIXTURE = fileURLToPath(new URL('../test/fixtures/busy-signal-registrant.mjs', import.meta.url));
const [target = 'group', sig = 'SIGINT', n = '20', flag = ''] = process.argv.slice(2);
const now = () => performance.timeOrigin + performance.now();

const latencies = [];
for (let i = 0; i < Number(n); i++) {
  const child = spawn(process.execPath, [FIXTURE, '3000', flag], { stdio: ['ignore', 'pipe', 'inherit'], detached: true });
  let sentAt = 0;
  createInterface({ input: child.stdout }).on('line', (text) => {
    const line = JSON.parse(text);
    if (line.ready) {
      // A little later than "ready", so that the loop is surely spinning.
      setTimeout(() => {
        sentAt = now();
        process.kill(target === 'group' ? -child.pid : child.pid, sig);
      }, 20);
    }
    if (line.thrown) latencies.push(line.at - sentAt);
    if (line.spun) latencies.push(Infinity);
  });
  await once(child, 'exit');
}
latencies.sort((a, b) => a - b);
const at = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
const ms = (v) => (v === Infinity ? 'never' : `${v.toFixed(2)} ms`);
console.log(`${sig} to the ${target}${flag ? ` (${flag})` : ''}, ${latencies.length} runs: p50 ${ms(at(0.5))}, p90 ${ms(at(0.9))}, p99 ${ms(at(0.99))}, max ${ms(latencies.at(-1))}`);
