// A pool task: searches one shard of a generated corpus for documents that contain every query term, scoring
// each hit by how often the terms occur. Shards are generated from (seed, shard) on first use and cached in the
// worker, as a real worker would keep its shard's index loaded.
import { checkForInterrupts, defineTask } from 'bgworkers/worker';
import { generateShard } from './corpus.mjs';

const cache = new Map();

/** Exit code of the deliberate crash (`--crash-shard`): a worker dying mid-query, as a native bug would. */
const CRASH_EXIT_CODE = 70;

export default defineTask(({ shard, docsPerShard, seed, terms, topK, crashShard }) => {
  if (shard === crashShard) process.exit(CRASH_EXIT_CODE);
  let docs = cache.get(shard);
  if (docs === undefined) {
    docs = generateShard(seed, shard, docsPerShard);
    cache.set(shard, docs);
  }
  const hits = [];
  for (let id = 0; id < docs.length; id++) {
    if ((id & 1023) === 0) checkForInterrupts(); // the query was abandoned: stop scanning at once
    const words = docs[id];
    let score = 0;
    let all = true;
    for (const term of terms) {
      let n = 0;
      for (const w of words) if (w === term) n++;
      if (n === 0) {
        all = false;
        break;
      }
      score += n;
    }
    if (all) hits.push({ shard, id, score });
  }
  hits.sort((a, b) => b.score - a.score || a.id - b.id);
  return { shard, matches: hits.length, top: hits.slice(0, topK) };
});
