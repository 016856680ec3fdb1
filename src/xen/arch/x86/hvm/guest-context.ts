/**
 * struct vcpu_guest_context (x86-64) ↔ an HVM vCPU's registers, as Xen's arch_get_info_guest
 * and the HVM path of arch_set_info_guest do for XEN_DOMCTL_{get,set}vcpucontext.
 *
 * Setting takes the general registers, RIP, RSP, RFLAGS, the debug registers and the FXSAVE
 * image (if VGCF_i387_valid; otherwise the FPU is reset); an HVM vCPU's segments and control
 * registers are loaded through HVM context records instead, so those fields are ignored.
 * Getting also reports CR0/CR2/CR3/CR4, the selectors and the FS/GS bases. The PV-only
 * fields (trap table, GDT/LDT frames, callbacks, kernel stack) are zero.
 */
import { VGCF_i387_valid, VGCF_online, vcpu_guest_context } from '../../../../abi/xen.js';
import type { Cpu } from '../../../../x86/cpu.js';
import { Flag, Lazy, LazyOp, readFlags } from '../../../../x86/flags.js';
import { readDebugRegister } from '../../../../x86/isa/debugreg.js';
import { Msr, readMsr } from '../../../../x86/isa/system.js';
import { Seg } from '../../../../x86/segments.js';
import { MXCSR_MASK } from '../../../../x86/sse/fp.js';
import { loadImage, saveImage } from '../../../../x86/sse/state.js';

export type GuestContext = ReturnType<typeof vcpu_guest_context.decode>;

/** cpu_user_regs' general registers and their numbers in Cpu.gpr (rsp included). */
const GPRS = {
  rax: 0,
  rcx: 1,
  rdx: 2,
  rbx: 3,
  rsp: 4,
  rbp: 5,
  rsi: 6,
  rdi: 7,
  r8: 8,
  r9: 9,
  r10: 10,
  r11: 11,
  r12: 12,
  r13: 13,
  r14: 14,
  r15: 15,
} as const;
type GprName = keyof typeof GPRS;
const GPR_NAMES = Object.keys(GPRS) as GprName[];

/** RFLAGS bits software can hold (CF PF AF ZF SF TF IF DF OF IOPL NT RF VM AC VIF VIP ID). */
const RFLAGS_VALID = 0x003f7fd5;
/** DR6 and DR7 bits a MOV to the register keeps (the others read as fixed values). */
const DR6_WRITABLE = 0xe00f;
const DR7_WRITABLE = 0xffff23ff | 0;

function u64(lo: number, hi: number): bigint {
  return (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0);
}

function lo32(value: bigint): number {
  return Number(value & 0xffffffffn) | 0;
}

function hi32(value: bigint): number {
  return Number((value >> 32n) & 0xffffffffn) | 0;
}

/** The FXSAVE image in 64-bit form (FIP/FDP as 64-bit) when the vCPU is in long mode. */
function wideFpu(cpu: Cpu): boolean {
  return cpu.longMode;
}

/** arch_get_info_guest for an HVM vCPU. `online` is !VPF_down; `vmAssist` is d->vm_assist. */
export function getGuestContext(cpu: Cpu, online: boolean, vmAssist = 0n): Uint8Array {
  const out = vcpu_guest_context.encode({});
  const view = new DataView(out.buffer);
  saveImage(cpu, view, vcpu_guest_context.offsets.fpu_ctxt, wideFpu(cpu));

  const regs: Partial<Record<GprName, bigint>> = {};
  for (const name of GPR_NAMES) {
    const n = GPRS[name];
    regs[name] = u64(cpu.gpr[n * 2]!, cpu.gpr[n * 2 + 1]!);
  }
  const csSel = cpu.segSel[Seg.CS]! & 0xffff;
  const debugreg: bigint[] = [];
  for (let n = 0; n < 8; n++) {
    if (n === 4 || n === 5) debugreg.push(0n);
    else {
      const lo = readDebugRegister(cpu, n);
      debugreg.push(u64(lo, cpu.hi));
    }
  }
  const gsBase = u64(cpu.segBaseLo[Seg.GS]!, cpu.segBaseHi[Seg.GS]!);
  const [shadowLo, shadowHi] = readMsr(cpu, Msr.KERNEL_GS_BASE) ?? [0, 0];
  const gsShadow = u64(shadowLo, shadowHi);
  // In ring 0 the live GS base is the kernel's and the SWAPGS shadow the user's.
  const ring0 = (csSel & 3) === 0;
  vcpu_guest_context.write(view, 0, {
    flags: BigInt(VGCF_i387_valid | (online ? VGCF_online : 0)),
    user_regs: {
      ...regs,
      rip: u64(cpu.ripLo, cpu.ripHi),
      rflags: BigInt(readFlags(cpu) >>> 0),
      cs: csSel,
      ss: cpu.segSel[Seg.SS]! & 0xffff,
      ds: cpu.segSel[Seg.DS]! & 0xffff,
      es: cpu.segSel[Seg.ES]! & 0xffff,
      fs: cpu.segSel[Seg.FS]! & 0xffff,
      gs: cpu.segSel[Seg.GS]! & 0xffff,
    },
    ctrlreg: [
      BigInt(cpu.cr0 >>> 0),
      0n,
      u64(cpu.cr2Lo, cpu.cr2Hi),
      u64(cpu.cr3Lo, cpu.cr3Hi),
      BigInt(cpu.cr4 >>> 0),
      0n,
      0n,
      0n,
    ],
    debugreg,
    vm_assist: vmAssist,
    fs_base: u64(cpu.segBaseLo[Seg.FS]!, cpu.segBaseHi[Seg.FS]!),
    gs_base_kernel: ring0 ? gsBase : gsShadow,
    gs_base_user: ring0 ? gsShadow : gsBase,
  });
  return out;
}

/** vcpu_setup_fpu without an image: zeroed registers, default control words. */
function resetFpu(cpu: Cpu): void {
  const fpu = cpu.fpu;
  fpu.resetX87();
  fpu.st.fill(0);
  fpu.xmm.fill(0);
  fpu.mxcsr = 0x1f80;
}

/**
 * The HVM part of arch_set_info_guest: registers from `ctx` (raw struct bytes). The caller
 * handles VGCF_online and the vm_assist check.
 */
export function setGuestContext(cpu: Cpu, raw: Uint8Array): void {
  const ctx = vcpu_guest_context.decode(raw);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const fpuAt = vcpu_guest_context.offsets.fpu_ctxt;
  // An image whose MXCSR sets reserved bits would fault in FXRSTOR; Xen's fixup then leaves
  // the FPU in its initial state, as here.
  const mxcsr = view.getUint32(fpuAt + 24, true);
  if (ctx.flags & BigInt(VGCF_i387_valid) && (mxcsr & ~MXCSR_MASK) === 0) {
    loadImage(cpu, view, fpuAt, wideFpu(cpu));
  } else {
    resetFpu(cpu);
  }

  const regs = ctx.user_regs;
  for (const name of GPR_NAMES) {
    const n = GPRS[name];
    cpu.gpr[n * 2] = lo32(regs[name]);
    cpu.gpr[n * 2 + 1] = hi32(regs[name]);
  }
  cpu.ripLo = lo32(regs.rip);
  cpu.ripHi = hi32(regs.rip);
  // VM entry refuses reserved RFLAGS bits; bit 1 always reads as one.
  cpu.flags = (lo32(regs.rflags) & RFLAGS_VALID) | Flag.Fixed;
  cpu.lazy[Lazy.Op] = LazyOp.Eager;
  cpu.updateMode();

  const dr = ctx.debugreg;
  for (let n = 0; n < 4; n++) {
    cpu.dr[n * 2] = lo32(dr[n]!);
    cpu.dr[n * 2 + 1] = hi32(dr[n]!);
  }
  cpu.dr[12] = lo32(dr[6]!) & DR6_WRITABLE;
  cpu.dr[13] = 0;
  cpu.dr[14] = lo32(dr[7]!) & DR7_WRITABLE;
  cpu.dr[15] = 0;
}
