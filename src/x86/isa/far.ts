/**
 * Far JMP, CALL and RET, direct (EA, 9A) and through memory (FF /5, FF /3; CB, CA).
 *
 * Call gates, task gates and task switches are not implemented (Linux uses none of them):
 * a transfer through one raises #GP(selector).
 */
import { read16 } from '../access.js';
import { type Cpu, SegAttrBits } from '../cpu.js';
import { Fault, Vector } from '../fault.js';
import type { Handler, Insn } from '../insn.js';
import {
  type Descriptor,
  descriptorAttributes,
  loadRealSegment,
  readDescriptor,
  Seg,
} from '../segments.js';
import { Imm, type OpcodeTable, OpFlag } from '../table.js';
import { linear, readSized } from './operands.js';
import { realOrVm86, selectorFault } from './privilege.js';
import { sized } from './sized.js';
import { discard, keepingStack, peek, push, setStackPointer } from './stack.js';
import {
  checkTarget,
  invalidateDataSegments,
  loadCodeSegment,
  loadStackSegment,
  nextRip,
  returnCodeSegment,
  returnStackSegment,
} from './transfer.js';

/**
 * The target of a far JMP/CALL: a code segment the current CPL may jump to directly.
 * System descriptors (call gates, task gates, TSSs) are not supported: #GP(selector).
 */
function jumpTargetSegment(cpu: Cpu, selector: number): Descriptor {
  if ((selector & ~3) === 0) throw new Fault(Vector.GP, 0);
  const d = readDescriptor(cpu, selector);
  const attr = descriptorAttributes(d.hi);
  // Not a code segment: data segments are #GP; call gates, task gates and TSSs (task
  // switches) are not implemented — Linux uses none — and are #GP(selector) as well.
  if (!(attr & SegAttrBits.S) || !(attr & 8)) throw selectorFault(Vector.GP, selector);
  const dpl = (attr >> SegAttrBits.DplShift) & 3;
  if (attr & 4) {
    if (dpl > cpu.cpl) throw selectorFault(Vector.GP, selector); // conforming
  } else if ((selector & 3) > cpu.cpl || dpl !== cpu.cpl) {
    throw selectorFault(Vector.GP, selector);
  }
  if (!(attr & SegAttrBits.P)) throw selectorFault(Vector.NP, selector);
  if (cpu.longMode && attr & SegAttrBits.L && attr & SegAttrBits.DB)
    throw selectorFault(Vector.GP, selector);
  return d;
}

function farTransfer(
  cpu: Cpu,
  i: Insn,
  selector: number,
  lo: number,
  hi: number,
  call: boolean,
): void {
  const size = i.opsize;
  selector &= 0xffff;
  if (realOrVm86(cpu)) {
    if (call) {
      const returnLo = nextRip(cpu, i);
      keepingStack(cpu, () => {
        push(cpu, size, cpu.segSel[Seg.CS]!, 0);
        push(cpu, size, returnLo, 0);
      });
    }
    loadRealSegment(cpu, Seg.CS, selector);
    cpu.ripLo = size === 16 ? lo & 0xffff : lo;
    cpu.ripHi = 0;
    cpu.updateMode();
    return;
  }
  const d = jumpTargetSegment(cpu, selector);
  const targetLo = checkTarget(cpu, d, size, lo, hi);
  const targetHi = cpu.hi;
  if (call) {
    const returnLo = nextRip(cpu, i);
    const returnHi = cpu.hi;
    keepingStack(cpu, () => {
      push(cpu, size, cpu.segSel[Seg.CS]!, 0);
      push(cpu, size, size === 16 ? returnLo & 0xffff : returnLo, returnHi);
    });
  }
  loadCodeSegment(cpu, selector, d, cpu.cpl);
  cpu.ripLo = targetLo;
  cpu.ripHi = targetHi;
  cpu.updateMode();
}

/** EA / 9A: the far pointer is in the instruction. */
const farDirect =
  (call: boolean): Handler =>
  (cpu, i) =>
    farTransfer(cpu, i, i.imm2, i.immLo, 0, call);

/** FF /5, FF /3: m16:16, m16:32 or m16:64. */
const farIndirect =
  (call: boolean, size: number): Handler =>
  (cpu, i) => {
    const lo = linear(cpu, i);
    const hi = cpu.eaHi;
    const offset = readSized(cpu, lo, hi, size);
    const offsetHi = size === 64 ? cpu.hi : 0;
    const bytes = size >> 3;
    const at = (lo + bytes) | 0;
    const selector = read16(
      cpu,
      at,
      at >>> 0 < lo >>> 0 && cpu.codeSize === 64 ? (hi + 1) | 0 : hi,
    );
    farTransfer(cpu, i, selector, offset, offsetHi, call);
  };

/** CB / CA imm16: far RET, to the same or an outer privilege level. */
const farRet =
  (size: number): Handler =>
  (cpu, i) => {
    const bytes = size >> 3;
    const release = i.op === 0xca ? i.immLo & 0xffff : 0;
    const offset = peek(cpu, size, 0);
    const offsetHi = size === 64 ? cpu.hi : 0;
    const selector = peek(cpu, size, bytes) & 0xffff;
    if (realOrVm86(cpu)) {
      discard(cpu, 2 * bytes + release);
      loadRealSegment(cpu, Seg.CS, selector);
      cpu.ripLo = size === 16 ? offset & 0xffff : offset;
      cpu.ripHi = 0;
      cpu.updateMode();
      return;
    }
    const d = returnCodeSegment(cpu, selector);
    const targetLo = checkTarget(cpu, d, size, offset, offsetHi);
    const targetHi = cpu.hi;
    const rpl = selector & 3;
    if (rpl === cpu.cpl) {
      loadCodeSegment(cpu, selector, d, rpl);
      discard(cpu, 2 * bytes + release);
    } else {
      const stack = 2 * bytes + release;
      const spLo = peek(cpu, size, stack);
      const spHi = size === 64 ? cpu.hi : 0;
      const ssSelector = peek(cpu, size, stack + bytes) & 0xffff;
      const to64 = cpu.longMode && (descriptorAttributes(d.hi) & SegAttrBits.L) !== 0;
      const ss = returnStackSegment(cpu, ssSelector, rpl, to64);
      loadCodeSegment(cpu, selector, d, rpl);
      loadStackSegment(cpu, ssSelector, ss, rpl);
      cpu.updateMode();
      setStackPointer(cpu, size, spLo, spHi);
      discard(cpu, release);
      invalidateDataSegments(cpu, rpl);
    }
    cpu.ripLo = targetLo;
    cpu.ripHi = targetHi;
    cpu.updateMode();
  };

export function install(t: OpcodeTable): void {
  const branch = OpFlag.Branch | OpFlag.EndsBlock;
  const rm = OpFlag.ModRM;

  t.define(0xea, {
    name: 'ljmp',
    exec: farDirect(false),
    flags: branch | OpFlag.Invalid64,
    imm: Imm.Ap,
  });
  t.define(0x9a, {
    name: 'lcall',
    exec: farDirect(true),
    flags: branch | OpFlag.Invalid64,
    imm: Imm.Ap,
  });
  t.defineGroup(0xff, 5, {
    name: 'ljmp',
    exec: sized((s) => farIndirect(false, s)),
    flags: branch | rm | OpFlag.MemOnly,
  });
  t.defineGroup(0xff, 3, {
    name: 'lcall',
    exec: sized((s) => farIndirect(true, s)),
    flags: branch | rm | OpFlag.MemOnly,
  });
  t.define(0xcb, { name: 'lret', exec: sized(farRet), flags: branch });
  t.define(0xca, { name: 'lret', exec: sized(farRet), flags: branch, imm: Imm.Iw });
}
