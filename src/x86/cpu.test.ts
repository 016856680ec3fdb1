// The run loop's contract: exits, interrupt injection and the interrupt window, self-modifying
// code, and robustness against arbitrary bytes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BlockCache, BlockCacheOptions } from './block.js';
import { Cr4, PAUSE_LOOP_WINDOW } from './cpu.js';
import { ExitReason } from './exit.js';
import { Flag } from './flags.js';
import { fuzzScale, fuzzSeeded } from './testing/fuzz.js';
import { TestMachine } from './testing/machine.js';

const CODE = 0x100000;
const IDT = 0x8000;
const HANDLERS = 0x9000;
const RECORD = 0xa000;

/** A 64-bit machine whose IDT sends every vector to a handler that stores the vector at RECORD and halts. */
function machineWithIdt(
  code: number[],
  compileThreshold?: number,
  cache: BlockCacheOptions = {},
): TestMachine {
  const machine = new TestMachine(4096, compileThreshold, cache);
  machine.map(CODE, 0x2000);
  machine.map(IDT, 0x3000);
  machine.write(CODE, new Uint8Array(code));
  for (let vector = 0; vector < 256; vector++) {
    const handler = HANDLERS + vector * 16;
    // mov dword [RECORD], vector ; hlt ; jmp back to hlt
    machine.write(
      handler,
      new Uint8Array([0xc7, 0x04, 0x25, ...le32(RECORD), ...le32(vector), 0xf4, 0xeb, 0xfd]),
    );
    machine.write32(IDT + vector * 16, (0x08 << 16) | (handler & 0xffff));
    machine.write32(IDT + vector * 16 + 4, (handler & 0xffff0000) | 0x8e00);
    machine.write32(IDT + vector * 16 + 8, 0);
  }
  const cpu = machine.enterLongMode();
  cpu.idtBaseLo = IDT;
  cpu.idtLimit = 256 * 16 - 1;
  cpu.gpr[8] = CODE + 0x1ff0;
  cpu.ripLo = CODE;
  return machine;
}

function le32(value: number): number[] {
  return [value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff, (value >>> 24) & 0xff];
}

/** Counts the block cache's decodes from now on. */
function countDecodes(blocks: BlockCache): () => number {
  let count = 0;
  const decode = Reflect.get(blocks, 'decodeBlock') as (...args: unknown[]) => unknown;
  Reflect.set(blocks, 'decodeBlock', (...args: unknown[]) => {
    count++;
    return decode.apply(blocks, args);
  });
  return () => count;
}

const recorded = (machine: TestMachine): number =>
  new DataView(machine.read(RECORD, 4).buffer).getInt32(0, true);

describe('run loop', () => {
  test('an injected interrupt is delivered through the IDT when IF=1', () => {
    // sti; nop; jmp .
    const machine = machineWithIdt([0xfb, 0x90, 0xeb, 0xfe]);
    const cpu = machine.cpu;
    cpu.injectInterrupt(0x40);
    let exit = cpu.run(1);
    assert.equal(exit.reason, ExitReason.Budget, 'IF=0 at first: the interrupt waits');
    assert.equal(recorded(machine), 0);
    exit = cpu.run(100);
    assert.equal(exit.reason, ExitReason.Halt);
    assert.equal(recorded(machine), 0x40);
    assert.equal(cpu.flags & Flag.IF, 0, 'an interrupt gate clears IF');
    const frame = new DataView(machine.read(cpu.gpr[8]!, 40).buffer);
    assert.equal(
      frame.getUint32(0, true),
      CODE + 2,
      'the NOP in the STI shadow ran before the interrupt',
    );
    assert.equal(frame.getUint32(8, true), 0x08);
    assert.ok(frame.getUint32(16, true) & Flag.IF, 'the saved RFLAGS has IF set');
  });

  test('the interrupt window exit comes after STI and its one-instruction shadow', () => {
    // cli; nop; sti; nop; nop; hlt
    const machine = machineWithIdt([0xfa, 0x90, 0xfb, 0x90, 0x90, 0xf4]);
    const cpu = machine.cpu;
    cpu.requestInterruptWindow();
    const exit = cpu.run(100);
    assert.equal(exit.reason, ExitReason.InterruptWindow);
    assert.equal(cpu.ripLo, CODE + 4, 'the instruction after STI ran first');
  });

  test('HLT exits and an injected interrupt wakes it', () => {
    // sti; hlt; jmp .
    const machine = machineWithIdt([0xfb, 0xf4, 0xeb, 0xfe]);
    const cpu = machine.cpu;
    let exit = cpu.run(100);
    assert.equal(exit.reason, ExitReason.Halt);
    assert.equal(cpu.ripLo, CODE + 2);
    cpu.injectInterrupt(0x33);
    exit = cpu.run(100);
    assert.equal(recorded(machine), 0x33);
  });

  test('an exception without a usable IDT escalates to a triple fault', () => {
    const machine = machineWithIdt([0x0f, 0x0b]); // ud2
    machine.cpu.idtLimit = 0;
    const exit = machine.cpu.run(100);
    assert.equal(exit.reason, ExitReason.Shutdown);
    assert.match(exit.message, /triple fault/);
  });

  test('page tables in unbacked memory: a machine check, which shuts down instead of looping', () => {
    const machine = machineWithIdt([0x90]);
    const cpu = machine.cpu;
    cpu.cr3Lo = 0x7000_0000; // nothing backs it: the walk for the fetch is a #MC, so is the IDT's
    cpu.flushTlb();
    let exit = cpu.run(100);
    assert.equal(exit.reason, ExitReason.Shutdown);
    assert.match(exit.message, /machine check/);
    // With CR4.MCE set the #MC is delivered, and faulting again while delivering it is fatal.
    const again = machineWithIdt([0x90]).cpu;
    again.cr4 |= Cr4.MCE;
    again.cr3Lo = 0x7000_0000;
    again.flushTlb();
    exit = again.run(100);
    assert.equal(exit.reason, ExitReason.Shutdown);
    assert.match(exit.message, /machine check while delivering vector 18/);
  });

  test('#UD is vectored with RIP at the faulting instruction', () => {
    const machine = machineWithIdt([0x90, 0x0f, 0x0b]);
    const exit = machine.cpu.run(100);
    assert.equal(exit.reason, ExitReason.Halt);
    assert.equal(recorded(machine), 6);
  });

  test('code that rewrites itself runs the new bytes', () => {
    // mov byte [rip+1], 0x42 ... the target is the immediate of the following `mov al, imm8`
    // c6 05 01 00 00 00 42 : mov byte [rip + 1], 0x42   (7 bytes; rip+1 → the imm8 below)
    // b0 00                : mov al, 0x00  → becomes mov al, 0x42
    // 0f 01 c1             : vmcall
    const machine = machineWithIdt([
      0xc6, 0x05, 0x01, 0x00, 0x00, 0x00, 0x42, 0xb0, 0x00, 0x0f, 0x01, 0xc1,
    ]);
    const exit = machine.cpu.run(100);
    assert.equal(exit.reason, ExitReason.Hypercall);
    assert.equal(machine.cpu.gpr[0]! & 0xff, 0x42);
  });

  test('when the stored instructions fill their chunks, every block is dropped and decoded again', () => {
    // 1000 × inc eax (16 blocks of 64), then dec ecx; jnz back: 10 passes through a cache
    // that holds two blocks.
    const INC_EAX = [0xff, 0xc0];
    const body = Array.from({ length: 1000 }, () => INC_EAX).flat();
    const back = -(body.length + 8); // from after dec ecx (2 bytes) and jnz (6) to the first inc
    const machine = machineWithIdt(
      [0xb9, ...le32(10), ...body, 0xff, 0xc9, 0x0f, 0x85, ...le32(back), 0x0f, 0x01, 0xc1],
      1_000_000,
      { chunkInstructions: 64, maxChunks: 2 },
    );
    const exit = machine.cpu.run(100_000);
    assert.equal(exit.reason, ExitReason.Hypercall);
    assert.equal(machine.cpu.gpr[0], 10_000);
  });

  test('an instruction across a page boundary is decoded once, and both its frames hold code', () => {
    // mov ecx, 1000; jmp to CODE + 0xfff, where inc eax spans the two pages; then
    // dec ecx; jnz back to it; vmcall.
    const code = [0xb9, ...le32(1000), 0xe9, ...le32(0xfff - 10)];
    while (code.length < 0xfff) code.push(0xcc);
    code.push(0xff, 0xc0, 0xff, 0xc9, 0x0f, 0x85, ...le32(-10), 0x0f, 0x01, 0xc1);
    // One chunk of 64 instructions: a thousand decodings would flush it again and again.
    const machine = machineWithIdt(code, 1_000_000, { chunkInstructions: 64, maxChunks: 1 });
    const blocks = machine.cpu.blocks;
    const decodes = countDecodes(blocks);
    const exit = machine.cpu.run(100_000);
    assert.equal(exit.reason, ExitReason.Hypercall);
    assert.equal(machine.cpu.gpr[0], 1000);
    assert.ok(decodes() < 10, `${decodes()} decodes`);
    assert.ok(blocks.hasCode(machine.p2m[CODE / 4096]!));
    assert.ok(blocks.hasCode(machine.p2m[CODE / 4096 + 1]!), 'writes to the second frame are seen');
  });

  test('a write to the second page of an instruction across pages runs its new bytes', () => {
    // mov ecx, 2; jmp to CODE + 0xffe: add eax, imm32 with the immediate's last three bytes on
    // the next page; mov byte [CODE + 0x1000], 1 (the immediate becomes 0x101); dec ecx;
    // jnz back to the add; vmcall. Twice through: 1 + 0x101.
    const code = [0xb9, ...le32(2), 0xe9, ...le32(0xffe - 10)];
    while (code.length < 0xffe) code.push(0xcc);
    code.push(0x05, ...le32(1));
    code.push(0xc6, 0x04, 0x25, ...le32(CODE + 0x1000), 0x01);
    code.push(0xff, 0xc9, 0x0f, 0x85, ...le32(0xffe - 0x1013), 0x0f, 0x01, 0xc1);
    const machine = machineWithIdt(code);
    const exit = machine.cpu.run(1000);
    assert.equal(exit.reason, ExitReason.Hypercall);
    assert.equal(machine.cpu.gpr[0], 0x102);
  });

  test('an instruction across pages whose second page is remapped runs the new frame', () => {
    // add eax, imm32 across CODE + 0x1000, then vmcall; run it, remap the second page to a
    // frame whose immediate bytes differ, and run it again from the start.
    const code = [0xe9, ...le32(0xffe - 5)];
    while (code.length < 0xffe) code.push(0xcc);
    code.push(0x05, ...le32(1), 0x0f, 0x01, 0xc1);
    const machine = machineWithIdt(code);
    const cpu = machine.cpu;
    assert.equal(cpu.run(100).reason, ExitReason.Hypercall);
    assert.equal(cpu.gpr[0], 1);
    const spare = 0x300000;
    machine.map(spare, 0x1000);
    machine.write(spare, machine.read(CODE + 0x1000, 0x10));
    machine.write(spare, new Uint8Array([0x02])); // the immediate's second byte: 0x201
    machine.p2m[CODE / 4096 + 1] = machine.p2m[spare / 4096]!;
    cpu.flushTlb();
    cpu.ripLo = CODE;
    assert.equal(cpu.run(100).reason, ExitReason.Hypercall);
    assert.equal(cpu.gpr[0], 1 + 0x201);
  });

  test("a device's read is kept as int32 halves, as a memory read gives them", () => {
    // A uint32 above 2^31 (or a boxed half) in these fields would make V8 store them as
    // doubles for every vCPU.
    const cpu = machineWithIdt([0xf4]).cpu;
    cpu.completeRead(0xfee00900, 0xffffffff);
    assert.equal(cpu.ioResult, 0xfee00900 | 0);
    assert.equal(cpu.ioResultHi, -1);
  });

  test('the budget bounds the instructions retired', () => {
    const machine = machineWithIdt([0xeb, 0xfe]); // jmp .
    const exit = machine.cpu.run(1000);
    assert.equal(exit.reason, ExitReason.Budget);
    assert.equal(machine.cpu.instret, 1000);
  });
});

describe('arbitrary bytes', () => {
  // Random code must end in an architectural outcome — an exception handled through the IDT,
  // a triple fault, an exit — and never in a JavaScript exception.
  const runs = 300 * fuzzScale();
  test(`${runs} random code pages never crash the emulator`, () => {
    let state = fuzzSeeded(0x12345678);
    const random = (): number => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return state >>> 0;
    };
    const outcomes = new Map<number, number>();
    for (let run = 0; run < runs; run++) {
      const bytes = Array.from({ length: 4096 }, () => random() & 0xff);
      const machine = machineWithIdt(bytes);
      const cpu = machine.cpu;
      cpu.gpr[0] = random() | 0;
      cpu.gpr[6] = CODE; // rbx-ish bases pointing at mapped memory make loads likelier to succeed
      let exit = cpu.run(2000);
      for (
        let step = 0;
        step < 4 &&
        (exit.reason === ExitReason.PortIo ||
          exit.reason === ExitReason.Mmio ||
          exit.reason === ExitReason.Msr);
        step++
      ) {
        if (!exit.write) cpu.completeRead(0);
        exit = cpu.run(2000);
      }
      outcomes.set(exit.reason, (outcomes.get(exit.reason) ?? 0) + 1);
    }
    assert.ok(outcomes.size > 0);
  });
});

// A compiled block with a Jcc back to its own start goes round inside its function:
// each loop runs once compiled from its first pass and once interpreted, and must end alike.
describe('compiled loops', () => {
  /** Runs `code` to its exit in runs of `budget`, compiled and interpreted; returns both. */
  function bothTiers(code: number[], budget: number) {
    return [1, 1e9].map((threshold) => {
      const machine = machineWithIdt(code, threshold);
      let exit = machine.cpu.run(budget);
      let runs = 1;
      while (exit.reason === ExitReason.Budget) {
        exit = machine.cpu.run(budget);
        runs++;
      }
      const cpu = machine.cpu;
      return { reason: exit.reason, instret: cpu.instret, gpr: [...cpu.gpr], rip: cpu.ripLo, runs };
    });
  }

  // mov ecx, 1000; xor eax, eax; l: add eax, ecx; dec ecx; jnz l; vmcall
  const SUM = [0xb9, 0xe8, 0x03, 0, 0, 0x31, 0xc0, 0x01, 0xc8, 0xff, 0xc9, 0x75, 0xfa];
  const VMCALL = [0x0f, 0x01, 0xc1];

  test('a counting loop retires every pass and leaves by the not-taken branch', () => {
    const [compiled, interpreted] = bothTiers([...SUM, ...VMCALL], 1e6);
    assert.equal(compiled!.reason, ExitReason.Hypercall);
    assert.equal(compiled!.gpr[0], 500500);
    assert.equal(compiled!.instret, 2 + 3 * 1000 + 1);
    assert.deepEqual(compiled, interpreted);
  });

  test('the budget stops a loop between passes, and it goes on from there', () => {
    for (const budget of [1, 2, 3, 5, 7, 100]) {
      const [compiled, interpreted] = bothTiers([...SUM, ...VMCALL], budget);
      assert.equal(compiled!.gpr[0], 500500, `budget ${budget}`);
      assert.deepEqual(compiled, interpreted, `budget ${budget}`);
    }
  });

  test('a fault in a later pass is taken at the faulting instruction, earlier passes counted', () => {
    // mov ecx, 5; l: mov eax, 100; xor edx, edx; div ecx; dec ecx; jns l (#DE once ECX is 0)
    const code = [0xb9, 5, 0, 0, 0, 0xb8, 100, 0, 0, 0, 0x31, 0xd2, 0xf7, 0xf1, 0xff, 0xc9];
    code.push(0x79, 0xf3);
    const [compiled, interpreted] = bothTiers(code, 1e6);
    assert.equal(compiled!.reason, ExitReason.Halt);
    assert.deepEqual(compiled, interpreted);
  });

  test('an MMIO read in a later pass exits at that load, earlier passes counted', () => {
    // mov rsi, CODE + 0x1000; l: movzx eax, byte [rsi]; inc rsi; test eax, eax; jns l
    // (a zero-extended byte never sets SF: the loop walks on into unbacked memory)
    const code = [0x48, 0xbe, ...le32(CODE + 0x1000), 0, 0, 0, 0];
    code.push(0x0f, 0xb6, 0x06, 0x48, 0xff, 0xc6, 0x85, 0xc0, 0x79, 0xf6);
    const [compiled, interpreted] = bothTiers(code, 1e6);
    assert.equal(compiled!.reason, ExitReason.Mmio);
    assert.equal(compiled!.gpr[12], CODE + 0x2000, 'RSI at the first unbacked byte');
    assert.deepEqual(compiled, interpreted);
  });

  test('a loop that rewrites its own code runs the new bytes in the next pass', () => {
    // mov ecx, 10; xor eax, eax; l: add eax, 1; mov byte [rip - 8], 2 (the imm8 above);
    // dec ecx; jnz l; vmcall. Pass one adds 1, every later pass 2.
    const code = [0xb9, 10, 0, 0, 0, 0x31, 0xc0];
    code.push(0x83, 0xc0, 0x01, 0xc6, 0x05, 0xf8, 0xff, 0xff, 0xff, 0x02, 0xff, 0xc9, 0x75, 0xf2);
    const [compiled, interpreted] = bothTiers([...code, ...VMCALL], 1e6);
    assert.equal(compiled!.gpr[0], 1 + 2 * 9);
    assert.deepEqual(compiled, interpreted);
  });
});

// VMX's PAUSE-loop exiting, counted in instructions: the hypervisor lets a vCPU that spins on a
// lock held by one it is not running give way to it.
describe('PAUSE-loop exiting', () => {
  // l: pause; jmp l
  const SPIN = [0xf3, 0x90, 0xeb, 0xfc];

  for (const threshold of [1, 1e9]) {
    const tier = threshold === 1 ? 'compiled' : 'interpreted';

    test(`a spin loop exits after the window, past its PAUSE (${tier})`, () => {
      const machine = machineWithIdt(SPIN, threshold);
      const cpu = machine.cpu;
      cpu.pauseLoopExiting = true;
      for (let round = 0; round < 3; round++) {
        const before = cpu.instret;
        const exit = cpu.run(1e6);
        assert.equal(exit.reason, ExitReason.PauseLoop);
        assert.equal(cpu.ripLo, CODE + 2, 'RIP at the JMP after the PAUSE');
        const spun = cpu.instret - before;
        // Each round spins a whole window again before it exits.
        assert.ok(spun > PAUSE_LOOP_WINDOW && spun <= PAUSE_LOOP_WINDOW + 4, `${spun}`);
      }
    });

    test(`without PAUSE-loop exiting the loop spins on (${tier})`, () => {
      const machine = machineWithIdt(SPIN, threshold);
      assert.equal(machine.cpu.run(100_000).reason, ExitReason.Budget);
    });

    test(`PAUSEs far apart are not a spin loop (${tier})`, () => {
      // l: pause; mov ecx, 100; m: dec ecx; jnz m; jmp l (201 instructions between PAUSEs)
      const code = [0xf3, 0x90, 0xb9, 100, 0, 0, 0, 0xff, 0xc9, 0x75, 0xfc, 0xeb, 0xf3];
      const machine = machineWithIdt(code, threshold);
      machine.cpu.pauseLoopExiting = true;
      assert.equal(machine.cpu.run(100_000).reason, ExitReason.Budget);
    });
  }
});

// This CPU speculates nothing: it says so in IA32_ARCH_CAPABILITIES, and its speculation
// controls hold their values and do nothing.
describe('speculation controls', () => {
  const VMCALL = [0x0f, 0x01, 0xc1];
  const movEcx = (value: number) => [0xb9, ...le32(value)];
  const movEax = (value: number) => [0xb8, ...le32(value)];
  const XOR_EDX = [0x31, 0xd2];
  const RDMSR = [0x0f, 0x32];
  const WRMSR = [0x0f, 0x30];

  function run(code: number[]) {
    const machine = machineWithIdt([...code, ...VMCALL]);
    const exit = machine.cpu.run(1000);
    const gpr = machine.cpu.gpr;
    return {
      reason: exit.reason,
      eax: gpr[0]! >>> 0,
      ebx: gpr[6]! >>> 0,
      edx: gpr[4]! >>> 0,
      vector: recorded(machine),
      cpu: machine.cpu,
    };
  }

  test('CPUID leaf 7 offers TSC_ADJUST, IBRS/IBPB, STIBP, ARCH_CAPABILITIES and BHI_CTRL', () => {
    // mov eax, 7; xor ecx, ecx; cpuid
    const leaf = run([...movEax(7), 0x31, 0xc9, 0x0f, 0xa2]);
    assert.equal(leaf.eax, 2, 'subleaves up to 2');
    assert.equal(leaf.ebx, 1 << 1);
    assert.equal(leaf.edx, (1 << 26) | (1 << 27) | (1 << 29));
    const sub2 = run([...movEax(7), ...movEcx(2), 0x0f, 0xa2]);
    assert.equal(sub2.edx, 1 << 4);
  });

  test('IA32_ARCH_CAPABILITIES says not affected, and is read-only', () => {
    const caps = run([...movEcx(0x10a), ...RDMSR]);
    assert.equal(caps.reason, ExitReason.Hypercall);
    for (const bit of [0, 1, 4, 5, 6, 8, 13, 14, 15, 20, 24, 26, 27]) {
      assert.ok(caps.eax & (1 << bit), `bit ${bit}`);
    }
    assert.equal(caps.eax & (1 << 2), 0, 'not RSBA');
    assert.equal(caps.edx, 1 << 30, 'ITS_NO (bit 62)');
    const write = run([...movEcx(0x10a), ...movEax(0), ...XOR_EDX, ...WRMSR]);
    assert.equal(write.vector, 13);
  });

  test('SPEC_CTRL keeps IBRS, STIBP and BHI_DIS_S, and refuses other bits', () => {
    const kept = run([
      ...movEcx(0x48),
      ...movEax(0x403),
      ...XOR_EDX,
      ...WRMSR,
      0x31,
      0xc0,
      ...RDMSR,
    ]);
    assert.equal(kept.reason, ExitReason.Hypercall);
    assert.equal(kept.eax, 0x403);
    const ssbd = run([...movEcx(0x48), ...movEax(4), ...XOR_EDX, ...WRMSR]);
    assert.equal(ssbd.vector, 13, 'SSBD is not offered');
  });

  test('IA32_TSC_ADJUST moves the TSC, and moves with writes to the TSC', () => {
    const adjusted = run([...movEcx(0x3b), ...movEax(1000), ...XOR_EDX, ...WRMSR]);
    assert.equal(adjusted.reason, ExitReason.Hypercall);
    assert.equal(adjusted.cpu.tscAdjust, 1000);
    assert.equal(adjusted.cpu.tscOffset, 1000, 'the TSC is 1000 ahead');
    // TSC = 2^32, then read TSC_ADJUST back: it moved by what the write moved the TSC.
    const set = run([
      ...movEcx(0x10),
      ...movEax(0),
      0xba,
      ...le32(1),
      ...WRMSR,
      ...movEcx(0x3b),
      ...RDMSR,
    ]);
    assert.equal(set.cpu.tscAdjust, set.cpu.tscOffset);
    assert.equal(set.eax + set.edx * 2 ** 32, set.cpu.tscAdjust);
    assert.ok(set.cpu.tscAdjust > 2 ** 32 - 10 && set.cpu.tscAdjust <= 2 ** 32);
  });

  test('PRED_CMD takes an IBPB and cannot be read', () => {
    const ibpb = run([...movEcx(0x49), ...movEax(1), ...XOR_EDX, ...WRMSR]);
    assert.equal(ibpb.reason, ExitReason.Hypercall);
    assert.equal(run([...movEcx(0x49), ...RDMSR]).vector, 13);
  });
});
