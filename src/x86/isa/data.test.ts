/**
 * MOV, LEA, XCHG, MOVZX/MOVSX/MOVSXD, PUSH/POP, CBW/CWD families (data.ts) against the host
 * CPU, register and memory forms at every size.
 */
import {
  add,
  DATA,
  inRegister,
  memoryOperand,
  pick,
  rand64,
  reg,
  SIZES,
  SUFFIX,
  toSigned,
  value,
} from '../testing/integer-cases.js';
import { differentialSuite } from '../testing/integer-suite.js';

function genData(): void {
  for (const size of SIZES) {
    const s = SUFFIX[size]!;
    for (let k = 0; k < 6; k++) {
      const a = value(size);
      add('mov', `mov${s} ${reg('b', size)}, ${reg('a', size)}`, {
        set: { rbx: inRegister(a, size) },
      });
      add('mov', `mov${s} ${reg('a', size)}, ${reg('r9', size)}`, {
        set: { rax: inRegister(a, size) },
      });
      const imm = size === 64 ? toSigned(value(64), 64) : toSigned(value(size), size);
      add('mov', `mov${s} $${imm}, ${reg('c', size)}`, {});
      const m = memoryOperand(a, size);
      add('mov', `mov${s} (%rsi), ${reg('d', size)}`, {
        set: { rsi: m.rsi },
        data: m.data,
        memory: true,
      });
      add('mov', `mov${s} ${reg('d', size)}, (%rsi)`, {
        set: { rsi: m.rsi },
        data: m.data,
        memory: true,
      });
      add('xchg', `xchg${s} ${reg('a', size)}, ${reg('b', size)}`, {});
      add('xchg', `xchg${s} ${reg('b', size)}, (%rsi)`, {
        set: { rsi: m.rsi },
        data: m.data,
        memory: true,
      });
    }
  }
  add('mov', 'movabs $0x123456789abcdef0, %r11', {});
  add('mov', 'movb %ah, %bh', {});
  for (let k = 0; k < 24; k++) {
    const base = pick(['%rax', '%rbx', '%r9', '%rsp', '%rbp', '%r13']);
    const index = pick(['%rcx', '%rdx', '%r10', '%rsi']);
    const scale = pick([1, 2, 4, 8]);
    const disp = Number(toSigned(value(32), 32));
    for (const dst of ['%r8', '%r8d', '%r8w']) {
      add('lea', `lea ${disp}(${base},${index},${scale}), ${dst}`, {});
      add('lea', `lea ${disp}(${base}), ${dst}`, {});
      add(
        'lea',
        `addr32 lea ${disp}(${base.replace('%r', '%e').replace('%e9', '%r9d').replace('%e13', '%r13d')},${index.replace('%r', '%e').replace('%e10', '%r10d')},${scale}), ${dst}`,
        {},
      );
    }
    add('lea', `lea ${disp}(,${index},${scale}), %r8`, {});
  }
  for (let k = 0; k < 8; k++) {
    const v8 = value(8);
    const v16 = value(16);
    const v32 = value(32);
    for (const [insn, src, set] of [
      ['movzbl', '%bl', { rbx: inRegister(v8, 8) }],
      ['movzbl', '%ah', { rax: inRegister(v8 << 8n, 16) }],
      ['movzbw', '%r9b', { r9: inRegister(v8, 8) }],
      ['movzwl', '%bx', { rbx: inRegister(v16, 16) }],
      ['movzwq', '%bx', { rbx: inRegister(v16, 16) }],
      ['movsbl', '%bl', { rbx: inRegister(v8, 8) }],
      ['movsbw', '%bh', { rbx: inRegister(v8 << 8n, 16) }],
      ['movsbw', '%bl', { rbx: inRegister(v8, 8) }],
      ['movswl', '%bx', { rbx: inRegister(v16, 16) }],
      ['movswq', '%bx', { rbx: inRegister(v16, 16) }],
      ['movslq', '%ebx', { rbx: inRegister(v32, 32) }],
    ] as const) {
      // AH-BH cannot sit beside a REX prefix: those go to CX/ECX.
      const high = src === '%ah' || src === '%bh';
      const width = insn.endsWith('w') ? 'w' : insn.endsWith('l') ? 'd' : '';
      const dst = high ? (width === 'w' ? '%cx' : '%ecx') : `%r12${width}`;
      add('movx', `${insn} ${src}, ${dst}`, { set });
    }
    const m = memoryOperand(value(16), 16);
    add('movx', 'movzbl (%rsi), %ecx', { set: { rsi: m.rsi }, data: m.data, memory: true });
    add('movx', 'movswq (%rsi), %rcx', { set: { rsi: m.rsi }, data: m.data, memory: true });
    add('cbw', pick(['cbtw', 'cwtl', 'cltq', 'cwtd', 'cltd', 'cqto']), { set: { rax: rand64() } });
  }
  for (let k = 0; k < 6; k++) {
    add('stack', 'push %rbx\n pop %rcx', { stack: true });
    add('stack', 'pushw %bx\n popw %cx', { stack: true });
    add('stack', `push $${Number(toSigned(value(32), 32))}\n pop %rdx`, { stack: true });
    add('stack', 'push %rsp\n pop %rax', { stack: true });
    add('stack', 'pushq (%rsi)\n popq 8(%rsi)', {
      set: { rsi: DATA + 0x100n },
      data: memoryOperand(rand64(), 64).data,
      memory: true,
      stack: true,
    });
  }
}

differentialSuite('data movement: differential against the host CPU', 0x68e31da4, {
  random: genData,
});
