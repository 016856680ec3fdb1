/**
 * Comparing a KVM result with the emulator's: a list of human-readable differences, empty
 * when they agree.
 *
 * What is compared depends on the exit. `hlt` and `io`: everything (exit, access, registers,
 * RIP, RFLAGS, CR0 CR2 CR3 CR4 CR8 EFER, segment registers, GDTR, IDTR, MSRs, dumps). `mmio`:
 * the access and the dumps. `shutdown`: the dumps (KVM resets the vCPU after a triple fault).
 * `timeout`: only the exit.
 *
 * Segment registers: a data segment register holding a null selector is compared by selector
 * only (and FS/GS also by base, which 64-bit code uses): what the hidden part of a null
 * segment holds is implementation-specific (VMX marks it unusable, SVM clears P, the SDM only
 * says it must not be used). Otherwise selector, base, limit and attributes are compared.
 */
import { DEFAULT_DUMPS, TABLE_DUMPS } from './image.js';
import {
  GPR_NAMES,
  type KvmCase,
  type KvmResult,
  type MachineState,
  SEGMENT_NAMES,
} from './state.js';

export interface DiffOptions {
  /**
   * Fields not to compare: a register ('rax', 'rip', 'rflags', 'cr2' …), a segment ('ss') or
   * one of its fields ('ss.attr'), 'gdt', 'idt', 'msr:0xc0000081', or a dump by name
   * ('dump:report', 'dump:PT0') or guest-physical address ('dump:0x300000').
   */
  ignore?: string[];
  /** Flag bits not to compare (e.g. RF 0x10000). */
  rflagsMask?: number;
}

const UNUSABLE = 1 << 16;
const hex = (v: bigint | number): string => `0x${v.toString(16)}`;

/** The name a dump goes by in messages and `ignore`. */
export function dumpName(gpa: number): string {
  return [...DEFAULT_DUMPS, ...TABLE_DUMPS].find((d) => d.gpa === gpa)?.name ?? hex(gpa);
}

export function diffResults(
  c: KvmCase,
  kvm: KvmResult,
  emu: KvmResult,
  options: DiffOptions = {},
): string[] {
  const ignore = new Set(options.ignore ?? []);
  const out: string[] = [];
  const bad = ['rejected', 'entry-failure', 'internal-error', 'other'];
  if (bad.includes(kvm.exit)) out.push(`KVM could not run the case: ${kvm.exit}: ${kvm.detail}`);
  if (kvm.exit !== emu.exit) {
    out.push(`exit: kvm ${kvm.exit} (${kvm.detail}), emulator ${emu.exit} (${emu.detail})`);
    return out;
  }
  if (kvm.exit === 'timeout') return out;
  if (kvm.exit === 'io' || kvm.exit === 'mmio') {
    const a = kvm.access;
    const b = emu.access;
    if (a && b) {
      for (const field of ['address', 'size', 'write', 'value'] as const) {
        if (a[field] !== b[field])
          out.push(`access.${field}: kvm ${a[field]}, emulator ${b[field]}`);
      }
    }
  }
  if (kvm.exit === 'hlt' || kvm.exit === 'io') {
    diffState(kvm.state, emu.state, ignore, options.rflagsMask ?? 0, out);
    kvm.msrs.forEach((m, i) => {
      const e = emu.msrs[i];
      if (!ignore.has(`msr:${hex(m.index)}`) && e && e.value !== m.value) {
        out.push(`MSR ${hex(m.index)}: kvm ${hex(m.value)}, emulator ${hex(e.value)}`);
      }
    });
  }
  (c.dumps ?? []).forEach((dump, i) => {
    const name = dumpName(dump.gpa);
    if (ignore.has(`dump:${name}`) || ignore.has(`dump:${hex(dump.gpa)}`)) return;
    diffDump(name, dump.gpa, kvm.dumps[i]!, emu.dumps[i]!, out);
  });
  return out;
}

function diffState(
  a: MachineState,
  b: MachineState,
  ignore: Set<string>,
  flagMask: number,
  out: string[],
): void {
  const check = (name: string, x: bigint | number, y: bigint | number) => {
    if (!ignore.has(name) && x !== y) out.push(`${name}: kvm ${hex(x)}, emulator ${hex(y)}`);
  };
  GPR_NAMES.forEach((name, i) => {
    check(name, a.gpr[i]!, b.gpr[i]!);
  });
  check('rip', a.rip, b.rip);
  check('rflags', a.rflags & ~flagMask, b.rflags & ~flagMask);
  check('cr0', a.cr0, b.cr0);
  check('cr2', a.cr2, b.cr2);
  check('cr3', a.cr3, b.cr3);
  check('cr4', a.cr4, b.cr4);
  check('cr8', a.cr8, b.cr8);
  check('efer', a.efer, b.efer);
  SEGMENT_NAMES.forEach((name, i) => {
    if (ignore.has(name)) return;
    const x = a.segments[i]!;
    const y = b.segments[i]!;
    check(`${name}.selector`, x.selector, y.selector);
    const dataSegment = name !== 'cs' && name !== 'tr';
    if (dataSegment && (x.selector & 0xfffc) === 0 && (y.selector & 0xfffc) === 0) {
      if (name === 'fs' || name === 'gs') check(`${name}.base`, x.base, y.base);
      return;
    }
    const xu = (x.attr & UNUSABLE) !== 0;
    const yu = (y.attr & UNUSABLE) !== 0;
    if (xu !== yu) {
      out.push(
        `${name}: kvm ${xu ? 'unusable' : 'usable'}, emulator ${yu ? 'unusable' : 'usable'}`,
      );
      return;
    }
    if (xu) return;
    check(`${name}.base`, x.base, y.base);
    check(`${name}.limit`, x.limit, y.limit);
    check(`${name}.attr`, x.attr, y.attr);
  });
  for (const table of ['gdt', 'idt'] as const) {
    check(`${table}.base`, a[table].base, b[table].base);
    check(`${table}.limit`, a[table].limit, b[table].limit);
  }
}

function diffDump(name: string, gpa: number, a: Uint8Array, b: Uint8Array, out: string[]): void {
  const differing: string[] = [];
  let count = 0;
  for (let offset = 0; offset < a.length; offset += 8) {
    let same = true;
    for (let i = offset; i < Math.min(offset + 8, a.length); i++) if (a[i] !== b[i]) same = false;
    if (same) continue;
    count++;
    if (differing.length < 8) {
      differing.push(
        `+${hex(offset)} (${hex(gpa + offset)}): kvm ${qword(a, offset)}, emulator ${qword(b, offset)}`,
      );
    }
  }
  if (count > 0) {
    out.push(
      `dump ${name}: ${count} qword(s) differ: ${differing.join('; ')}${count > 8 ? '; …' : ''}`,
    );
  }
}

function qword(bytes: Uint8Array, offset: number): string {
  let value = 0n;
  for (let i = Math.min(offset + 7, bytes.length - 1); i >= offset; i--)
    value = (value << 8n) | BigInt(bytes[i]!);
  return hex(value);
}
