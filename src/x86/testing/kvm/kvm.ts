/**
 * System-level differential tests against KVM: the same guest image and architectural state
 * run in a KVM virtual machine (kvm-runner.c, compiled with gcc on first use and cached under
 * the OS temp directory keyed by a hash of its source) and in Xenotype's CPU (emulated.ts);
 * the exits, final states and memory dumps are then compared (compare.ts). The guest images
 * are built by image.ts.
 *
 * The binary protocol with the runner is documented at the top of kvm-runner.c.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireTool } from '../../../testing/host-tools.js';
import { EXT1_ECX, EXT1_EDX, LEAF1_ECX, LEAF1_EDX } from '../../policy.js';
import {
  type ExitKind,
  GUEST_MEMORY_BYTES,
  type KvmCase,
  type KvmResult,
  type MachineState,
  type MsrValue,
} from './state.js';

export * from './compare.js';
export * from './emulated.js';
export * from './image.js';
export * from './state.js';

/** The runner crashed, exited early, or returned something unreadable. */
export class KvmRunnerError extends Error {
  override name = 'KvmRunnerError';
}

const KVM_DEVICE = '/dev/kvm';
const IN_MAGIC = 0x31564b58;
const OUT_MAGIC = 0x53524b58;
const STATE_LEN = 416;
const RECORD_HEADER = 64;
const MAX_MSRS = 64;
const MAX_DUMPS = 256;
const GCC_FLAGS = ['-O2', '-Wall', '-Wextra'];
const EXITS: ExitKind[] = [
  'hlt',
  'io',
  'mmio',
  'shutdown',
  'timeout',
  'entry-failure',
  'internal-error',
  'other',
  'rejected',
];
const STEPS = [
  '',
  'KVM_CREATE_VM',
  'KVM_SET_USER_MEMORY_REGION',
  'KVM_CREATE_VCPU',
  'KVM_SET_CPUID2',
  'KVM_SET_SREGS',
  'KVM_SET_REGS',
  'KVM_SET_MSRS',
  'KVM_RUN',
  'KVM_GET_REGS/SREGS/MSRS',
];

/** Why KVM cannot be used here, or undefined when it can. */
export function kvmUnavailableReason(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return `KVM differential tests need Linux on x86-64 (this is ${process.platform}/${process.arch})`;
  }
  if (!existsSync(KVM_DEVICE)) return `${KVM_DEVICE} is missing (no KVM on this machine)`;
  try {
    closeSync(openSync(KVM_DEVICE, 'r+'));
  } catch (error) {
    return `${KVM_DEVICE} cannot be opened: ${(error as Error).message}`;
  }
  return undefined;
}

export function kvmAvailable(): boolean {
  return kvmUnavailableReason() === undefined;
}

export interface RunKvmOptions {
  /** Where the compiled runner is cached (default: a folder under os.tmpdir()). */
  cacheDir?: string;
}

/** Runs the cases in KVM, one fresh VM each, through one runner process; synchronous. */
export function runKvm(cases: KvmCase[], options: RunKvmOptions = {}): KvmResult[] {
  if (cases.length === 0) return [];
  const encoded = cases.map((c, i) => encodeCase(c, i));
  const runner = compileRunner(options.cacheDir);
  const header = new Uint8Array(32);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, IN_MAGIC, true);
  hv.setUint32(4, cases.length, true);
  hv.setUint32(8, 0, true);
  hv.setUint32(16, LEAF1_ECX, true);
  hv.setUint32(20, LEAF1_EDX, true);
  hv.setUint32(24, EXT1_ECX, true);
  hv.setUint32(28, EXT1_EDX, true);
  const totalTimeout = cases.reduce((sum, c) => sum + (c.timeoutMs ?? 1000), 0);
  const child = spawnSync(runner, [], {
    input: Buffer.concat([header, ...encoded]),
    maxBuffer: 1 << 30,
    timeout: 60_000 + totalTimeout * 2,
  });
  if (child.error) {
    throw new KvmRunnerError(`the KVM runner failed to run: ${child.error.message}`, {
      cause: child.error,
    });
  }
  const out = child.stdout;
  const results: KvmResult[] = [];
  let offset = 0;
  while (results.length < cases.length && offset + RECORD_HEADER <= out.length) {
    const index = results.length;
    const view = new DataView(out.buffer, out.byteOffset + offset);
    const length = view.getUint32(4, true);
    if (view.getUint32(0, true) !== OUT_MAGIC || length < RECORD_HEADER + STATE_LEN) {
      throw new KvmRunnerError(`the KVM runner's output is garbled at case ${index}`);
    }
    if (offset + length > out.length) break;
    results.push(decodeRecord(out.subarray(offset, offset + length), cases[index]!));
    offset += length;
  }
  if (child.status !== 0 || results.length !== cases.length) {
    const how =
      child.signal !== null
        ? `was killed by ${child.signal}`
        : `exited with status ${child.status}`;
    const stderr = child.stderr?.toString().trim() ?? '';
    throw new KvmRunnerError(
      `the KVM runner ${how} after ${results.length} of ${cases.length} cases` +
        (stderr ? `: ${stderr}` : ''),
    );
  }
  return results;
}

// ---- encoding ----

class Writer {
  private chunks: Uint8Array[] = [];
  private current = new Uint8Array(4096);
  private view = new DataView(this.current.buffer);
  private at = 0;

  private room(n: number): void {
    if (this.at + n <= this.current.length) return;
    this.chunks.push(this.current.subarray(0, this.at));
    this.current = new Uint8Array(Math.max(4096, n));
    this.view = new DataView(this.current.buffer);
    this.at = 0;
  }

  u32(v: number): void {
    this.room(4);
    this.view.setUint32(this.at, v >>> 0, true);
    this.at += 4;
  }

  u64(v: bigint): void {
    this.room(8);
    this.view.setBigUint64(this.at, BigInt.asUintN(64, v), true);
    this.at += 8;
  }

  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.current.set(b, this.at);
    this.at += b.length;
  }

  done(): Uint8Array {
    this.chunks.push(this.current.subarray(0, this.at));
    return Buffer.concat(this.chunks);
  }
}

function encodeState(w: Writer, s: MachineState, fail: (what: string) => never): void {
  if (s.gpr.length !== 16) fail(`state.gpr has ${s.gpr.length} values, not 16`);
  if (s.segments.length !== 8) fail(`state.segments has ${s.segments.length} entries, not 8`);
  for (const value of s.gpr) w.u64(value);
  w.u64(s.rip);
  w.u64(BigInt(s.rflags >>> 0));
  w.u64(BigInt(s.cr0 >>> 0));
  w.u64(s.cr2);
  w.u64(s.cr3);
  w.u64(BigInt(s.cr4 >>> 0));
  w.u64(BigInt(s.cr8 >>> 0));
  w.u64(BigInt(s.efer >>> 0));
  for (const seg of s.segments) {
    w.u64(seg.base);
    w.u32(seg.limit);
    w.u32(seg.selector);
    w.u32(seg.attr);
    w.u32(0);
  }
  w.u64(s.gdt.base);
  w.u64(BigInt(s.gdt.limit));
  w.u64(s.idt.base);
  w.u64(BigInt(s.idt.limit));
}

function encodeCase(c: KvmCase, index: number): Uint8Array {
  const fail = (what: string): never => {
    throw new RangeError(`KVM case ${index} (${c.name}): ${what}`);
  };
  const msrs = c.msrs ?? [];
  const dumps = c.dumps ?? [];
  if (msrs.length > MAX_MSRS) fail(`${msrs.length} MSRs (max ${MAX_MSRS})`);
  if (dumps.length > MAX_DUMPS) fail(`${dumps.length} dumps (max ${MAX_DUMPS})`);
  const inside = (gpa: number, length: number) =>
    Number.isInteger(gpa) && gpa >= 0 && length >= 0 && gpa + length <= GUEST_MEMORY_BYTES;
  const w = new Writer();
  w.u32(c.memory.length);
  w.u32(dumps.length);
  w.u32(msrs.length);
  w.u32(c.timeoutMs ?? 0);
  w.u64(c.readValue ?? 0n);
  encodeState(w, c.state, fail);
  for (const msr of msrs) {
    w.u32(msr.index);
    w.u32(0);
    w.u64(msr.value);
  }
  for (const chunk of c.memory) {
    if (!inside(chunk.gpa, chunk.bytes.length))
      fail(`memory chunk at 0x${chunk.gpa.toString(16)} is outside guest memory`);
    w.u64(BigInt(chunk.gpa));
    w.u32(chunk.bytes.length);
    w.u32(0);
    w.bytes(chunk.bytes);
    w.bytes(new Uint8Array((8 - (chunk.bytes.length % 8)) % 8));
  }
  for (const dump of dumps) {
    if (!inside(dump.gpa, dump.length))
      fail(`dump at 0x${dump.gpa.toString(16)} is outside guest memory`);
    w.u64(BigInt(dump.gpa));
    w.u32(dump.length);
    w.u32(0);
  }
  return w.done();
}

// ---- decoding ----

function decodeState(view: DataView, at: number): MachineState {
  const u64 = (o: number) => view.getBigUint64(at + o, true);
  const u32 = (o: number) => view.getUint32(at + o, true);
  const gpr: bigint[] = [];
  for (let i = 0; i < 16; i++) gpr.push(u64(i * 8));
  const segments = [];
  for (let i = 0; i < 8; i++) {
    const o = 192 + i * 24;
    segments.push({ base: u64(o), limit: u32(o + 8), selector: u32(o + 12), attr: u32(o + 16) });
  }
  return {
    gpr,
    rip: u64(128),
    rflags: Number(u64(136)),
    cr0: Number(u64(144)),
    cr2: u64(152),
    cr3: u64(160),
    cr4: Number(u64(168)),
    cr8: Number(u64(176)),
    efer: Number(u64(184)),
    segments,
    gdt: { base: u64(384), limit: Number(u64(392)) },
    idt: { base: u64(400), limit: Number(u64(408)) },
  };
}

function decodeRecord(record: Uint8Array, input: KvmCase): KvmResult {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const exit = EXITS[view.getUint32(8, true)] ?? 'other';
  const reason = view.getUint32(12, true);
  const port = view.getUint32(16, true);
  const size = view.getUint32(20, true);
  const write = view.getUint32(24, true) !== 0;
  const aux = view.getUint32(28, true);
  const value = view.getBigUint64(32, true);
  const address = view.getBigUint64(40, true);
  const state = decodeState(view, RECORD_HEADER);
  const msrs: MsrValue[] = [];
  let at = RECORD_HEADER + STATE_LEN;
  for (const _ of input.msrs ?? []) {
    msrs.push({ index: view.getUint32(at, true), value: view.getBigUint64(at + 8, true) });
    at += 16;
  }
  const dumps: Uint8Array[] = [];
  for (const dump of input.dumps ?? []) {
    dumps.push(record.slice(at, at + dump.length));
    at += (dump.length + 7) & ~7;
  }
  const result: KvmResult = { exit, detail: `KVM exit reason ${reason}`, state, msrs, dumps };
  switch (exit) {
    case 'io':
      result.access = { address: BigInt(port), size, write, value };
      result.detail = `port ${write ? 'write' : 'read'} 0x${port.toString(16)} (size ${size}, count ${aux})`;
      break;
    case 'mmio':
      result.access = { address, size, write, value };
      result.detail = `MMIO ${write ? 'write' : 'read'} at 0x${address.toString(16)} (size ${size})`;
      break;
    case 'entry-failure':
      result.detail = `KVM_EXIT_FAIL_ENTRY, hardware reason 0x${address.toString(16)}`;
      break;
    case 'internal-error':
      result.detail = `KVM_EXIT_INTERNAL_ERROR, suberror ${address}`;
      break;
    case 'rejected':
      result.detail = `${STEPS[reason] ?? `step ${reason}`} failed: errno ${aux}`;
      break;
    case 'shutdown':
      result.detail = 'KVM_EXIT_SHUTDOWN (triple fault)';
      break;
  }
  return result;
}

// ---- the runner binary ----

/** Compiles the runner once per source version; returns the executable's path. */
function compileRunner(cacheDir?: string): string {
  const source = join(findSourceDir(), 'kvm-runner.c');
  const hash = createHash('sha256');
  hash.update(GCC_FLAGS.join(' '));
  hash.update(readFileSync(source));
  const key = hash.digest('hex').slice(0, 16);
  const dir = cacheDir ?? join(tmpdir(), 'xenotype-kvm-runner');
  const binary = join(dir, `kvm-runner-${key}`);
  if (existsSync(binary)) return binary;

  requireTool('gcc', 'gcc');
  mkdirSync(dir, { recursive: true });
  const partial = `${binary}.${process.pid}.tmp`;
  const gcc = spawnSync('gcc', [...GCC_FLAGS, '-o', partial, source], { encoding: 'utf8' });
  if (gcc.error || gcc.status !== 0) {
    rmSync(partial, { force: true });
    throw new KvmRunnerError(
      `compiling the KVM runner failed: gcc ${gcc.error?.message ?? `exited with ${gcc.status}`}\n${gcc.stderr}`,
    );
  }
  renameSync(partial, binary); // atomic: concurrent test processes may race here
  return binary;
}

/** kvm-runner.c lives beside this module in src/; the compiled module may be in dist/src/. */
function findSourceDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const relative = join('src', 'x86', 'testing', 'kvm');
  const candidates = [here];
  for (let dir = here; ; ) {
    candidates.push(join(dir, relative));
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  const found = candidates.find((dir) => existsSync(join(dir, 'kvm-runner.c')));
  if (!found) throw new KvmRunnerError(`cannot find kvm-runner.c from ${here}`);
  return found;
}
