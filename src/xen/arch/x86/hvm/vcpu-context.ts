/**
 * The HVM/PVH initial register state of VCPUOP_initialise (struct vcpu_hvm_context), loaded
 * into a CPU with the checks of Xen's arch_set_info_hvm_guest (xen/arch/x86/hvm/domain.c).
 * The domain builder uses the same function for vCPU 0's PVH entry state.
 */
import { XEN_EINVAL } from '../../../../abi/errno.js';
import {
  VCPU_HVM_MODE_32B,
  VCPU_HVM_MODE_64B,
  type vcpu_hvm_context,
} from '../../../../abi/vcpu.js';
import { type Cpu, Cr0, Cr4, Efer, SegAttrBits } from '../../../../x86/cpu.js';
import { Flag, Lazy, LazyOp } from '../../../../x86/flags.js';
import { loadPdptes } from '../../../../x86/mmu.js';
import { Seg } from '../../../../x86/segments.js';
import { cr4ValidBits, eferValid } from './cpu-valid.js';

export type VcpuHvmContext = ReturnType<typeof vcpu_hvm_context.decode>;

/** A segment as Xen's struct segment_register holds it: `attr` in the 12-bit _ar format. */
interface Segment {
  base: number;
  limit: number;
  attr: number;
}

/** RFLAGS bits a guest can hold (VM entry refuses the reserved ones). */
const RFLAGS_VALID = 0x3f7fd5;

/**
 * Xen's check_segment, on a segment whose accessed (busy, for TR) bit was already set.
 * DS and ES may be null (attributes 0).
 */
function segmentValid(seg: Segment, which: Seg): boolean {
  const attr = seg.attr;
  if (attr & 0xf000) return false; // bits 12-15 must be blank
  if (attr === 0) return which === Seg.DS || which === Seg.ES;
  const type = attr & 0xf;
  const system = (attr & 0x10) === 0;
  if (which === Seg.TR) {
    if (!system || type !== 0xb) return false; // a busy 32-bit TSS
  } else if (system) {
    return false;
  }
  if (!(attr & 0x80)) return false;
  switch (which) {
    case Seg.CS:
      return (type & 0x8) !== 0;
    case Seg.SS:
      return (type & 0x8) === 0 && (type & 0x2) !== 0;
    case Seg.DS:
    case Seg.ES:
      return !(type & 0x8) || (type & 0x2) !== 0;
    default:
      return true;
  }
}

const dpl = (seg: Segment): number => (seg.attr >> 5) & 3;
const present = (seg: Segment): boolean => (seg.attr & 0x80) !== 0;

/** The 32-bit form's segment, with the accessed / busy bit set as Xen sets it. */
function segment32(base: number, limit: number, ar: number, which: Seg): Segment {
  let attr = ar;
  if (attr & 0x80) attr |= which === Seg.TR ? 2 : 1;
  return { base: base >>> 0, limit: limit >>> 0, attr };
}

/** A 64-bit value's low and high halves (as int32). */
function halves(value: bigint): [number, number] {
  const v = BigInt.asUintN(64, value);
  return [Number(v & 0xffffffffn) | 0, Number(v >> 32n) | 0];
}

interface Registers {
  gpr: readonly bigint[]; // rax rcx rdx rbx rsp rbp rsi rdi
  rip: bigint;
  rflags: number;
  cr0: bigint;
  cr3: bigint;
  cr4: bigint;
  efer: bigint;
}

function loadSegment(cpu: Cpu, which: Seg, seg: Segment): void {
  cpu.segSel[which] = 0;
  cpu.segBaseLo[which] = seg.base | 0;
  cpu.segBaseHi[which] = 0;
  cpu.segLimit[which] = seg.limit | 0;
  // The CPU keeps the VMX access-rights layout: avl/l/db/g at bits 12-15.
  cpu.segAttr[which] = present(seg)
    ? (seg.attr & 0xff) | ((seg.attr & 0xf00) << 4)
    : SegAttrBits.Unusable;
}

/**
 * Loads a vcpu_hvm_context into `cpu`, as arch_set_info_hvm_guest does: the 32-bit form with
 * its cached CS/DS/SS/ES/TR, or the 64-bit form with flat long-mode segments. Returns 0, or
 * -EINVAL (and leaves the CPU untouched) when Xen would refuse the state.
 */
export function applyHvmContext(cpu: Cpu, ctx: VcpuHvmContext): number {
  if (ctx.pad !== 0) return -XEN_EINVAL;
  let regs: Registers;
  let segs: [Seg, Segment][];
  if (ctx.mode === VCPU_HVM_MODE_32B) {
    const r = ctx.cpu_regs.x86_32;
    if (r.pad1 !== 0 || r.pad2.some((p) => p !== 0)) return -XEN_EINVAL;
    const cs = segment32(r.cs_base, r.cs_limit, r.cs_ar, Seg.CS);
    const ds = segment32(r.ds_base, r.ds_limit, r.ds_ar, Seg.DS);
    const ss = segment32(r.ss_base, r.ss_limit, r.ss_ar, Seg.SS);
    const es = segment32(r.es_base, r.es_limit, r.es_ar, Seg.ES);
    const tr = segment32(r.tr_base, r.tr_limit, r.tr_ar, Seg.TR);
    segs = [
      [Seg.CS, cs],
      [Seg.DS, ds],
      [Seg.SS, ss],
      [Seg.ES, es],
      [Seg.TR, tr],
    ];
    if (!segs.every(([which, seg]) => segmentValid(seg, which))) return -XEN_EINVAL;
    // As Xen computes it, in 32 bits: a page-granular limit covers its last page.
    const limit = cs.attr & 0x800 ? ((cs.limit << 12) | 0xfff) >>> 0 : cs.limit;
    if (r.eip >>> 0 > limit) return -XEN_EINVAL;
    if (dpl(ss) !== dpl(cs)) return -XEN_EINVAL;
    if (present(ds) && dpl(ds) > dpl(cs)) return -XEN_EINVAL;
    if (present(es) && dpl(es) > dpl(cs)) return -XEN_EINVAL;
    const efer = BigInt.asUintN(64, r.efer);
    if (efer & BigInt(Efer.LMA) && !(efer & BigInt(Efer.LME))) return -XEN_EINVAL;
    regs = {
      gpr: [r.eax, r.ecx, r.edx, r.ebx, r.esp, r.ebp, r.esi, r.edi].map((v) => BigInt(v >>> 0)),
      rip: BigInt(r.eip >>> 0),
      rflags: r.eflags >>> 0,
      cr0: BigInt(r.cr0 >>> 0),
      cr3: BigInt(r.cr3 >>> 0),
      cr4: BigInt(r.cr4 >>> 0),
      efer,
    };
  } else if (ctx.mode === VCPU_HVM_MODE_64B) {
    const r = ctx.cpu_regs.x86_64;
    const rip = BigInt.asUintN(64, r.rip);
    // Canonical: bits 63:47 all equal.
    const top = rip >> 47n;
    if (top !== 0n && top !== 0x1ffffn) return -XEN_EINVAL;
    if (!(r.cr0 & BigInt(Cr0.PG >>> 0))) return -XEN_EINVAL;
    if (!(r.cr4 & BigInt(Cr4.PAE))) return -XEN_EINVAL;
    if (!(r.efer & BigInt(Efer.LME))) return -XEN_EINVAL;
    regs = {
      gpr: [r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi],
      rip,
      rflags: Number(BigInt.asUintN(32, r.rflags)),
      cr0: r.cr0,
      cr3: r.cr3,
      cr4: r.cr4,
      efer: r.efer,
    };
    const flat = { base: 0, limit: 0xffffffff };
    const data = { ...flat, attr: 0xc93 };
    segs = [
      [Seg.CS, { ...flat, attr: 0xa9b }], // 64-bit code
      [Seg.DS, data],
      [Seg.SS, data],
      [Seg.ES, data],
      [Seg.TR, { base: 0, limit: 0x67, attr: 0x8b }], // busy 64-bit TSS
    ];
  } else {
    return -XEN_EINVAL;
  }

  let efer = regs.efer;
  if (efer & BigInt(Efer.LME)) efer |= BigInt(Efer.LMA);
  if (regs.cr4 >> 32n !== 0n || Number(regs.cr4) & ~cr4ValidBits(cpu)) return -XEN_EINVAL;
  if (!eferValid(cpu, efer)) return -XEN_EINVAL;
  const cr0 = Number(BigInt.asUintN(32, regs.cr0)) | 0;
  // Xen leaves these to VM entry, which fails and crashes the domain; refuse them instead.
  if (regs.cr0 >> 32n !== 0n) return -XEN_EINVAL;
  if (cr0 & Cr0.PG && !(cr0 & Cr0.PE)) return -XEN_EINVAL;
  if (efer & BigInt(Efer.LMA) && !(cr0 & Cr0.PG)) return -XEN_EINVAL;

  regs.gpr.forEach((value, n) => {
    [cpu.gpr[n * 2], cpu.gpr[n * 2 + 1]] = halves(value);
  });
  [cpu.ripLo, cpu.ripHi] = halves(regs.rip);
  cpu.flags = (regs.rflags & RFLAGS_VALID) | Flag.Fixed;
  cpu.lazy[Lazy.Op] = LazyOp.Eager;
  cpu.cr0 = cr0;
  [cpu.cr3Lo, cpu.cr3Hi] = halves(regs.cr3);
  cpu.cr4 = Number(regs.cr4) | 0;
  cpu.efer = Number(efer);
  for (const [which, seg] of segs) loadSegment(cpu, which, seg);
  cpu.halted = false;
  cpu.pendingException = -1;
  cpu.interruptShadow = false;
  cpu.updateMode();
  cpu.flushTlb();
  if (cr0 & Cr0.PG && cpu.cr4 & Cr4.PAE && !(cpu.efer & Efer.LMA)) {
    // PAE paging caches its four PDPTEs at the CR3 load; unreadable ones read as not present.
    try {
      loadPdptes(cpu);
    } catch {
      cpu.pdpte.fill(0);
    }
  }
  return 0;
}
