/**
 * LAHF SAHF PUSHF POPF (flagops.ts): against the host CPU at CPL 3, and in the emulator for the
 * privilege rules the native tests (CPL 3, IOPL 0) cannot reach: CPL 0, IOPL 3, 16-bit forms,
 * and the VM86 rules with and without CR4.VME (exercised by setting RFLAGS.VM under the
 * handlers directly).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cr4 } from '../cpu.js';
import { ExitReason } from '../exit.js';
import { Flag, Lazy, LazyOp } from '../flags.js';
import { OpFlag } from '../table.js';
import { add, rand64, randFlags } from '../testing/integer-cases.js';
import { differentialSuite } from '../testing/integer-suite.js';
import { TestMachine } from '../testing/machine.js';
import { opcodeTable } from './index.js';

const CODE = 0x100000;
const STACK = 0x200000;
const RSP = STACK + 0x800;
const VMCALL = [0x0f, 0x01, 0xc1];

interface Run {
  flags: number;
  vector: number;
  rsp: number;
  /** The 8 bytes at the final RSP. */
  top: number;
}

/** Runs `code` at `cpl` with RFLAGS = `flags` (IF as given) and RBX = `rbx`. */
function run(code: number[], cpl: 0 | 3, flags: number, rbx: number, cr4 = 0): Run {
  const machine = new TestMachine(64);
  machine.map(CODE, 0x1000);
  machine.map(STACK, 0x1000);
  machine.write(CODE, new Uint8Array([...code, ...VMCALL]));
  const cpu = machine.enterLongMode(cpl);
  cpu.cr4 |= cr4;
  cpu.flags = flags | Flag.Fixed;
  cpu.lazy[Lazy.Op] = LazyOp.Eager;
  cpu.gpr[3 * 2] = rbx;
  cpu.gpr[4 * 2] = RSP;
  cpu.ripLo = CODE;
  let vector = -1;
  cpu.raise = (v: number) => {
    vector = v;
    cpu.exit.reason = ExitReason.Shutdown;
    return false;
  };
  const exit = cpu.run(100);
  if (vector < 0) assert.equal(exit.reason, ExitReason.Hypercall);
  const rsp = cpu.gpr[4 * 2]!;
  const bytes = machine.read(rsp, 8);
  const top = new DataView(bytes.buffer).getUint32(0, true);
  return { flags: cpu.readFlags(), vector, rsp, top };
}

const PUSH_RBX_POPF = [0x53, 0x9d];
const PUSH_BX_POPFW = [0x66, 0x53, 0x66, 0x9d];
const PUSHF = [0x9c];
const PUSHFW = [0x66, 0x9c];
const IOPL3 = Flag.IOPL;
const RESERVED = (1 << 3) | (1 << 5) | (1 << 15) | (1 << 22) | (1 << 31);

describe('POPF/PUSHF privilege rules', () => {
  test('CPL 0: IF and IOPL are writable, RF is cleared, VM VIF VIP and reserved bits are kept', () => {
    const popped =
      Flag.IF |
      IOPL3 |
      Flag.AC |
      Flag.ID |
      Flag.NT |
      Flag.DF |
      Flag.CF |
      Flag.RF |
      Flag.VM |
      RESERVED;
    const r = run(PUSH_RBX_POPF, 0, Flag.VIF | Flag.VIP, popped);
    assert.equal(r.vector, -1);
    assert.equal(
      r.flags,
      Flag.Fixed |
        Flag.IF |
        IOPL3 |
        Flag.AC |
        Flag.ID |
        Flag.NT |
        Flag.DF |
        Flag.CF |
        Flag.VIF |
        Flag.VIP,
    );
    assert.equal(r.rsp, RSP);
  });

  test('CPL 3, IOPL 0: IF and IOPL keep their values', () => {
    assert.equal(
      run(PUSH_RBX_POPF, 3, Flag.IF, IOPL3 | Flag.ZF).flags,
      Flag.Fixed | Flag.IF | Flag.ZF,
    );
  });

  test('CPL 3, IOPL 3: IF is writable, IOPL is not', () => {
    assert.equal(
      run(PUSH_RBX_POPF, 3, Flag.IF | IOPL3, Flag.CF).flags,
      Flag.Fixed | IOPL3 | Flag.CF,
    );
  });

  test('16-bit POPF writes only bits 0-15 and leaves RF alone', () => {
    const before = Flag.AC | Flag.ID | Flag.RF | Flag.IF;
    const r = run(PUSH_BX_POPFW, 0, before, Flag.SF | Flag.DF | IOPL3);
    assert.equal(r.flags, Flag.Fixed | Flag.AC | Flag.ID | Flag.RF | Flag.SF | Flag.DF | IOPL3);
  });

  test('PUSHF pushes RFLAGS without VM and RF; PUSHFW the low 16 bits', () => {
    const flags = Flag.IF | Flag.AC | Flag.RF | Flag.ZF;
    const r = run(PUSHF, 0, flags, 0);
    assert.equal(r.rsp, RSP - 8);
    assert.equal(r.top, Flag.Fixed | Flag.IF | Flag.AC | Flag.ZF);
    const w = run(PUSHFW, 0, flags, 0);
    assert.equal(w.rsp, RSP - 2);
    assert.equal(w.top & 0xffff, Flag.Fixed | Flag.IF | Flag.ZF);
  });

  test('VM86 with IOPL < 3: #GP without CR4.VME, and for 32/64-bit forms', () => {
    for (const code of [PUSH_RBX_POPF, PUSH_BX_POPFW, PUSHF, PUSHFW]) {
      assert.equal(run(code, 3, Flag.VM | Flag.IF, 0).vector, 13);
    }
    assert.equal(run(PUSH_RBX_POPF, 3, Flag.VM, 0, Cr4.VME).vector, 13);
    assert.equal(run(PUSHF, 3, Flag.VM, 0, Cr4.VME).vector, 13);
  });

  test('VM86 with CR4.VME: POPFW moves IF to VIF; TF, or IF with VIP, is #GP', () => {
    const r = run(PUSH_BX_POPFW, 3, Flag.VM, Flag.IF | Flag.CF | IOPL3, Cr4.VME);
    assert.equal(r.vector, -1);
    assert.equal(r.flags, Flag.Fixed | Flag.VM | Flag.VIF | Flag.CF);
    assert.equal(run(PUSH_BX_POPFW, 3, Flag.VM, Flag.TF, Cr4.VME).vector, 13);
    assert.equal(run(PUSH_BX_POPFW, 3, Flag.VM | Flag.VIP, Flag.IF, Cr4.VME).vector, 13);
  });

  test('VM86 with CR4.VME: PUSHFW shows VIF as IF and IOPL as 3', () => {
    const r = run(PUSHFW, 3, Flag.VM | Flag.VIF | Flag.ZF, 0, Cr4.VME);
    assert.equal(r.vector, -1);
    assert.equal(r.top & 0xffff, Flag.Fixed | Flag.IF | IOPL3 | Flag.ZF);
  });

  test('VM86 with IOPL 3: POPF writes IF but not IOPL, keeps VM, clears RF', () => {
    const r = run(PUSH_RBX_POPF, 3, Flag.VM | IOPL3 | Flag.RF, Flag.IF | Flag.OF);
    assert.equal(r.flags, Flag.Fixed | Flag.VM | IOPL3 | Flag.IF | Flag.OF);
  });

  test('POPF ends its block (it may set IF or TF); both default to 64 bits', () => {
    const popf = opcodeTable.oneByte[0x9d];
    const pushf = opcodeTable.oneByte[0x9c];
    assert.ok(popf && 'exec' in popf && pushf && 'exec' in pushf);
    assert.ok((popf.flags ?? 0) & OpFlag.EndsBlock);
    assert.ok((popf.flags ?? 0) & OpFlag.Default64);
    assert.ok((pushf.flags ?? 0) & OpFlag.Default64);
  });
});

function genLahfSahf(): void {
  for (let k = 0; k < 24; k++) {
    add('lahf/sahf', 'lahf', {});
    add('lahf/sahf', 'sahf', {});
  }
}

function genFlagsStack(): void {
  for (let k = 0; k < 12; k++) {
    add('pushf/popf', 'pushf', {
      stack: true,
      rflags: randFlags() | (k & 1 ? 0x400 : 0) | (k & 2 ? 0x40000 : 0) | (k & 4 ? 0x200000 : 0),
    });
    add('pushf/popf', 'pushfw', { stack: true });
    // POPF at CPL 3: IF and IOPL keep their values, TF is left clear.
    const popped = rand64() & ~0x100n & ~0x4000n;
    add('pushf/popf', 'push %rbx; popf', { set: { rbx: popped }, stack: true });
    add('pushf/popf', 'push %bx; popfw', { set: { rbx: popped }, stack: true });
    add('pushf/popf', 'popf; pushf', { set: { rbx: popped }, stack: true });
  }
}

differentialSuite('LAHF SAHF PUSHF POPF: differential against the host CPU', 0x243f6a88, {
  random: () => {
    genLahfSahf();
    genFlagsStack();
  },
});
