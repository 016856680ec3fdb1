// String instructions: differential tests against this machine's processor (the same snippet
// at CPL 3 natively and in the emulator: registers, flags, memory, faults), then what user
// mode cannot show natively — 16- and 32-bit address wrap, MMIO, port strings, single-step,
// and the interruptible long REP.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type Cpu, Reg } from '../cpu.js';
import { ExitReason } from '../exit.js';
import { Flag } from '../flags.js';
import { Seg } from '../segments.js';
import { fuzzScale, fuzzSeeded } from '../testing/fuzz.js';
import { TestMachine } from '../testing/machine.js';
import { assemble } from '../testing/native/assemble.js';
import { LAYOUT } from '../testing/native/native.js';
import { hostDifferences, toBigint, UserModeMachine } from '../testing/user-mode.js';

const D = LAYOUT.data;
const DF = Flag.DF;

/** A deterministic pseudo-random sequence (xorshift32). */
function random(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

/** The data region every case starts from: random bytes, a copy for CMPS, a run for SCAS. */
function dataRegion(): Uint8Array {
  const next = random(fuzzSeeded(0x5eed));
  const data = new Uint8Array(LAYOUT.regionSize);
  for (let i = 0; i < data.length; i++) data[i] = next() & 0xff;
  data.copyWithin(0x8000, 0, 0x2000);
  for (const at of [0x123, 0x777, 0x1ff0]) data[0x8000 + at]! ^= 0x10;
  data.fill(0x5a, 0xa000, 0xc000);
  return data;
}

const DATA = dataRegion();

interface StringCase {
  name: string;
  source: string;
  rflags?: number;
}

const SUFFIX: Record<number, string> = { 1: 'b', 2: 'w', 4: 'l', 8: 'q' };
const hex = (n: number): string => `0x${n.toString(16)}`;

/** Registers for a REP over `count` elements of `size` from offsets (first element) src/dst. */
function setup(src: number, dst: number, count: number): string {
  return `mov $${hex(D + src)}, %esi\n mov $${hex(D + dst)}, %edi\n mov $${count}, %ecx\n`;
}

function compareAll(cases: StringCase[]): void {
  const failures = hostDifferences(cases.map((c) => ({ ...c, data: DATA })));
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases differ`);
}

/**
 * XENOTYPE_FUZZ rounds of `generate` (each run before the next is generated: every case
 * carries the 64 KiB data region); the failures of all rounds are reported together.
 */
function compareRounds(generate: () => StringCase[]): void {
  const failures: string[] = [];
  let count = 0;
  for (let round = 0; round < fuzzScale(); round++) {
    const cases = generate();
    count += cases.length;
    failures.push(...hostDifferences(cases.map((c) => ({ ...c, data: DATA }))));
  }
  assert.deepEqual(failures, [], `${failures.length} of ${count} cases differ`);
}

describe('string instructions against the host CPU', () => {
  test('REP MOVS at every size, count, alignment and direction', () => {
    const next = random(fuzzSeeded(1));
    compareRounds(() => {
      const cases: StringCase[] = [];
      const counts = [0, 1, 2, 3, 7, 16, 33, 255, 1000, 4097];
      for (const size of [1, 2, 4, 8]) {
        for (const count of counts) {
          for (const down of [false, true]) {
            const length = count * size;
            if (length > 0x7000) continue;
            const span = length > 0 ? length - size : 0;
            const src = next() % (0x8000 - length);
            const dst = 0x8000 + (next() % (0x8000 - length));
            const first = (offset: number): number => (down ? offset + span : offset);
            cases.push({
              name: `rep movs${SUFFIX[size]} ×${count}${down ? ' DF=1' : ''}`,
              source: `${setup(first(src), first(dst), count)} rep movs${SUFFIX[size]}`,
              rflags: down ? DF : 0,
            });
          }
        }
      }
      return cases;
    });
  });

  test('overlapping REP MOVS repeats the pattern as one element at a time would', () => {
    const cases: StringCase[] = [];
    for (const size of [1, 2, 4, 8]) {
      for (const distance of [1, 2, 3, 4, 5, 7, 8, 9, 16, 63, 64, 65]) {
        for (const down of [false, true]) {
          for (const sign of [1, -1]) {
            const count = 300;
            const src = 0x4000;
            const dst = src + sign * distance;
            const span = (count - 1) * size;
            const first = (offset: number): number => (down ? offset + span : offset);
            cases.push({
              name: `rep movs${SUFFIX[size]} dst=src${sign > 0 ? '+' : '-'}${distance}${down ? ' DF=1' : ''}`,
              source: `${setup(first(src), first(dst), count)} rep movs${SUFFIX[size]}`,
              rflags: down ? DF : 0,
            });
          }
        }
      }
    }
    compareAll(cases);
  });

  test('REP STOS with uniform and patterned values, both directions', () => {
    const next = random(fuzzSeeded(2));
    compareRounds(() => {
      const cases: StringCase[] = [];
      const values = [
        '0',
        '0x41',
        '0x1234',
        '0x01020304',
        '0x7f7f7f7f',
        '0x0102030405060708',
        '-1',
      ];
      for (const size of [1, 2, 4, 8]) {
        for (const count of [0, 1, 5, 64, 513, 3000]) {
          for (const value of values) {
            for (const down of [false, true]) {
              const length = count * size;
              const dst = next() % (0x10000 - length);
              const first = down && count > 0 ? dst + length - size : dst;
              cases.push({
                name: `rep stos${SUFFIX[size]} ×${count} ${value}${down ? ' DF=1' : ''}`,
                source: `movabs $${value}, %rax\n mov $${hex(D + first)}, %edi\n mov $${count}, %ecx\n rep stos${SUFFIX[size]}`,
                rflags: down ? DF : 0,
              });
            }
          }
        }
      }
      return cases;
    });
  });

  test('REPE/REPNE CMPS and SCAS stop where the data says, with the flags of the last compare', () => {
    const cases: StringCase[] = [];
    for (const size of [1, 2, 4, 8]) {
      const s = SUFFIX[size]!;
      for (const count of [0, 1, 0x40, 0x124, 0x800, 0x900]) {
        cases.push({
          name: `repe cmps${s} ×${count}`,
          source: `${setup(0, 0x8000, count)} repe cmps${s}`,
        });
        cases.push({
          name: `repne cmps${s} ×${count}`,
          source: `${setup(0x100, 0x8100, count)} repne cmps${s}`,
        });
        cases.push({
          name: `repe cmps${s} ×${count} DF=1`,
          source: `${setup(0x1ff8, 0x9ff8, count)} repe cmps${s}`,
          rflags: DF,
        });
      }
      const run = '0x5a5a5a5a5a5a5a5a';
      for (const count of [0, 3, 0x1000 / size, 0x2100 / size]) {
        cases.push({
          name: `repe scas${s} over a run ×${count}`,
          source: `movabs $${run}, %rax\n mov $${hex(D + 0xa000)}, %edi\n mov $${count}, %ecx\n repe scas${s}`,
        });
        cases.push({
          name: `repne scas${s} into a run ×${count}`,
          source: `movabs $${run}, %rax\n mov $${hex(D + 0x9000)}, %edi\n mov $${count}, %ecx\n repne scas${s}`,
        });
        cases.push({
          name: `repe scas${s} down a run ×${count}`,
          source: `movabs $${run}, %rax\n mov $${hex(D + 0xbff8)}, %edi\n mov $${count}, %ecx\n repe scas${s}`,
          rflags: DF,
        });
      }
      cases.push({
        name: `repne scas${s} for a value at 0x4321`,
        source: `mov${s} ${hex(D + 0x4321)}, %${{ 1: 'al', 2: 'ax', 4: 'eax', 8: 'rax' }[size]}\n mov $${hex(D + 0x4001)}, %edi\n mov $0x2000, %ecx\n repne scas${s}`,
      });
    }
    // A zero count leaves the flags alone.
    cases.push({
      name: 'repe cmpsb ×0 keeps flags',
      source: `${setup(0, 0, 0)} repe cmpsb`,
      rflags: 0x8d5,
    });
    compareAll(cases);
  });

  test('LODS, single string instructions, REPNE MOVS, FS override, 32-bit addressing', () => {
    const cases: StringCase[] = [];
    for (const size of [1, 2, 4, 8]) {
      const s = SUFFIX[size]!;
      cases.push({ name: `rep lods${s} ×5`, source: `${setup(0x10, 0, 5)} rep lods${s}` });
      cases.push({ name: `lods${s}`, source: `${setup(0x11, 0, 0)} lods${s}` });
      cases.push({ name: `movs${s}`, source: `${setup(0x13, 0x805, 0)} movs${s}\n movs${s}` });
      cases.push({
        name: `stos${s} DF=1`,
        source: `${setup(0, 0x21, 0)} mov $-3, %rax\n stos${s}`,
        rflags: DF,
      });
      cases.push({ name: `cmps${s}`, source: `${setup(0x30, 0x8030, 0)} cmps${s}` });
      cases.push({
        name: `scas${s}`,
        source: `${setup(0, 0x77, 0)} mov $0x12345678, %eax\n scas${s}`,
      });
      cases.push({
        name: `addr32 rep movs${s} with garbage above ESI/EDI/ECX`,
        source: `movabs $0xdead000020000010, %rsi\n movabs $0xbeef000020008100, %rdi\n movabs $0x1234567800000021, %rcx\n addr32 rep movs${s}`,
      });
      cases.push({
        name: `addr32 rep stos${s} ECX=0 with garbage above it`,
        source: `movabs $0xbeef000020008100, %rdi\n movabs $0x1234567800000000, %rcx\n addr32 rep stos${s}`,
      });
    }
    cases.push({
      name: 'rep outsb at CPL 3',
      source: 'mov $0x3f8, %dx\n mov $2, %ecx\n rep outsb',
    });
    cases.push({ name: 'insb at CPL 3', source: `mov $0x3f8, %dx\n mov $${hex(D)}, %edi\n insb` });
    cases.push({ name: 'repne movsb', source: `${setup(0, 0x8000, 77)} repne movsb` });
    cases.push({
      name: 'fs rep movsb',
      source: `${setup(0, 0x8000, 77)} rep movsb %fs:(%rsi), %es:(%rdi)`,
    });
    cases.push({
      name: 'repe cmpsb %fs:',
      source: `${setup(0, 0x8000, 0x200)} repe cmpsb %es:(%rdi), %fs:(%rsi)`,
    });
    compareAll(cases);
  });

  test('long REPs cross pages and yield to the run loop without losing their place', () => {
    compareAll([
      {
        name: 'rep stosb ×60000',
        source: `mov $0x99, %al\n mov $${hex(D + 0x100)}, %edi\n mov $60000, %ecx\n rep stosb`,
      },
      { name: 'rep movsb ×30000', source: `${setup(0x10, 0x8003, 30000)} rep movsb` },
      { name: 'rep movsq ×7000', source: `${setup(0x8, 0x3, 7000)} rep movsq` },
      {
        name: 'rep movsl ×12000 DF=1',
        source: `${setup(0xbb00, 0xfff0, 12000)} rep movsl`,
        rflags: DF,
      },
      {
        name: 'repe scasb ×0xf000',
        source: `xor %eax, %eax\n mov $${hex(D)}, %edi\n mov $0xf000, %ecx\n repe scasb`,
      },
    ]);
  });

  test('a fault in the middle of a REP leaves the registers at the faulting element', () => {
    compareAll([
      { name: 'rep movsb off the end', source: `${setup(0x100, 0xff00, 0x300)} rep movsb` },
      { name: 'rep movsq straddling the end', source: `${setup(0xffc3, 0x100, 0x10)} rep movsq` },
      {
        name: 'rep stosq off the end',
        source: `mov $${hex(D + 0xfe00)}, %edi\n mov $0x100, %ecx\n rep stosq`,
      },
      {
        name: 'rep stosb below the start',
        source: `mov $${hex(D + 0x50)}, %edi\n mov $0x100, %ecx\n rep stosb`,
        rflags: DF,
      },
      {
        name: 'repe cmpsl off the end',
        source: `${setup(0xa000, 0xfe00, 0x300)} mov $${hex(D + 0xa000)}, %edi\n mov $${hex(D + 0xff00)}, %esi\n repe cmpsl`,
      },
      { name: 'rep lodsw off the end', source: `${setup(0xfff0, 0, 0x40)} rep lodsw` },
    ]);
  });

  test('a write that straddles into a missing page reports CR2 at the start of that page', () => {
    compareAll([
      {
        name: 'rep stosq off the end, misaligned',
        source: `mov $${hex(D + 0xfe04)}, %edi\n mov $0x100, %ecx\n rep stosq`,
      },
    ]);
  });

  test('REP STOS over the code that follows it: the new bytes run', () => {
    compareAll([
      {
        name: 'rep stosb over ud2',
        source:
          'lea 1f(%rip), %rdi\n mov $2, %ecx\n mov $0x90, %al\n rep stosb\n 1: ud2\n mov $7, %ebx',
      },
      {
        name: 'rep movsb of a mov over ud2',
        source:
          'lea 2f(%rip), %rsi\n lea 1f(%rip), %rdi\n mov $5, %ecx\n rep movsb\n 1: ud2\n ud2\n nop\n jmp 3f\n 2: mov $9, %ebx\n 3:',
      },
    ]);
  });
});

// ---------------------------------------------------------------------------------------
// Emulator-only behaviour.

const CODE = 0x100000;

/** A 64-bit machine running `source` (AT&T, 64-bit) at CODE, kernel mode. */
function longMode(source: string): { machine: TestMachine; cpu: Cpu } {
  const machine = new TestMachine();
  machine.map(CODE, 0x10000);
  machine.map(0x200000, 0x10000);
  machine.write(CODE, assemble(`${source}\n vmcall`, 64, { origin: CODE }));
  const cpu = machine.enterLongMode();
  cpu.gpr[Reg.RSP * 2] = CODE + 0xff00;
  cpu.ripLo = CODE;
  return { machine, cpu };
}

function runToHypercall(cpu: Cpu, budget = 1_000_000): void {
  const exit = cpu.run(budget);
  assert.equal(
    exit.reason,
    ExitReason.Hypercall,
    `exit ${exit.reason} at ${cpu.ripLo.toString(16)}`,
  );
}

const IDT = 0x8000;
const HANDLER = 0x9000;

/** An IDT sending every vector to HANDLER: VMCALL, then IRETQ. */
function installIdt(machine: TestMachine, cpu: Cpu): void {
  machine.map(IDT, 0x2000);
  machine.write(HANDLER, new Uint8Array([0x0f, 0x01, 0xc1, 0x48, 0xcf]));
  for (let vector = 0; vector < 256; vector++) {
    machine.write32(IDT + vector * 16, (0x08 << 16) | HANDLER);
    machine.write32(IDT + vector * 16 + 4, 0x8e00);
  }
  cpu.idtBaseLo = IDT;
  cpu.idtLimit = 0xfff;
}

/** The RIP saved by an interrupt or trap without error code, at the top of the stack. */
function frameRip(machine: TestMachine, cpu: Cpu): number {
  return new DataView(machine.read(cpu.gpr[Reg.RSP * 2]!, 8).buffer).getUint32(0, true);
}

const reg = (cpu: Cpu, n: number): bigint => toBigint(cpu.gpr[n * 2]!, cpu.gpr[n * 2 + 1]!);

describe('string instructions in the emulator', () => {
  test('32-bit addressing wraps ESI at 4 GiB', () => {
    const { machine, cpu } = longMode(
      'mov $0xfffffffe, %esi\n mov $0x200000, %edi\n mov $4, %ecx\n addr32 rep movsb',
    );
    machine.map(0xfffff000, 0x1000);
    machine.write(0xfffffffe, new Uint8Array([0xaa, 0xbb]));
    const low = machine.read(0, 2);
    runToHypercall(cpu);
    assert.deepEqual([...machine.read(0x200000, 4)], [0xaa, 0xbb, low[0], low[1]]);
    assert.equal(reg(cpu, Reg.RSI), 2n);
    assert.equal(reg(cpu, Reg.RDI), 0x200004n);
    assert.equal(reg(cpu, Reg.RCX), 0n);
  });

  test('16-bit addressing in real mode wraps SI and DI inside the segment, up and down', () => {
    const machine = new TestMachine();
    machine.map(0x10000, 0x30000);
    const code = assemble(
      `mov $0x2000, %ax\n mov %ax, %ds\n mov $0x3000, %ax\n mov %ax, %es
       mov $0xfffe, %si\n mov $0xfffd, %di\n mov $4, %cx\n cld\n rep movsb
       mov $0x0002, %si\n mov $0x8002, %di\n mov $3, %cx\n std\n rep movsw
       vmcall`,
      16,
      { origin: 0 },
    );
    machine.write(0x10000, code);
    const source = new Uint8Array(0x10000);
    for (let i = 0; i < source.length; i++) source[i] = (i & 0xff) ^ (i >> 8) ^ 0x5c;
    machine.write(0x20000, source);
    const cpu = machine.cpu;
    cpu.reset();
    cpu.segSel[Seg.CS] = 0x1000;
    cpu.segBaseLo[Seg.CS] = 0x10000;
    cpu.ripLo = 0;
    cpu.gpr[Reg.RSI * 2] = 0x12340000; // the high half of ESI is kept
    runToHypercall(cpu);
    const es = (offset: number): number => machine.read(0x30000 + offset, 1)[0]!;
    const src = (offset: number): number => source[offset]!;
    // Forward: DS:fffe DS:ffff DS:0000 DS:0001 → ES:fffd ES:fffe ES:ffff ES:0000.
    assert.deepEqual(
      [es(0xfffd), es(0xfffe), es(0xffff), es(0)],
      [src(0xfffe), src(0xffff), src(0), src(1)],
    );
    // Backward words: SI 0002, 0000, fffe → DI 8002, 8000, 7ffe.
    assert.deepEqual(
      [es(0x8002), es(0x8003), es(0x8000), es(0x8001), es(0x7ffe), es(0x7fff)],
      [src(2), src(3), src(0), src(1), src(0xfffe), src(0xffff)],
    );
    assert.equal(cpu.gpr[Reg.RSI * 2]! >>> 0, 0x1234fffc);
    assert.equal(cpu.gpr[Reg.RDI * 2]! & 0xffff, 0x7ffc);
    assert.equal(cpu.gpr[Reg.RCX * 2]! & 0xffff, 0);
  });

  test('a long REP yields to the run loop: an interrupt is taken in the middle, then it continues', () => {
    const { machine, cpu } = longMode(
      'mov $0x200000, %edi\n mov $0x40000, %ecx\n mov $0x77, %al\n rep stosb',
    );
    machine.map(0x200000, 0x40000);
    installIdt(machine, cpu);
    cpu.flags |= Flag.IF;
    const rep = CODE + 12;
    assert.equal(cpu.run(4).reason, ExitReason.Budget);
    assert.equal(cpu.ripLo, rep, 'RIP stays on the REP');
    const left = cpu.gpr[Reg.RCX * 2]!;
    assert.ok(left > 0 && left < 0x40000, `the REP stopped part-way (rcx ${left.toString(16)})`);
    cpu.injectInterrupt(0x40);
    runToHypercall(cpu);
    assert.equal(cpu.ripLo, HANDLER + 3, 'the interrupt handler runs');
    assert.equal(frameRip(machine, cpu), rep, 'the interrupt returns to the REP');
    assert.equal(cpu.gpr[Reg.RCX * 2], left);
    runToHypercall(cpu);
    assert.equal(cpu.ripLo, CODE + 12 + 2 + 3);
    assert.equal(cpu.gpr[Reg.RCX * 2], 0);
    assert.ok(machine.read(0x200000, 0x40000).every((b) => b === 0x77));
  });

  test('single-step: a #DB after each REP iteration, with RIP on the REP until it is done', () => {
    const { machine, cpu } = longMode('rep stosb\n nop');
    installIdt(machine, cpu);
    cpu.gpr[Reg.RDI * 2] = 0x200000;
    cpu.gpr[Reg.RCX * 2] = 3;
    cpu.flags |= Flag.TF;
    const stops: [number, number][] = [];
    for (let k = 0; k < 4; k++) {
      runToHypercall(cpu);
      assert.equal(cpu.ripLo, HANDLER + 3);
      stops.push([frameRip(machine, cpu) - CODE, cpu.gpr[Reg.RCX * 2]!]);
    }
    assert.deepEqual(stops, [
      [0, 2],
      [0, 1],
      [2, 0],
      [3, 0],
    ]);
    assert.ok(cpu.dr[12]! & (1 << 14), 'DR6.BS');
    runToHypercall(cpu); // the VMCALL after the NOP, single-stepped: its trap is still to come
    assert.equal(cpu.ripLo, CODE + 6);
    runToHypercall(cpu);
    assert.equal(cpu.ripLo, HANDLER + 3);
    assert.equal(frameRip(machine, cpu), CODE + 6);
  });

  test('MMIO: REP MOVS into an unbacked page exits once per element and continues', () => {
    const { machine, cpu } = longMode(
      'mov $0x200000, %esi\n mov $0x300000, %edi\n mov $3, %ecx\n rep movsw',
    );
    machine.write(0x200000, new Uint8Array([1, 2, 3, 4, 5, 6]));
    const writes: number[] = [];
    for (;;) {
      const exit = cpu.run(1000);
      if (exit.reason === ExitReason.Hypercall) break;
      assert.equal(exit.reason, ExitReason.Mmio);
      assert.equal(exit.write, true);
      assert.equal(exit.size, 2);
      assert.equal(exit.address, 0x300000 + writes.length * 2);
      writes.push(exit.value);
    }
    assert.deepEqual(writes, [0x0201, 0x0403, 0x0605]);
    assert.equal(cpu.gpr[Reg.RCX * 2], 0);
  });

  test('MMIO: REP MOVS from an unbacked page reads through the hypervisor, element by element', () => {
    const { machine, cpu } = longMode(
      'mov $0x300000, %esi\n mov $0x200000, %edi\n mov $3, %ecx\n rep movsl',
    );
    let reads = 0;
    for (;;) {
      const exit = cpu.run(1000);
      if (exit.reason === ExitReason.Hypercall) break;
      assert.equal(exit.reason, ExitReason.Mmio);
      assert.equal(exit.write, false);
      assert.equal(exit.address, 0x300000 + reads * 4);
      cpu.completeRead(0x11111111 * (reads + 1));
      reads++;
    }
    const out = new DataView(machine.read(0x200000, 12).buffer);
    assert.deepEqual(
      [out.getUint32(0, true), out.getUint32(4, true), out.getUint32(8, true)],
      [0x11111111, 0x22222222, 0x33333333],
    );
    assert.equal(reads, 3);
  });

  test('OUTS and INS at CPL 3 follow the TSS I/O bitmap', () => {
    const user = new UserModeMachine();
    const code = assemble('mov $0x3f8, %dx\n outsb\n mov $0x3f9, %dx\n outsb');
    const cpu = user.load({
      code,
      data: new Uint8Array([0x41, 0x42]),
      gpr: [0n, 0n, 0n, 0n, LAYOUT.defaultRsp, 0n, BigInt(D)],
    });
    // A bitmap at TSS+0x68 that allows port 0x3f8 only.
    const tss = cpu.segBaseLo[Seg.TR]!;
    const bitmap = new Uint8Array(0x81).fill(0xff);
    bitmap[0x3f8 >> 3] = 0xfe;
    user.machine.write(tss + 0x68, bitmap);
    user.machine.write(tss + 0x66, new Uint8Array([0x68, 0]));
    cpu.segLimit[Seg.TR] = 0x68 + 0x80;
    let exit = cpu.run(100);
    assert.equal(exit.reason, ExitReason.PortIo);
    assert.equal(exit.value, 0x41);
    exit = cpu.run(100);
    assert.equal(exit.reason, ExitReason.Hypercall);
    assert.equal(cpu.ripLo, 0x9000 + 13 * 8 + 3, '#GP for port 0x3f9');
  });

  test('REP OUTS and REP INS exit once per element', () => {
    const { machine, cpu } = longMode(
      'mov $0x200000, %esi\n mov $0x3f8, %dx\n mov $3, %ecx\n rep outsb\n mov $0x200100, %edi\n mov $2, %ecx\n rep insw',
    );
    machine.write(0x200000, new TextEncoder().encode('hi!'));
    const out: number[] = [];
    let exit = cpu.run(1000);
    while (exit.write) {
      assert.equal(exit.reason, ExitReason.PortIo);
      assert.equal(exit.port, 0x3f8);
      out.push(exit.value);
      exit = cpu.run(1000);
    }
    assert.equal(String.fromCharCode(...out), 'hi!');
    let n = 0;
    while (exit.reason === ExitReason.PortIo) {
      assert.equal(exit.write, false);
      assert.equal(exit.size, 2);
      cpu.completeRead(0xa000 + n++);
      exit = cpu.run(1000);
    }
    assert.equal(exit.reason, ExitReason.Hypercall);
    assert.deepEqual([...machine.read(0x200100, 4)], [0x00, 0xa0, 0x01, 0xa0]);
    assert.equal(cpu.gpr[Reg.RDI * 2], 0x200104);
  });
});
