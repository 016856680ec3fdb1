/** The host's settings from its environment (docs/host.md), checked before anything starts. */

export interface HostSettings {
  /** XENOTYPE_IDLE_TIMEOUT seconds (default 300); 0 never stops. */
  readonly idleTimeoutMs: number;
  /** XENOTYPE_MEMORY_MIB (default 2048): the machine's memory. */
  readonly memoryMiB: number;
  /**
   * XENOTYPE_FAKE_TOOLSTACK=1, a test hook: the host runs an in-memory toolstack instead of
   * the machine, so the client, the daemon and the socket can be tested in seconds.
   */
  readonly fakeToolstack: boolean;
  /** XENOTYPE_UPLINK (default 1): 0 keeps bridges off the host (no TAP uplink). */
  readonly uplink: boolean;
}

export const DEFAULT_IDLE_TIMEOUT_SECONDS = 300;
export const DEFAULT_MEMORY_MIB = 2048;
/** Machine memory is one WebAssembly.Memory: at most 4 GiB. */
const MAX_MEMORY_MIB = 4096;
/** Room for Dom0 (16 MiB) and a small guest. */
const MIN_MEMORY_MIB = 64;

export class SettingsError extends Error {
  override name = 'SettingsError';
}

export function hostSettings(env: Readonly<Record<string, string | undefined>>): HostSettings {
  const idle = env.XENOTYPE_IDLE_TIMEOUT;
  const idleSeconds =
    idle === undefined || idle === '' ? DEFAULT_IDLE_TIMEOUT_SECONDS : Number(idle);
  if (!Number.isFinite(idleSeconds) || idleSeconds < 0) {
    throw new SettingsError(`XENOTYPE_IDLE_TIMEOUT must be seconds (0: never), not "${idle}"`);
  }
  const memory = env.XENOTYPE_MEMORY_MIB;
  const memoryMiB = memory === undefined || memory === '' ? DEFAULT_MEMORY_MIB : Number(memory);
  if (!Number.isInteger(memoryMiB) || memoryMiB < MIN_MEMORY_MIB || memoryMiB > MAX_MEMORY_MIB) {
    throw new SettingsError(
      `XENOTYPE_MEMORY_MIB must be a whole number from ${MIN_MEMORY_MIB} to ${MAX_MEMORY_MIB}, not "${memory}"`,
    );
  }
  const uplink = env.XENOTYPE_UPLINK ?? '';
  if (uplink !== '' && uplink !== '0' && uplink !== '1') {
    throw new SettingsError(`XENOTYPE_UPLINK must be 0 or 1, not "${uplink}"`);
  }
  return {
    uplink: uplink !== '0',
    idleTimeoutMs: Math.round(idleSeconds * 1000),
    memoryMiB,
    fakeToolstack: env.XENOTYPE_FAKE_TOOLSTACK === '1',
  };
}
