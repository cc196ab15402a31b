// Fan-out query: search N shards of a generated corpus in parallel with a scope-owned pool, merge the top hits.
//
//   node examples/fanout/main.mjs [--terms w3,w17] [--shards 16] [--docs-per-shard 5000] [--workers 2]
//                                 [--runtime thread|process] [--crash-shard K]
//
// The pool's workers are precious: if one dies mid-query (--crash-shard K makes the task for shard K call
// process.exit), the query fails at once with ERR_PRECIOUS_WORKER_DIED instead of hanging or returning partial
// results, the other workers stop scanning (checkForInterrupts() in the task throws) and nothing is left running.
import { parseArgs } from 'node:util';
import { Supervisor } from 'bgworkers';

const TOP_K = 10;

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      terms: { type: 'string', default: 'w3,w17' },
      shards: { type: 'string', default: '16' },
      'docs-per-shard': { type: 'string', default: '5000' },
      workers: { type: 'string', default: '2' },
      runtime: { type: 'string', default: 'thread' },
      'crash-shard': { type: 'string' },
      seed: { type: 'string', default: '42' },
    },
  });
  const int = (name, min) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < min) throw new Error(`expected --${name} to be an integer >= ${min}, got "${values[name]}"`);
    return n;
  };
  if (values.runtime !== 'thread' && values.runtime !== 'process') throw new Error(`expected --runtime to be thread or process, got "${values.runtime}"`);
  return {
    terms: values.terms.split(',').filter(Boolean),
    shards: int('shards', 1),
    docsPerShard: int('docs-per-shard', 1),
    workers: int('workers', 1),
    runtime: values.runtime,
    crashShard: values['crash-shard'] === undefined ? -1 : int('crash-shard', 0),
    seed: int('seed', 0),
  };
}

async function main() {
  let o;
  try {
    o = parseCli(process.argv.slice(2));
  } catch (err) {
    console.error(`fanout: ${err.message}`);
    return 2;
  }
  const supervisor = await Supervisor.start({ logger: false });
  try {
    const t0 = performance.now();
    const results = await supervisor.scope(async (scope) => {
      const pool = scope.pool({ entry: new URL('./search-shard.mjs', import.meta.url), maxWorkers: o.workers, runtime: o.runtime, name: 'search' });
      const tasks = Array.from({ length: o.shards }, (_, shard) => ({ shard, docsPerShard: o.docsPerShard, seed: o.seed, terms: o.terms, topK: TOP_K, crashShard: o.crashShard }));
      return pool.map(tasks);
    }, { name: 'query' });
    const ms = performance.now() - t0;
    const matches = results.reduce((n, r) => n + r.matches, 0);
    const top = results.flatMap((r) => r.top).sort((a, b) => b.score - a.score || a.shard - b.shard || a.id - b.id).slice(0, TOP_K);
    console.log(`query [${o.terms.join(' AND ')}] over ${o.shards} shards x ${o.docsPerShard} docs on ${o.workers} ${o.runtime} workers: ${matches} matches in ${ms.toFixed(0)} ms`);
    for (const h of top) console.log(`  shard ${h.shard} doc ${h.id}: score ${h.score}`);
    return 0;
  } catch (err) {
    if (err?.code === 'ERR_PRECIOUS_WORKER_DIED') {
      console.error(`fanout: query aborted: ${err.code}: ${err.message} (${err.exit.reason}, code ${err.exit.code})`);
      return 1;
    }
    throw err;
  } finally {
    await supervisor.shutdown();
    if (supervisor.workers().length > 0) console.error('fanout: bug: a worker survived shutdown');
  }
}

process.exitCode = await main();
