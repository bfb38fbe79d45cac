/**
 * mulberry32: a small, fast pseudo-random generator with the same sequence for the same seed
 * everywhere, so a seeded schedule, simulator or property spec replays exactly.
 */
function seededUint32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  const next = seededUint32(seed);
  return () => next() / 4294967296;
}

/** Integers in [0, below). */
export function seededIntegers(seed: number): (below: number) => number {
  const next = seededUint32(seed);
  return (below) => next() % below;
}
