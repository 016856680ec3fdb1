/**
 * The fast system calls: SYSCALL/SYSRET (0F 05, 0F 07) and SYSENTER/SYSEXIT (0F 34, 0F 35),
 * which load fixed flat segments from MSRs instead of descriptors.
 */
import { type Cpu, Cr0, Efer } from '../cpu.js';
import { ExitReason } from '../exit.js';
import { Fault, Vector } from '../fault.js';
import { Flag, materializeFlags, readFlags } from '../flags.js';
import type { Handler } from '../insn.js';
import { Seg } from '../segments.js';
import { type OpcodeTable, OpFlag } from '../table.js';
import { stepOver } from './control.js';
import { realOrVm86, requireCpl0 } from './privilege.js';
import { Msr, readMsr } from './system.js';
import { canonical, loadFlags, nextRip } from './transfer.js';

const RSP = 8;

/** Access rights (Cpu.segAttr layout) of the flat segments SYSCALL/SYSENTER and their returns load. */
const enum FlatAttr {
  Code64 = 0xa09b,
  Code32 = 0xc09b,
  Data = 0xc093,
  /** DPL 3 (bits 5-6). */
  Dpl3 = 0x60,
}

/** Sets CS for SYSCALL/SYSRET/SYSENTER/SYSEXIT, which load fixed flat descriptors. */
function loadFlat(cpu: Cpu, seg: Seg, selector: number, attr: number): void {
  cpu.segSel[seg] = selector & 0xffff;
  cpu.segBaseLo[seg] = 0;
  cpu.segBaseHi[seg] = 0;
  cpu.segLimit[seg] = -1;
  cpu.segAttr[seg] = attr;
}

/**
 * SYSCALL, in 64-bit mode (LSTAR) and compatibility mode (CSTAR, as AMD does); #UD outside
 * long mode or without EFER.SCE. With `cpu.syscallExits` set (PV guests, whose system calls
 * Xen bounces), it exits to the hypervisor instead — ExitReason.Syscall, RIP past the
 * instruction, `exit.instructionLength` set, the state otherwise untouched.
 */
const syscall: Handler = (cpu, i) => {
  if (cpu.syscallExits) {
    // The hypervisor takes it whatever EFER.SCE says: a PV guest's kernel never sets SCE.
    stepOver(cpu, i);
    cpu.exit.instructionLength = i.len;
    cpu.exitAfter(ExitReason.Syscall);
    return;
  }
  if (!(cpu.efer & Efer.SCE) || !cpu.longMode) throw new Fault(Vector.UD);
  const star = readMsr(cpu, Msr.STAR)!;
  const base = star[1] & 0xffff;
  const from64 = cpu.codeSize === 64;
  const target = readMsr(cpu, from64 ? Msr.LSTAR : Msr.CSTAR)!;
  const mask = readMsr(cpu, Msr.SFMASK)![0];
  const returnLo = nextRip(cpu, i);
  const returnHi = cpu.hi;
  const flags = readFlags(cpu) & ~Flag.RF;
  cpu.gpr[2] = returnLo; // RCX
  cpu.gpr[3] = returnHi;
  cpu.gpr[22] = flags; // R11
  cpu.gpr[23] = 0;
  loadFlags(cpu, 0, mask | Flag.RF);
  loadFlat(cpu, Seg.CS, base & 0xfffc, FlatAttr.Code64);
  loadFlat(cpu, Seg.SS, (base + 8) & 0xffff, FlatAttr.Data);
  cpu.cpl = 0;
  cpu.updateMode();
  cpu.ripLo = target[0];
  cpu.ripHi = target[1];
};

/** SYSRET: to 64-bit user code (REX.W) or compatibility mode. */
const sysret =
  (size: number): Handler =>
  (cpu) => {
    if (!(cpu.efer & Efer.SCE) || cpu.codeSize !== 64) throw new Fault(Vector.UD);
    requireCpl0(cpu);
    const base = readMsr(cpu, Msr.STAR)![1] >>> 16;
    const rcx = cpu.gpr[2]!;
    const rcxHi = cpu.gpr[3]!;
    if (size === 64) {
      // Intel checks RCX before the switch, so the #GP is taken at CPL 0.
      if (!canonical(rcxHi)) throw new Fault(Vector.GP, 0);
      loadFlat(cpu, Seg.CS, (base + 16) | 3, FlatAttr.Code64 | FlatAttr.Dpl3);
      cpu.ripLo = rcx;
      cpu.ripHi = rcxHi;
    } else {
      loadFlat(cpu, Seg.CS, base | 3, FlatAttr.Code32 | FlatAttr.Dpl3);
      cpu.ripLo = rcx;
      cpu.ripHi = 0;
    }
    loadFlags(cpu, cpu.gpr[22]! & 0x3c7fd7, -1); // R11, less RF and VM
    // SS keeps its selector-derived value; its cached attributes are those of a flat DPL 3 stack.
    loadFlat(cpu, Seg.SS, (base + 8) | 3, FlatAttr.Data | FlatAttr.Dpl3);
    cpu.cpl = 3;
    cpu.updateMode();
  };

function sysenterCs(cpu: Cpu): number {
  const cs = readMsr(cpu, Msr.SYSENTER_CS)![0] & 0xffff;
  if ((cs & 0xfffc) === 0) throw new Fault(Vector.GP, 0);
  return cs;
}

const sysenter: Handler = (cpu) => {
  if (!(cpu.cr0 & Cr0.PE)) throw new Fault(Vector.GP, 0);
  const cs = sysenterCs(cpu);
  const eip = readMsr(cpu, Msr.SYSENTER_EIP)!;
  const esp = readMsr(cpu, Msr.SYSENTER_ESP)!;
  materializeFlags(cpu);
  cpu.flags &= ~(Flag.VM | Flag.IF | Flag.RF);
  const long = cpu.longMode;
  loadFlat(cpu, Seg.CS, cs & 0xfffc, long ? FlatAttr.Code64 : FlatAttr.Code32);
  loadFlat(cpu, Seg.SS, (cs + 8) & 0xfffc, FlatAttr.Data);
  cpu.cpl = 0;
  cpu.updateMode();
  cpu.ripLo = eip[0];
  cpu.ripHi = long ? eip[1] : 0;
  cpu.gpr[RSP] = esp[0];
  cpu.gpr[RSP + 1] = long ? esp[1] : 0;
};

/** SYSEXIT: to 64-bit user code (REX.W) or 32-bit user code, RIP from RDX, RSP from RCX. */
const sysexit =
  (size: number): Handler =>
  (cpu) => {
    if (realOrVm86(cpu)) throw new Fault(Vector.GP, 0);
    const cs = sysenterCs(cpu);
    requireCpl0(cpu);
    const gpr = cpu.gpr;
    if (size === 64) {
      if (!canonical(gpr[5]!) || !canonical(gpr[3]!)) throw new Fault(Vector.GP, 0);
      loadFlat(cpu, Seg.CS, (cs + 32) | 3, FlatAttr.Code64 | FlatAttr.Dpl3);
      loadFlat(cpu, Seg.SS, (cs + 40) | 3, FlatAttr.Data | FlatAttr.Dpl3);
      cpu.ripLo = gpr[4]!;
      cpu.ripHi = gpr[5]!;
      gpr[RSP] = gpr[2]!;
      gpr[RSP + 1] = gpr[3]!;
    } else {
      loadFlat(cpu, Seg.CS, (cs + 16) | 3, FlatAttr.Code32 | FlatAttr.Dpl3);
      loadFlat(cpu, Seg.SS, (cs + 24) | 3, FlatAttr.Data | FlatAttr.Dpl3);
      cpu.ripLo = gpr[4]!;
      cpu.ripHi = 0;
      gpr[RSP] = gpr[2]!;
      gpr[RSP + 1] = 0;
    }
    cpu.cpl = 3;
    cpu.updateMode();
  };

export function install(t: OpcodeTable): void {
  const branch = OpFlag.Branch | OpFlag.EndsBlock;
  t.define(0x0f05, { name: 'syscall', exec: syscall, flags: branch });
  t.define(0x0f07, { name: 'sysret', exec: [sysret(32), sysret(32), sysret(64)], flags: branch });
  t.define(0x0f34, { name: 'sysenter', exec: sysenter, flags: branch });
  t.define(0x0f35, {
    name: 'sysexit',
    exec: [sysexit(32), sysexit(32), sysexit(64)],
    flags: branch,
  });
}
