/**
 * Waiting in tests of the backends: for a condition with a deadline (a backend that never
 * answers fails the test instead of hanging it), or for pending work to run.
 */

/** How long (real time) a wait in this kit may take before the test fails instead of hanging. */
export const WAIT_MS = 5000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Polls `check` until it gives something other than undefined or false; fails after `ms`
 * with `what` in the message, so a backend that never answers fails the test, never hangs it.
 */
export async function until<T>(
  what: string | (() => string),
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = WAIT_MS,
): Promise<T> {
  const deadline = performance.now() + ms;
  for (let round = 0; ; round++) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (performance.now() > deadline) {
      throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
    }
    // The backends' work is mostly microtasks and setImmediate upcalls; image I/O is real.
    await (round < 20 ? new Promise((resolve) => setImmediate(resolve)) : sleep(1));
  }
}

/** Lets pending upcalls, watches and image I/O run for about `ms` of real time. */
export async function settle(ms = 5): Promise<void> {
  const end = performance.now() + ms;
  do await new Promise((resolve) => setImmediate(resolve));
  while (performance.now() < end);
}
