/**
 * How hard the randomized tests try, set once for the whole suite by two environment variables:
 *
 * - `XENOTYPE_FUZZ=n` multiplies the case counts of every random-case generator (default 1:
 *   thousands of cases in the normal test run; `npm run fuzz` uses 200, millions);
 * - `XENOTYPE_SEED=k` draws other random cases (default 0: the cases the normal run uses).
 *
 * A failure found with a seed is reproduced with the same two values.
 */

/** The case-count multiplier: a positive integer. */
export function fuzzScale(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.XENOTYPE_FUZZ;
  if (text === undefined || text === '') return 1;
  const scale = Number(text);
  if (!Number.isInteger(scale) || scale < 1) {
    throw new RangeError(`XENOTYPE_FUZZ must be a positive integer, not '${text}'`);
  }
  return scale;
}

/** The seed offset: an unsigned 32-bit integer (decimal or 0x hex), 0 by default. */
export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  const text = env.XENOTYPE_SEED;
  if (text === undefined || text === '') return 0;
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`XENOTYPE_SEED must be an unsigned 32-bit integer, not '${text}'`);
  }
  return seed;
}

/**
 * A generator's own non-zero seed `base` (for xorshift) combined with XENOTYPE_SEED: `base`
 * itself by default, another non-zero value for every other seed.
 */
export function fuzzSeeded(base: number, env: NodeJS.ProcessEnv = process.env): number {
  return (base ^ Math.imul(fuzzSeed(env), 0x9e3779b9)) | 0 || 1;
}
