// applyHvmContext: the register loading of VCPUOP_initialise with arch_set_info_hvm_guest's
// checks, on a vCPU's CPU directly.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { vcpu_hvm_context } from '../../../../abi/vcpu.js';
import { Seg } from '../../../../x86/segments.js';
import { Hypervisor } from '../../../hypervisor.js';
import { applyHvmContext, type VcpuHvmContext } from './vcpu-context.js';

const EINVAL = -22;

/** One domain with many vCPUs: each test case takes a CPU nobody has touched. */
const vcpus = new Hypervisor({ memoryBytes: 16 << 20 }).createDomain({
  maxVcpus: 64,
  maxPages: 16,
}).vcpus;
let next = 1;

function freshCpu() {
  return vcpus[next++]!.cpu;
}

/** A context decoded from zeroed bytes, then changed by `edit`. */
function context(edit: (ctx: VcpuHvmContext) => void): VcpuHvmContext {
  const ctx = vcpu_hvm_context.decode(new Uint8Array(vcpu_hvm_context.size));
  edit(ctx);
  return ctx;
}

type Regs64 = VcpuHvmContext['cpu_regs']['x86_64'];
type Regs32 = VcpuHvmContext['cpu_regs']['x86_32'];

const long = (patch: Partial<Regs64> = {}) =>
  context((ctx) => {
    ctx.mode = 1;
    const r = ctx.cpu_regs.x86_64;
    r.rip = 0xffffffff81000000n;
    r.rsp = 0x123456789an;
    r.rbx = 0xdeadbeefcafen;
    r.rflags = 0x202n;
    r.cr0 = 0x80050033n;
    r.cr3 = 0x1000n;
    r.cr4 = 0x620n;
    r.efer = 0x901n;
    Object.assign(r, patch);
  });

const flat32 = (patch: Partial<Regs32> = {}) =>
  context((ctx) => {
    ctx.mode = 0;
    const r = ctx.cpu_regs.x86_32;
    Object.assign(r, {
      eip: 0x100000,
      esp: 0x8000,
      ebx: 0x5000,
      eflags: 2,
      cr0: 0x11,
      cs_limit: 0xffffffff,
      ds_limit: 0xffffffff,
      ss_limit: 0xffffffff,
      es_limit: 0xffffffff,
      tr_limit: 0x67,
      cs_ar: 0xc9a,
      ds_ar: 0xc93,
      ss_ar: 0xc93,
      es_ar: 0xc93,
      tr_ar: 0x8b,
    });
    Object.assign(r, patch);
  });

describe('applyHvmContext', () => {
  test('64-bit mode: registers, control registers and flat long-mode segments', () => {
    const cpu = freshCpu();
    assert.equal(applyHvmContext(cpu, long()), 0);
    assert.equal(cpu.ripLo >>> 0, 0x81000000);
    assert.equal(cpu.ripHi >>> 0, 0xffffffff);
    assert.equal(cpu.gpr[4 * 2], 0x3456789a);
    assert.equal(cpu.gpr[4 * 2 + 1], 0x12);
    assert.equal(cpu.gpr[3 * 2]! >>> 0, 0xbeefcafe);
    assert.equal(cpu.cr3Lo, 0x1000);
    assert.equal(cpu.efer, 0xd01, 'LMA follows LME');
    assert.equal(cpu.codeSize, 64);
    assert.equal(cpu.segAttr[Seg.CS], 0xa09b);
    assert.equal(cpu.segAttr[Seg.SS], 0xc093);
    assert.equal(cpu.segLimit[Seg.TR], 0x67);
    assert.equal(cpu.flags, 0x202);
  });

  test('32-bit mode: cached segments with the accessed and busy bits set', () => {
    const cpu = freshCpu();
    assert.equal(applyHvmContext(cpu, flat32()), 0);
    assert.equal(cpu.codeSize, 32);
    assert.equal(cpu.ripLo, 0x100000);
    assert.equal(cpu.gpr[3 * 2], 0x5000);
    assert.equal(cpu.segAttr[Seg.CS], 0xc09b, 'accessed bit set');
    assert.equal(cpu.segAttr[Seg.TR], 0x8b);
    assert.equal(cpu.segLimit[Seg.DS], -1);
    assert.equal(cpu.efer, 0);
    // A null ES is allowed and unusable.
    const other = freshCpu();
    assert.equal(applyHvmContext(other, flat32({ es_ar: 0 })), 0);
    assert.equal(other.segAttr[Seg.ES], 1 << 16);
  });

  test("arch_set_info_hvm_guest's refusals leave the CPU as it was", () => {
    const bad: [string, VcpuHvmContext][] = [
      ['pad', context((c) => Object.assign(c, { mode: 1, pad: 1 }))],
      ['mode', context((c) => Object.assign(c, { mode: 2 }))],
      ['non-canonical RIP', long({ rip: 0x0000800000000000n })],
      ['no paging', long({ cr0: 0x33n })],
      ['no PAE', long({ cr4: 0x600n })],
      ['no LME', long({ efer: 0x800n })],
      ['VMXE', long({ cr4: 0x2620n })],
      ['SVME', long({ efer: 0x1901n })],
      ['unknown EFER bit', long({ efer: 0x10901n })],
      ['pad1', flat32({ pad1: 1 })],
      ['pad2', flat32({ pad2: [0, 1, 0] })],
      ['TR is a code segment', flat32({ tr_ar: 0x9b })],
      ['TR is a 16-bit TSS', flat32({ tr_ar: 0x81 })],
      ['CS is data', flat32({ cs_ar: 0xc93 })],
      ['CS is null', flat32({ cs_ar: 0 })],
      ['SS is read-only', flat32({ ss_ar: 0xc91 })],
      ['CS not present', flat32({ cs_ar: 0xc1a })],
      ['attribute bits 12-15', flat32({ ds_ar: 0x1c93 })],
      ['SS.DPL ≠ CS.DPL', flat32({ ss_ar: 0xcf3 })],
      ['DS.DPL > CS.DPL', flat32({ ds_ar: 0xcf3 })],
      ['EIP beyond CS limit', flat32({ cs_ar: 0x49a, cs_limit: 0xfff })],
      ['LMA without LME', flat32({ efer: 0x400n })],
      ['bad CR4', flat32({ cr4: 1 << 13 })],
    ];
    for (const [why, ctx] of bad) {
      const cpu = freshCpu();
      const rip = cpu.ripLo;
      assert.equal(applyHvmContext(cpu, ctx), EINVAL, why);
      assert.equal(cpu.ripLo, rip, `${why}: untouched`);
    }
    // A page-granular limit covers its last page.
    const cpu = freshCpu();
    const ctx = flat32({ cs_limit: 0xff, eip: 0xfffff });
    assert.equal(applyHvmContext(cpu, ctx), 0);
  });
});
