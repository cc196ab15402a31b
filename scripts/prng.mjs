// A seeded pseudo-random generator for the repository's own tooling (bench/, scripts/): the same seed gives the
// same sequence on every machine and run, so a benchmark's input order is fixed and a failing soak can be replayed.
// Not for examples/ (each example stands alone, importing only the package) nor for anything security related.

/** mulberry32: a small, fast 32-bit PRNG; returns a function giving numbers uniform in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Shuffles `array` in place (Fisher-Yates) with `random` (a function like mulberry32's); returns it. */
export function shuffle(array, random) {
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [array[i], array[j]] = [array[j], array[i]];
  }
  return array;
}
