// The producer: generates N small files under a directory and enqueues one `hash` job per file (about one in
// ten flaky), plus two `corrupt` jobs, in one transaction. Needs no supervisor: any process can enqueue.
//
//   node examples/foreman/produce.mjs [--queue ./jobs.db] [--dir DIR] [--files 3000]
//
// Then drain the queue with the CLI (README "Durable jobs"):
//
//   npx bgworkers-foreman run --queue ./jobs.db --handlers examples/foreman/jobs.mjs --concurrency 2
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { SqliteQueue } from 'bgworkers/foreman';

const { values } = parseArgs({
  options: { queue: { type: 'string', default: './jobs.db' }, dir: { type: 'string' }, files: { type: 'string', default: '3000' } },
  strict: true,
});
const files = Number(values.files);
if (!Number.isInteger(files) || files < 1) {
  console.error(`produce: --files must be a positive integer, got ${values.files}`);
  process.exit(2);
}
const dir = resolve(values.dir ?? join(tmpdir(), `bgworkers-foreman-demo-${process.pid}`));
mkdirSync(dir, { recursive: true });

const jobs = [];
for (let i = 0; i < files; i++) {
  const path = join(dir, `file-${i}.txt`);
  writeFileSync(path, `file ${i}\n`.repeat(1 + (i % 50)));
  jobs.push({ name: "hash", payload: { path, flaky: i % 10 === 7 } });
}
jobs.push({ name: 'corrupt', payload: { path: join(dir, 'corrupt-1') }, maxAttempts: 2 });
jobs.push({ name: 'corrupt', payload: { path: join(dir, 'corrupt-2') }, maxAttempts: 2 });

const queue = SqliteQueue.open(values.queue);
try {
  const t0 = performance.now();
  await queue.enqueueMany(jobs);
  const ms = performance.now() - t0;
  console.log(`produce: enqueued ${jobs.length} jobs in ${ms.toFixed(0)} ms into ${values.queue} (files in ${dir})`);
  console.log(`produce: ${JSON.stringify(await queue.stats())}`);
} finally {
  await queue.close();
}
