/**
 * The host's pid file, which is also the lock that keeps one host per run directory.
 *
 * It is created whole and exclusively (written under a private name, then link(2)ed into
 * place, which fails if the name exists), so a reader never sees it half written. A file whose
 * host is dead is stale: it is renamed away to a private name and removed only if it still
 * names the dead host; had another starter replaced it in between, it is put back. So two
 * hosts starting at once, with or without a stale file, end with one winner. (Three starters
 * racing over a stale file could still both win in a narrow window; the loser's clients would
 * not find it, and it stops when idle.)
 */
import { linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';

/** Who holds a pid file. */
export interface PidRecord {
  readonly pid: number;
  /** The process's start time in clock ticks since boot (Linux), against pid reuse. */
  readonly startTime?: number;
}

export class HostAlreadyRunning extends Error {
  override name = 'HostAlreadyRunning';
  constructor(readonly pid: number) {
    super(`a host is already running (pid ${pid})`);
  }
}

export class PidFile {
  private constructor(
    readonly path: string,
    readonly record: PidRecord,
  ) {}

  /** Takes the pid file for this process; HostAlreadyRunning if a live host holds it. */
  static acquire(path: string, pid = process.pid): PidFile {
    const startTime = processStartTime(pid);
    const record: PidRecord = startTime === undefined ? { pid } : { pid, startTime };
    const mine = `${path}.${pid}.new`;
    writeFileSync(mine, formatRecord(record), { mode: 0o644 });
    try {
      for (;;) {
        try {
          linkSync(mine, path);
          return new PidFile(path, record);
        } catch (e) {
          if (errorCode(e) !== 'EEXIST') throw e;
        }
        const holder = readPidFile(path);
        if (holder === undefined) continue; // removed meanwhile: try again
        if (isAlive(holder)) throw new HostAlreadyRunning(holder.pid);
        removeIfStill(path, holder, `${path}.${pid}.stale`);
      }
    } finally {
      unlinkSync(mine);
    }
  }

  /** Whether the file still names this process (nobody broke the lock). */
  held(): boolean {
    const now = readPidFile(this.path);
    return now !== undefined && sameRecord(now, this.record);
  }

  release(): void {
    if (this.held()) unlinkQuietly(this.path);
  }
}

/** The record in a pid file; undefined if there is none. A garbled file names pid 0 (dead). */
export function readPidFile(path: string): PidRecord | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return undefined;
    throw e;
  }
  const [pid, startTime] = text.trim().split(/\s+/).map(Number);
  if (pid === undefined || !Number.isInteger(pid) || pid <= 0) return { pid: 0 };
  return startTime !== undefined && Number.isInteger(startTime) ? { pid, startTime } : { pid };
}

/** Whether the process a record names still runs (and is the same process). */
export function isAlive(record: PidRecord): boolean {
  if (record.pid <= 0) return false;
  try {
    process.kill(record.pid, 0);
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    if (errorCode(e) !== 'EPERM') return false;
  }
  const stat = procStat(record.pid);
  if (stat === undefined) return true; // no /proc: the signal said enough
  // A zombie (killed, not yet reaped by whoever inherited it) runs no host.
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return record.startTime === undefined || stat.startTime === record.startTime;
}

function processStartTime(pid: number): number | undefined {
  return procStat(pid)?.startTime;
}

/** Fields 3 (state) and 22 (start time) of /proc/PID/stat; undefined where there is none. */
function procStat(pid: number): { state: string; startTime: number | undefined } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: count from its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const startTime = Number(fields[19]);
  return { state: fields[0] ?? '', startTime: Number.isInteger(startTime) ? startTime : undefined };
}

function removeIfStill(path: string, stale: PidRecord, privateName: string): void {
  try {
    renameSync(path, privateName);
  } catch (e) {
    if (errorCode(e) === 'ENOENT') return; // someone else removed it
    throw e;
  }
  const taken = readPidFile(privateName);
  if (taken === undefined || sameRecord(taken, stale)) {
    unlinkQuietly(privateName);
    return;
  }
  // Another starter cleaned up and took the lock before our rename: give it back.
  try {
    linkSync(privateName, path);
  } catch (e) {
    // EEXIST: a third starter got in meanwhile (the window the header speaks of).
    if (errorCode(e) !== 'EEXIST') throw e;
  } finally {
    unlinkQuietly(privateName);
  }
}

function formatRecord(record: PidRecord): string {
  return record.startTime === undefined ? `${record.pid}\n` : `${record.pid} ${record.startTime}\n`;
}

function sameRecord(a: PidRecord, b: PidRecord): boolean {
  return a.pid === b.pid && a.startTime === b.startTime;
}

export function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}

export function errorCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}
