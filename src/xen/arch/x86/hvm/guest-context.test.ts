// vcpu_guest_context ↔ registers of an HVM vCPU, without a hypercall: which fields a set
// takes, what a get reports (GS bases by ring, control registers), and the FPU image rules.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { VGCF_i387_valid, VGCF_online, vcpu_guest_context } from '../../../../abi/xen.js';
import { Msr, writeMsr } from '../../../../x86/isa/system.js';
import { Seg } from '../../../../x86/segments.js';
import { Hypervisor } from '../../../hypervisor.js';
import { GUEST_CODE, prepareGuest } from '../../../testing/guest.js';
import { getGuestContext, setGuestContext } from './guest-context.js';

function vcpu() {
  const hv = new Hypervisor({ memoryBytes: 16 << 20, clock: 'virtual' });
  const domain = hv.createDomain({ maxVcpus: 1, maxPages: 4096 });
  prepareGuest(hv, domain, new Uint8Array([0xf4]));
  return domain.vcpus[0]!.cpu;
}

const decode = (bytes: Uint8Array) => vcpu_guest_context.decode(bytes);

describe('HVM vcpu_guest_context', () => {
  test('get reports control registers, selectors, FS base and GS bases by ring', () => {
    const cpu = vcpu();
    cpu.segBaseLo[Seg.FS] = 0x1234_5000;
    cpu.segBaseHi[Seg.FS] = 0x7f;
    cpu.segBaseLo[Seg.GS] = 0x0000_8000;
    cpu.segBaseHi[Seg.GS] = -0x8000 | 0; // 0xffff8000_00008000
    writeMsr(cpu, Msr.KERNEL_GS_BASE, 0x4000, 0x7ffe);
    let ctx = decode(getGuestContext(cpu, true));
    assert.equal(ctx.ctrlreg[0], BigInt(cpu.cr0 >>> 0));
    assert.equal(ctx.ctrlreg[3], 0x1000n);
    assert.equal(ctx.ctrlreg[4], BigInt(cpu.cr4));
    assert.equal(ctx.user_regs.cs, 0x08);
    assert.equal(ctx.user_regs.ss, 0x10);
    assert.equal(ctx.user_regs.rip, BigInt(GUEST_CODE));
    assert.equal(ctx.fs_base, 0x7f_1234_5000n);
    assert.equal(
      ctx.gs_base_kernel,
      0xffff_8000_0000_8000n,
      'ring 0: the live base is the kernel one',
    );
    assert.equal(ctx.gs_base_user, 0x7ffe_0000_4000n);
    assert.equal(ctx.flags, BigInt(VGCF_i387_valid | VGCF_online));

    cpu.segSel[Seg.CS] = 0x33; // a user code selector: the live base is the user one
    ctx = decode(getGuestContext(cpu, false));
    assert.equal(ctx.gs_base_user, 0xffff_8000_0000_8000n);
    assert.equal(ctx.gs_base_kernel, 0x7ffe_0000_4000n);
    assert.equal(ctx.flags, BigInt(VGCF_i387_valid));
  });

  test('set takes registers but not segments or control registers', () => {
    const cpu = vcpu();
    const ctx = decode(getGuestContext(cpu, true));
    ctx.user_regs.rbx = 0x0123_4567_89ab_cdefn;
    ctx.user_regs.rip = 0x20_0000n;
    ctx.user_regs.cs = 0x33;
    ctx.ctrlreg[3] = 0x5000n;
    ctx.fs_base = 0x9999n;
    setGuestContext(cpu, vcpu_guest_context.encode(ctx));
    assert.equal(cpu.gpr[6]! >>> 0, 0x89ab_cdef);
    assert.equal(cpu.gpr[7]! >>> 0, 0x0123_4567);
    assert.equal(cpu.ripLo, 0x20_0000);
    assert.equal(cpu.segSel[Seg.CS], 0x08, 'segments come from HVM records');
    assert.equal(cpu.cr3Lo, 0x1000, 'so do control registers');
    assert.equal(cpu.segBaseLo[Seg.FS], 0);
    assert.equal(cpu.codeSize, 64, 'still in long mode');
  });

  test('the FPU image: loaded if valid, reset if not or if MXCSR is bad', () => {
    const cpu = vcpu();
    const bytes = getGuestContext(cpu, true);
    const view = new DataView(bytes.buffer);
    view.setUint16(0, 0x027f, true);
    view.setUint32(24, 0x1f80 | 0x40, true); // DAZ
    view.setUint32(160 + 16, 0x55aa55aa, true); // XMM1
    setGuestContext(cpu, bytes);
    assert.equal(cpu.fpu.fcw, 0x027f);
    assert.equal(cpu.fpu.mxcsr, 0x1fc0);
    assert.equal(cpu.fpu.xmm[4], 0x55aa55aa);

    view.setUint32(24, 0x1f80 | (1 << 20), true); // a reserved MXCSR bit
    setGuestContext(cpu, bytes);
    assert.equal(cpu.fpu.fcw, 0x037f, 'FXRSTOR would fault: the initial state');
    assert.equal(cpu.fpu.mxcsr, 0x1f80);
    assert.equal(cpu.fpu.xmm[4], 0);

    view.setUint32(24, 0x1f80, true);
    setGuestContext(cpu, bytes);
    assert.equal(cpu.fpu.fcw, 0x027f);
    view.setBigUint64(vcpu_guest_context.offsets.flags, 0n, true);
    setGuestContext(cpu, bytes);
    assert.equal(cpu.fpu.fcw, 0x037f, 'no VGCF_i387_valid: the initial state');
    assert.equal(cpu.fpu.xmm[4], 0);
  });
});
