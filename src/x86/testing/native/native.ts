/**
 * The native side of the CPU differential tests: runs x86-64 snippets on this machine's own
 * processor, in a child process (runner.c + trampoline.S, compiled with gcc on first use and
 * cached under the OS temp directory keyed by a hash of the sources), and returns the
 * registers, flags, FXSAVE image and memory the snippet left behind — or the fault it took.
 *
 * The binary formats exchanged with the runner are documented at the top of runner.c.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireTool } from '../../../testing/host-tools.js';

export const LAYOUT = {
  code: 0x10000000,
  data: 0x20000000,
  stack: 0x30000000,
  regionSize: 0x10000,
  defaultRsp: 0x30008000n,
} as const;

/** The longest snippet: the runner appends a 14-byte exit stub inside the 64 KiB code region. */
export const MAX_CODE_BYTES = 60 * 1024;

export interface NativeCase {
  /** The snippet, placed at LAYOUT.code; at most MAX_CODE_BYTES. */
  code: Uint8Array;
  /** 16 values: rax rcx rdx rbx rsp rbp rsi rdi r8..r15 (rsp default 0x30008000n, others 0). */
  gpr?: bigint[];
  /** Initial RFLAGS: CF PF AF ZF SF DF OF, AC, ID (default 0x2). IF is accepted and ignored. */
  rflags?: number;
  /** Initial contents of the data region (at most 64 KiB; the rest is zero). */
  data?: Uint8Array;
  /** A 512-byte FXSAVE image (default: the state after FNINIT, MXCSR 0x1f80, XMM zero). */
  fxsave?: Uint8Array;
}

export type NativeSignal = 'SIGSEGV' | 'SIGBUS' | 'SIGFPE' | 'SIGILL' | 'SIGTRAP' | 'SIGSYS';

export interface NativeFault {
  /**
   * The signal the snippet took. 'SIGSYS' means it executed a system call (syscall,
   * int $0x80), which the runner refuses; 'timeout' means it ran out of CPU time.
   */
  signal: NativeSignal | 'timeout';
  /** The hardware exception vector (0 #DE, 3 #BP, 6 #UD, 13 #GP, 14 #PF …); -1 if none. */
  vector: number;
  /** The exception's error code (for #PF: bit 0 present, 1 write, 2 user, 4 fetch). */
  errorCode: number;
  /** CR2 for a page fault, else the kernel's si_addr (often 0 for #GP). */
  address: bigint;
  /** The kernel's si_code (e.g. SEGV_MAPERR 1 / SEGV_ACCERR 2, FPE_INTDIV 1). */
  siCode: number;
}

export interface NativeResult {
  /** 16 values, in NativeCase.gpr order, at the end of the snippet or at the fault. */
  gpr: bigint[];
  /** The end of the snippet (LAYOUT.code + code length), or the RIP the fault reported. */
  rip: bigint;
  rflags: number;
  /** The FXSAVE64 image (512 bytes). */
  fxsave: Uint8Array;
  /** The data region afterwards (64 KiB). */
  data: Uint8Array;
  /** The stack region afterwards (64 KiB). */
  stack: Uint8Array;
  /** The byte ranges of data and stack that differ from their initial contents. */
  changes: { data: RegionChange[]; stack: RegionChange[] };
  fault?: NativeFault;
}

export interface RegionChange {
  /** Offset into the region; ranges are 32-byte aligned and may include unchanged bytes. */
  offset: number;
  bytes: Uint8Array;
}

export interface RunNativeOptions {
  /** User CPU time allowed per case before it ends as a 'timeout' (default 250 ms). */
  timeoutMs?: number;
  /** Where the compiled runner is cached (default: a folder under os.tmpdir()). */
  cacheDir?: string;
  /** Test hook: make the runner crash, outside any snippet, before this case (index). */
  testOnlyCrashAtCase?: number;
}

/** The runner crashed, exited early, or returned something unreadable. */
export class NativeRunnerError extends Error {
  override name = 'NativeRunnerError';
}

/** The FXSAVE image after FNINIT with MXCSR 0x1f80: FCW 0x037f, everything else zero. */
export function defaultFxsave(): Uint8Array {
  const image = new Uint8Array(512);
  const view = new DataView(image.buffer);
  view.setUint16(0, 0x037f, true);
  view.setUint32(24, 0x1f80, true);
  return image;
}

const DEFAULT_FXSAVE = defaultFxsave();

const SIGNALS: Record<number, NativeSignal> = {
  4: 'SIGILL',
  5: 'SIGTRAP',
  7: 'SIGBUS',
  8: 'SIGFPE',
  11: 'SIGSEGV',
  31: 'SIGSYS',
};

// Flags a case may set. IF (0x200) is always 1 at CPL 3 and is ignored.
const SETTABLE_FLAGS = 0x0cd5 | 0x400 | 0x40000 | 0x200000; // arithmetic, DF, AC, ID
const IGNORED_FLAGS = 0x202;
const IN_MAGIC = 0x31524e58;
const OUT_MAGIC = 0x53455258;
const CASE_HEADER = 4 + 4 + 8 + 16 * 8 + 512;
const RECORD_HEADER = 704;
const BATCH_CASES = 4096;
const BATCH_INPUT_BYTES = 32 << 20;
const GCC_FLAGS = ['-O2', '-static', '-fno-stack-protector', '-Wall', '-Wextra'];

/** Runs the cases on the host CPU, in order; synchronous. */
export function runNative(cases: NativeCase[], options: RunNativeOptions = {}): NativeResult[] {
  const encoded = cases.map((c, i) => encodeCase(c, i));
  if (cases.length === 0) return [];
  const runner = compileRunner(options.cacheDir);
  const timeoutUs = Math.round((options.timeoutMs ?? 250) * 1000);
  if (!(timeoutUs >= 1 && timeoutUs <= 0xffffffff)) {
    throw new RangeError(`timeoutMs ${options.timeoutMs} is out of range`);
  }
  const results: NativeResult[] = [];
  let start = 0;
  while (start < cases.length) {
    let end = start;
    let bytes = 0;
    while (end < cases.length && end - start < BATCH_CASES && bytes < BATCH_INPUT_BYTES) {
      bytes += encoded[end]!.length;
      end++;
    }
    const crashAt = options.testOnlyCrashAtCase ?? 0xffffffff;
    runBatch(runner, cases, encoded, start, end, timeoutUs, crashAt, results);
    start = end;
  }
  return results;
}

function runBatch(
  runner: string,
  cases: NativeCase[],
  encoded: Uint8Array[],
  start: number,
  end: number,
  timeoutUs: number,
  crashAt: number,
  results: NativeResult[],
): void {
  const header = new Uint8Array(20);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, IN_MAGIC, true);
  hv.setUint32(4, end - start, true);
  hv.setUint32(8, timeoutUs, true);
  hv.setUint32(12, start, true);
  hv.setUint32(16, crashAt, true);
  const input = Buffer.concat([header, ...encoded.slice(start, end)]);
  const count = end - start;
  const spawn = () =>
    spawnSync(runner, [], {
      input,
      maxBuffer: count * (RECORD_HEADER + 16 + 2 * LAYOUT.regionSize) + (1 << 20),
      // Generous: every case may time out; the timer counts CPU time, this counts wall time.
      timeout: 60_000 + count * (timeoutUs / 1000) * 4,
    });
  let child = spawn();
  // Seen rarely on a loaded machine: the pipe to the runner breaks before it has read its
  // input. That is the harness, not a case's result, so the batch is run once more.
  if ((child.error as NodeJS.ErrnoException | undefined)?.code === 'EPIPE') child = spawn();
  const stderr = child.stderr?.toString().trim() ?? '';
  const where = `batch of cases ${start}..${end - 1}`;
  if (child.error) {
    const how = child.signal !== null ? `killed by ${child.signal}` : `status ${child.status}`;
    throw new NativeRunnerError(
      `the native runner failed to run (${where}, ${how}): ${child.error.message}${stderr ? `: ${stderr}` : ''}`,
      { cause: child.error },
    );
  }
  const out = child.stdout;
  let offset = 0;
  let index = start;
  while (offset < out.length && index < end) {
    const record = readRecord(out, offset, index, cases[index]!);
    if (!record) break;
    results.push(record.result);
    offset += record.length;
    index++;
  }
  if (child.status !== 0 || index !== end) {
    const how =
      child.signal !== null
        ? `was killed by ${child.signal}`
        : `exited with status ${child.status}`;
    throw new NativeRunnerError(
      `the native runner ${how} running ${where} (${index - start} results read)` +
        (stderr ? `: ${stderr}` : ''),
    );
  }
}

function encodeCase(c: NativeCase, index: number): Uint8Array {
  const fail = (what: string): never => {
    throw new RangeError(`native case ${index}: ${what}`);
  };
  if (c.code.length > MAX_CODE_BYTES)
    fail(`code is ${c.code.length} bytes (max ${MAX_CODE_BYTES})`);
  const data = c.data ?? new Uint8Array(0);
  if (data.length > LAYOUT.regionSize) fail(`data is ${data.length} bytes (max 64 KiB)`);
  const fxsave = c.fxsave ?? DEFAULT_FXSAVE;
  if (fxsave.length !== 512) fail(`fxsave is ${fxsave.length} bytes, not 512`);
  const gpr = c.gpr ?? [];
  if (c.gpr && c.gpr.length !== 16) fail(`gpr has ${c.gpr.length} values, not 16`);
  const rflags = c.rflags ?? 0x2;
  if (!Number.isInteger(rflags) || (rflags & ~(SETTABLE_FLAGS | IGNORED_FLAGS)) !== 0) {
    fail(`rflags 0x${rflags.toString(16)} sets a flag other than CF PF AF ZF SF DF OF AC ID`);
  }
  const bytes = new Uint8Array(CASE_HEADER + c.code.length + data.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, c.code.length, true);
  view.setUint32(4, data.length, true);
  view.setBigUint64(8, BigInt((rflags & SETTABLE_FLAGS) | 0x2), true);
  for (let i = 0; i < 16; i++) {
    const value = gpr[i] ?? (i === 4 ? LAYOUT.defaultRsp : 0n);
    if (value < -(1n << 63n) || value >= 1n << 64n) fail(`gpr[${i}] does not fit in 64 bits`);
    view.setBigUint64(16 + 8 * i, BigInt.asUintN(64, value), true);
  }
  bytes.set(fxsave, 144);
  bytes.set(c.code, CASE_HEADER);
  bytes.set(data, CASE_HEADER + c.code.length);
  return bytes;
}

function readRecord(
  out: Buffer,
  offset: number,
  index: number,
  input: NativeCase,
): { result: NativeResult; length: number } | undefined {
  if (offset + RECORD_HEADER > out.length) return undefined;
  const view = new DataView(out.buffer, out.byteOffset + offset);
  const length = view.getUint32(4, true);
  if (view.getUint32(0, true) !== OUT_MAGIC || length < RECORD_HEADER) {
    throw new NativeRunnerError(`the native runner's output is garbled at case ${index}`);
  }
  if (offset + length > out.length) return undefined;
  const status = view.getUint32(8, true);
  if (status === 3) {
    const why = view.getUint32(20, true) === 1 ? 'MXCSR sets bits outside MXCSR_MASK' : 'invalid';
    throw new RangeError(`native case ${index}: the fxsave image is not loadable: ${why}`);
  }
  const gpr: bigint[] = [];
  for (let i = 0; i < 16; i++) gpr.push(view.getBigUint64(40 + 8 * i, true));
  const chunks = (count: number, at: number): [RegionChange[], number] => {
    const list: RegionChange[] = [];
    for (let i = 0; i < count; i++) {
      const chunkOffset = view.getUint32(at, true);
      const chunkLength = view.getUint32(at + 4, true);
      const from = offset + at + 8;
      list.push({
        offset: chunkOffset,
        bytes: new Uint8Array(out.buffer, out.byteOffset + from, chunkLength),
      });
      at += 8 + chunkLength;
    }
    return [list, at];
  };
  const [dataChanges, afterData] = chunks(view.getUint32(696, true), RECORD_HEADER);
  const [stackChanges] = chunks(view.getUint32(700, true), afterData);
  const initialData = input.data?.slice();
  const result: NativeResult = {
    gpr,
    rip: view.getBigUint64(168, true),
    rflags: Number(view.getBigUint64(176, true)),
    fxsave: new Uint8Array(out.subarray(offset + 184, offset + 696)),
    changes: { data: dataChanges, stack: stackChanges },
    // The 64 KiB regions are rebuilt from the changes on first use, so that thousands of
    // results do not hold gigabytes.
    get data(): Uint8Array {
      const region = materialize(initialData, dataChanges);
      Object.defineProperty(this, 'data', { value: region, enumerable: true, writable: true });
      return region;
    },
    get stack(): Uint8Array {
      const region = materialize(undefined, stackChanges);
      Object.defineProperty(this, 'stack', { value: region, enumerable: true, writable: true });
      return region;
    },
  };
  if (status !== 0) {
    const signo = view.getUint32(12, true);
    const signal = status === 2 ? 'timeout' : SIGNALS[signo];
    if (!signal) throw new NativeRunnerError(`case ${index}: unexpected signal ${signo}`);
    result.fault = {
      signal,
      vector: view.getInt32(16, true),
      errorCode: view.getUint32(20, true),
      address: view.getBigUint64(24, true),
      siCode: view.getInt32(32, true),
    };
  }
  return { result, length };
}

function materialize(initial: Uint8Array | undefined, changes: RegionChange[]): Uint8Array {
  const region = new Uint8Array(LAYOUT.regionSize);
  if (initial) region.set(initial);
  for (const change of changes) region.set(change.bytes, change.offset);
  return region;
}

/** Compiles the runner once per source version; returns the executable's path. */
function compileRunner(cacheDir?: string): string {
  const sourceDir = findSourceDir();
  const sources = ['runner.c', 'trampoline.S'].map((name) => join(sourceDir, name));
  const hash = createHash('sha256');
  hash.update(GCC_FLAGS.join(' '));
  for (const file of sources) hash.update(readFileSync(file));
  const key = hash.digest('hex').slice(0, 16);
  const dir = cacheDir ?? join(tmpdir(), 'xenotype-native-runner');
  const binary = join(dir, `runner-${key}`);
  if (existsSync(binary)) return binary;

  requireTool('gcc', 'gcc');
  mkdirSync(dir, { recursive: true });
  const partial = `${binary}.${process.pid}.tmp`;
  const gcc = spawnSync('gcc', [...GCC_FLAGS, '-o', partial, ...sources], { encoding: 'utf8' });
  if (gcc.error || gcc.status !== 0) {
    rmSync(partial, { force: true });
    throw new NativeRunnerError(
      `compiling the native runner failed: gcc ${gcc.error?.message ?? `exited with ${gcc.status}`}\n${gcc.stderr}`,
    );
  }
  renameSync(partial, binary); // atomic: concurrent test processes may race here
  return binary;
}

/** runner.c lives beside this module in src/; the compiled module may be in dist/src/. */
function findSourceDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const relative = join('src', 'x86', 'testing', 'native');
  const candidates = [here];
  for (let dir = here; ; ) {
    candidates.push(join(dir, relative));
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const found = candidates.find((dir) => existsSync(join(dir, 'runner.c')));
  if (!found) throw new NativeRunnerError(`cannot find runner.c from ${here}`);
  return found;
}
