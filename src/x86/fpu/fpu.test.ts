/**
 * Unit tests of the x87 building blocks that the differential tests (isa/x87.test.ts)
 * cannot reach on this host: conversions against JavaScript's own doubles, the FXSAVE
 * helpers' 32-bit layout and FOP/FIP/FDP (this AMD host's FXSAVE hides them), the real-mode
 * FNSTENV formats, MMX aliasing, and #NM/#MF with the CR0 bits.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Cr0 } from '../cpu.js';
import { ExitReason } from '../exit.js';
import { P2m } from '../memory.js';
import { TestMachine } from '../testing/machine.js';
import { add, div, mul, sqrt } from './arith80.js';
import {
  F80,
  fromBcd,
  fromDouble,
  fromInt64,
  Pair,
  Rc,
  toBcd,
  toDouble,
  toFloat32,
  toInt,
} from './float80.js';
import { x87FromFxsave, x87ToFxsave } from './fxsave-x87.js';
import { emms, mmxEnter, readMmx, writeMmx } from './mmx.js';
import { fullTagWord, loadEnvironment, storeEnvironment } from './x87.js';

let seed = 0x1234567;
function rand32(): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
}

function randomDouble(): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setUint32(0, rand32(), true);
  view.setUint32(4, rand32(), true);
  return view.getFloat64(0, true);
}

describe('float80 conversions', () => {
  test('double → 80-bit → double is the identity (denormals, infinities, signed zeros)', () => {
    const v = new F80();
    const specials = [
      0,
      -0,
      1,
      -1,
      Infinity,
      -Infinity,
      5e-324,
      -5e-324,
      2.2250738585072014e-308,
      Number.MAX_VALUE,
    ];
    for (const d of specials) assert.ok(Object.is(toDouble(fromDouble(d, v)), d), `${d}`);
    for (let k = 0; k < 20000; k++) {
      const d = randomDouble();
      const back = toDouble(fromDouble(d, v));
      if (Number.isNaN(d)) assert.ok(Number.isNaN(back));
      else assert.ok(Object.is(back, d), `${d}`);
    }
  });

  test('add, mul, div and sqrt at double precision agree with JavaScript on random doubles', () => {
    const a = new F80();
    const b = new F80();
    const r = new F80();
    const fcw = 0x027f; // PC = double, RC = nearest
    for (let k = 0; k < 20000; k++) {
      const x = randomDouble();
      const y = k % 7 === 0 ? x * (1 + 2 ** -40) : randomDouble();
      fromDouble(x, a);
      fromDouble(y, b);
      // Results representable as doubles but outside the double exponent range differ
      // (the x87 keeps the 15-bit exponent); compare only those inside it.
      const cases: [string, number, () => void][] = [
        ['add', x + y, () => add(a, b, false, fcw, r)],
        ['sub', x - y, () => add(a, b, true, fcw, r)],
        ['mul', x * y, () => mul(a, b, fcw, r)],
        ['div', x / y, () => div(a, b, fcw, r)],
        ['sqrt', Math.sqrt(x), () => sqrt(a, fcw, r)],
      ];
      for (const [name, expected, run] of cases) {
        if (
          !Number.isFinite(expected) ||
          (expected !== 0 && Math.abs(expected) < 2.2250738585072014e-308)
        )
          continue;
        if (Number.isNaN(x) || Number.isNaN(y)) continue;
        run();
        const got = toDouble(r);
        assert.ok(Object.is(got, expected), `${name}(${x}, ${y}) = ${got}, expected ${expected}`);
      }
    }
  });

  test('FIST rounding modes and the integer indefinite', () => {
    const v = new F80();
    const out = new Pair();
    const table: [number, number, number, number, number][] = [
      // value, nearest, down, up, zero
      [2.5, 2, 2, 3, 2],
      [3.5, 4, 3, 4, 3],
      [-2.5, -2, -3, -2, -2],
      [-0.4, 0, -1, 0, 0],
      [0.6, 1, 0, 1, 0],
      [-32768.4, -32768, -32769, -32768, -32768],
    ];
    for (const [value, ...expected] of table) {
      for (const rc of [Rc.Nearest, Rc.Down, Rc.Up, Rc.Zero]) {
        toInt(fromDouble(value, v), 32, rc, out);
        assert.equal(out.lo, expected[rc], `${value} rc=${rc}`);
      }
    }
    assert.equal(toInt(fromDouble(32768, v), 16, Rc.Nearest, out), 0x1);
    assert.equal(out.lo, 0x8000);
    toInt(fromDouble(-32768, v), 16, Rc.Nearest, out);
    assert.equal(out.lo, 0x8000);
    toInt(fromInt64(-1, 0x7fffffff, v), 64, Rc.Nearest, out);
    assert.deepEqual([out.lo, out.hi], [-1, 0x7fffffff]);
    toInt(fromInt64(0, 0x80000000 | 0, v), 64, Rc.Nearest, out);
    assert.deepEqual([out.lo, out.hi], [0, 0x80000000 | 0]);
  });

  test('FILD m64 is exact at the extremes', () => {
    const v = new F80();
    assert.deepEqual({ ...fromInt64(-1, 0x7fffffff, v) }, { se: 0x403d, hi: -1, lo: -2 });
    assert.deepEqual(
      { ...fromInt64(0, 0x80000000 | 0, v) },
      { se: 0xc03e, hi: 0x80000000 | 0, lo: 0 },
    );
    assert.deepEqual({ ...fromInt64(-1, -1, v) }, { se: 0xbfff, hi: 0x80000000 | 0, lo: 0 });
  });

  test('packed BCD round trip and FST m32 of a value needing rounding', () => {
    const v = new F80();
    const bytes = new Uint8Array(10);
    const digits = Uint8Array.from([0x89, 0x67, 0x45, 0x23, 0x01, 0x89, 0x67, 0x45, 0x23, 0x80]);
    fromBcd(digits, v);
    const integer = new Pair();
    toInt(v, 64, Rc.Nearest, integer);
    assert.equal((BigInt(integer.hi) << 32n) | BigInt(integer.lo >>> 0), -234567890123456789n);
    assert.equal(toBcd(v, Rc.Nearest, bytes), 0);
    assert.deepEqual(bytes, digits);
    const out = new Pair();
    fromDouble(1 + 2 ** -24, v); // a tie: rounds to even
    assert.equal(toFloat32(v, Rc.Nearest, out), 0x20);
    assert.equal(out.lo, 0x3f800000);
    assert.equal(toFloat32(v, Rc.Up, out), 0x220);
    assert.equal(out.lo, 0x3f800001);
  });
});

/** A 64-bit test machine running `code` (bytes) at 0x100000 until VMCALL or a fault. */
function machine(): TestMachine {
  const m = new TestMachine();
  m.map(0x100000, 0x3000);
  return m;
}

function run(m: TestMachine, code: number[]): ExitReason {
  m.write(0x100000, new Uint8Array([...code, 0x0f, 0x01, 0xc1]));
  const cpu = m.cpu;
  cpu.blocks.invalidateFrame(m.p2m[0x100]! & P2m.FrameMask, cpu);
  cpu.ripLo = 0x100000;
  cpu.gpr[8] = 0x102ff0;
  return cpu.run(100).reason;
}

describe('x87 state, exceptions and helpers', () => {
  test('#NM with CR0.TS or CR0.EM; FWAIT faults only with MP and TS', () => {
    const m = machine();
    const cpu = m.enterLongMode();
    const faults: number[] = [];
    cpu.raise = (vector: number): boolean => {
      faults.push(vector);
      cpu.exitAfter(ExitReason.Shutdown);
      return true;
    };
    cpu.cr0 |= Cr0.TS;
    run(m, [0xd9, 0xe8]); // fld1
    cpu.cr0 = (cpu.cr0 & ~Cr0.TS) | Cr0.EM;
    run(m, [0xd9, 0xe8]);
    cpu.cr0 = (cpu.cr0 & ~(Cr0.EM | Cr0.MP)) | Cr0.TS;
    assert.equal(run(m, [0x9b]), ExitReason.Hypercall); // fwait: TS without MP
    cpu.cr0 |= Cr0.MP;
    run(m, [0x9b]);
    assert.deepEqual(faults, [7, 7, 7]);
    assert.equal(cpu.fpu.top, 0);
  });

  test('a pending exception raises #MF on the next waiting instruction only with CR0.NE', () => {
    const m = machine();
    const cpu = m.enterLongMode();
    const faults: number[] = [];
    cpu.raise = (vector: number): boolean => {
      faults.push(vector);
      cpu.exitAfter(ExitReason.Shutdown);
      return true;
    };
    cpu.fpu.fcw = 0x37b; // ZE unmasked
    run(m, [0xd9, 0xe8, 0xd9, 0xee, 0xd8, 0xf9]); // fld1; fldz; fdivr st0, st1 → 1/0
    assert.equal(cpu.fpu.fsw & 0x8084, 0x8084);
    run(m, [0xd9, 0xd0]); // fnop
    assert.deepEqual(faults, [16]);
    cpu.cr0 &= ~Cr0.NE;
    assert.equal(run(m, [0xd9, 0xd0]), ExitReason.Hypercall);
  });

  test('FOP, FIP and FDP of the last non-control instruction, in both FXSAVE layouts', () => {
    const m = machine();
    const cpu = m.enterLongMode();
    m.map(0x200000, 0x1000);
    cpu.gpr[3 * 2] = 0x200000; // rbx
    // fld1; fstp qword [rbx+8]; fnstcw [rbx] (control: leaves the pointers)
    run(m, [0xd9, 0xe8, 0xdd, 0x5b, 0x08, 0xd9, 0x3b]);
    const image = new Uint8Array(512);
    const view = new DataView(image.buffer);
    x87ToFxsave(cpu, view, 0, true);
    assert.equal(view.getUint16(6, true), 0x55b); // DD 5B
    assert.equal(view.getBigUint64(8, true), 0x100002n);
    assert.equal(view.getBigUint64(16, true), 0x200008n);
    x87ToFxsave(cpu, view, 0, false);
    assert.equal(view.getUint32(8, true), 0x100002);
    assert.equal(view.getUint16(12, true), 0x08); // CS
    assert.equal(view.getUint32(16, true), 0x200008);
    assert.equal(view.getUint16(20, true), 0x10); // DS
    // And back.
    view.setUint16(0, 0x027f, true);
    view.setUint16(2, 0x2001, true); // TOP 4, IE
    view.setUint8(4, 0x10); // R4 non-empty
    view.setBigUint64(32, 0x8000000000000000n, true);
    view.setUint16(40, 0x3fff, true);
    x87FromFxsave(cpu, view, 0, false);
    const fpu = cpu.fpu;
    assert.deepEqual([fpu.fcw, fpu.fsw, fpu.top, fullTagWord(fpu)], [0x027f, 0x0001, 4, 0xfcff]);
    assert.deepEqual([fpu.fipLo, fpu.fcs, fpu.fdpLo, fpu.fds], [0x100002, 0x08, 0x200008, 0x10]);
  });

  test('real-mode FNSTENV layouts round trip through FLDENV', () => {
    const m = new TestMachine();
    const cpu = m.cpu; // real mode after reset
    const fpu = cpu.fpu;
    m.map(0x10000, 0x1000);
    fpu.fcw = 0x037f;
    fpu.fsw = 0x4121;
    fpu.top = 3;
    fpu.ftw = 0x3fff;
    fpu.st.set([0, 0x80000000 | 0, 0x3fff], 21); // R7 = 1.0, tagged valid
    fpu.fcs = 0x1234;
    fpu.fipLo = 0x5678;
    fpu.fds = 0x9abc;
    fpu.fdpLo = 0xdef0;
    fpu.fop = 0x5ab;
    for (const opsize of [16, 32]) {
      storeEnvironment(cpu, 0x10000, 0, opsize);
      const bytes = m.read(0x10000, 28);
      const view = new DataView(bytes.buffer);
      const ip = 0x12340 + 0x5678;
      const dp = 0x9abc0 + 0xdef0;
      if (opsize === 16) {
        assert.equal(view.getUint16(6, true), ip & 0xffff);
        assert.equal(view.getUint16(8, true), ((ip >> 4) & 0xf000) | 0x5ab);
        assert.equal(view.getUint16(10, true), dp & 0xffff);
        assert.equal(view.getUint16(12, true), (dp >> 4) & 0xf000);
      } else {
        assert.equal(view.getUint32(12, true), (0xffff0000 | (ip & 0xffff)) >>> 0);
        assert.equal(view.getUint32(16, true), ((ip >>> 4) & 0x0ffff000) | 0x5ab);
      }
      const saved = { fcw: fpu.fcw, fsw: fpu.fsw, top: fpu.top, ftw: fpu.ftw };
      fpu.resetX87();
      loadEnvironment(cpu, 0x10000, 0, opsize);
      assert.deepEqual({ fcw: fpu.fcw, fsw: fpu.fsw, top: fpu.top, ftw: fpu.ftw }, saved);
      assert.deepEqual(
        [fpu.fipLo, fpu.fdpLo, fpu.fop],
        [0x12340 + 0x5678, 0x9abc0 + 0xdef0, 0x5ab],
      );
      fpu.fcs = 0x1234;
      fpu.fipLo = 0x5678;
      fpu.fds = 0x9abc;
      fpu.fdpLo = 0xdef0;
    }
  });

  test('MMX aliasing: writes set the exponent to ones, TOP to 0 and every tag; EMMS empties', () => {
    const m = machine();
    const cpu = m.enterLongMode();
    const fpu = cpu.fpu;
    fpu.top = 5;
    writeMmx(cpu, 3, 0x11223344, 0x55667788);
    assert.equal(fpu.top, 0);
    assert.deepEqual([...fpu.st.subarray(9, 12)], [0x11223344, 0x55667788, 0xffff]);
    assert.equal(fullTagWord(fpu), 0x5595); // R3 special, the zero registers tagged zero
    assert.equal(readMmx(cpu, 3), 0x11223344);
    assert.equal(cpu.hi, 0x55667788);
    emms(cpu);
    assert.equal(fpu.ftw, 0xffff);
    readMmx(cpu, 0);
    assert.equal(fpu.ftw & 3, 1);
    cpu.cr0 |= Cr0.EM;
    assert.throws(
      () => mmxEnter(cpu),
      (f: { vector: number }) => f.vector === 6,
    );
    cpu.cr0 = (cpu.cr0 & ~Cr0.EM) | Cr0.TS;
    assert.throws(
      () => mmxEnter(cpu),
      (f: { vector: number }) => f.vector === 7,
    );
  });
});
