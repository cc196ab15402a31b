// PostgresQueue figures on this machine: enqueueMany 100k jobs/s; claim(64)+complete throughput (one process:
// the 64 completes of a claim made together, so the session's group commit sends them as one or a few batches);
// enqueue → wake-up latency p50/p99 (another connection enqueues, an attached session's onWakeup fires).
// Run: node bench/pg-queue.mjs   (BGWORKERS_PG_URL as for the tests; uses schema bgw_pg_bench, dropped after)
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import pg from 'pg';
import { PostgresQueue } from '../dist/foreman.js';

const URL_ = process.env.BGWORKERS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = 'bgw_pg_bench';
const admin = new pg.Client({ connectionString: URL_ });
await admin.connect();
await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
const q = await PostgresQueue.connect(URL_, { schema });
const producer = await PostgresQueue.connect(URL_, { schema });
const logger = { warn() {}, info() {} };
const owner = () => ({ id: randomUUID(), pid: process.pid, startTime: 0, host: hostname() });
const N = Number(process.env.N ?? 100_000);

// 1. enqueueMany: 100k jobs in chunks of 10k (one statement + one NOTIFY each).
let t = performance.now();
const CHUNK = 10_000;
for (let i = 0; i < N; i += CHUNK) await q.enqueueMany(Array.from({ length: CHUNK }, (_, j) => ({ name: 'noop', payload: { i: i + j } })));
let ms = performance.now() - t;
console.log(`enqueueMany: ${N} jobs in ${ms.toFixed(0)} ms = ${Math.round(N / (ms / 1000))} jobs/s (chunks of ${CHUNK})`);

// 2. claim(64), then complete each of them, all at once, one session (at-least-once).
const s = await q.attach({ owner: owner(), delivery: 'at-least-once', leaseMs: 60_000, logger });
t = performance.now();
let done = 0;
let claimMs = 0;
for (;;) {
  const c0 = performance.now();
  const jobs = await s.claim(64);
  claimMs += performance.now() - c0;
  if (jobs.length === 0) break;
  await Promise.all(jobs.map((j) => s.complete(j)));
  done += jobs.length;
}
ms = performance.now() - t;
console.log(`  of which claim(64) calls: ${claimMs.toFixed(0)} ms`);
console.log(`claim(64)+complete (64 completes made together): ${done} jobs in ${ms.toFixed(0)} ms = ${Math.round(done / (ms / 1000))} jobs/s`);

// 3. wake-up latency: producer.enqueue() resolves → listener fires; measured from just before the enqueue call.
const samples = [];
let resolveWake;
s.onWakeup(() => resolveWake?.(performance.now()));
for (let i = 0; i < 300; i++) {
  const woke = new Promise((r) => (resolveWake = r));
  const t0 = performance.now();
  await producer.enqueue('ping', i);
  samples.push((await woke) - t0);
  resolveWake = undefined;
}
samples.sort((a, b) => a - b);
const pct = (p) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))].toFixed(2);
console.log(`enqueue → wake-up latency over ${samples.length}: p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`);

await s.detach();
await q.close();
await producer.close();
await admin.query(`DROP SCHEMA ${schema} CASCADE`);
await admin.end();
