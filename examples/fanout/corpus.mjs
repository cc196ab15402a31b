// A deterministic synthetic corpus: documents of words drawn from a Zipf-like vocabulary, so common terms are
// common and rare ones rare, as in real text. The same (seed, shard) always gives the same shard.

const VOCABULARY = 5000;
const WORDS_PER_DOC = 60;

/** mulberry32: a tiny, fast, seedable PRNG (uniform in [0, 1)). */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Word k of the vocabulary: "w0", "w1", ...; low k are the frequent ones. */
export const word = (k) => `w${k}`;

export function generateShard(seed, shard, docs) {
  const next = rng(seed * 1_000_003 + shard);
  const out = new Array(docs);
  for (let d = 0; d < docs; d++) {
    const words = new Array(WORDS_PER_DOC);
    // Zipf-like: k = floor(V ^ u) - 1 makes small k far more likely than large k.
    for (let i = 0; i < WORDS_PER_DOC; i++) words[i] = word(Math.floor(VOCABULARY ** next()) - 1);
    out[d] = words;
  }
  return out;
}
