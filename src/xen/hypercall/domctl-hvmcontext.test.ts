// XEN_DOMCTL_{get,set}hvmcontext and gethvmcontext_partial made by a privileged guest, as
// Dom0's toolstack makes them: libxenguest's vcpu_hvm() setting a PVH domain's entry state,
// round trips, and the errors of each.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  XEN_DOMCTL_CDF_hap,
  XEN_DOMCTL_CDF_hvm,
  XEN_DOMCTL_createdomain,
  XEN_DOMCTL_gethvmcontext,
  XEN_DOMCTL_gethvmcontext_partial,
  XEN_DOMCTL_max_mem,
  XEN_DOMCTL_sethvmcontext,
  XEN_DOMCTL_unpausedomain,
} from '../../abi/domctl.js';
import {
  XEN_EFAULT,
  XEN_EINVAL,
  XEN_ENOBUFS,
  XEN_ENODATA,
  XEN_ENOENT,
  XEN_ENOMEM,
  XEN_ENOSPC,
  XEN_ESRCH,
} from '../../abi/errno.js';
import {
  HVM_SAVE_CODE,
  hvm_hw_cpu,
  hvm_hw_mtrr,
  hvm_save_descriptor,
  hvm_save_header,
} from '../../abi/hvm-save.js';
import { SHUTDOWN_poweroff } from '../../abi/sched.js';
import { XEN_X86_EMU_LAPIC } from '../../abi/xen.js';
import { assemble } from '../../x86/testing/native/assemble.js';
import { type Domain, DomainState } from '../common/domain.js';
import { Hypervisor } from '../hypervisor.js';
import { GUEST_CODE, prepareGuest, readGuest, writeGuest } from '../testing/guest.js';
import { setDomainOptions } from './domain-info.js';
import { HVM_CONTEXT_MAX } from './domctl-hvmcontext.js';
import { BUF_A, BUF_C, ControlGuest } from './testing-control.js';

const DESC = hvm_save_descriptor.size;
const UNMAPPED = 0x7fff_0000_0000;

function machine(): { hv: Hypervisor; dom0: ControlGuest } {
  const hv = new Hypervisor({ memoryBytes: 48 << 20, clock: 'virtual' });
  return { hv, dom0: ControlGuest.create(hv) };
}

/** XEN_DOMCTL_createdomain for a PVH domU, as libxl asks for it; its Domain. */
function createPvh(hv: Hypervisor, dom0: ControlGuest, vcpus: number): Domain {
  const { ret, op } = dom0.domctl({
    cmd: XEN_DOMCTL_createdomain,
    domain: 0,
    u: {
      createdomain: {
        flags: XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
        max_vcpus: vcpus,
        max_evtchn_port: 1023,
        max_grant_frames: 32,
        max_maptrack_frames: -1,
        grant_opts: 2,
        arch: { emulation_flags: XEN_X86_EMU_LAPIC, misc_flags: 0 },
      },
    },
  });
  assert.equal(ret, 0);
  return hv.domains.get(op.domain)!;
}

function hvmcontext(dom0: ControlGuest, cmd: number, domain: number, buffer: number, size: number) {
  const { ret, op } = dom0.domctl({ cmd, domain, u: { hvmcontext: { size, buffer } } });
  return { ret, size: op.u.hvmcontext.size };
}

/** xc_domain_hvm_getcontext: the bytes filled (the size needed, for a null buffer), or -1. */
function xcGetContext(dom0: ControlGuest, domid: number, buffer: number, size: number): number {
  const r = hvmcontext(dom0, XEN_DOMCTL_gethvmcontext, domid, buffer, size);
  return r.ret < 0 ? -1 : r.size;
}

/** xc_domain_hvm_setcontext through BUF_C. */
function xcSetContext(dom0: ControlGuest, domid: number, data: Uint8Array): number {
  dom0.write(BUF_C, data);
  return hvmcontext(dom0, XEN_DOMCTL_sethvmcontext, domid, BUF_C, data.length).ret;
}

/** The whole context of a domain, fetched as libxenguest does (size first). */
function getContext(dom0: ControlGuest, domid: number): Uint8Array {
  const size = xcGetContext(dom0, domid, 0, 0);
  assert.ok(size > 0);
  const filled = xcGetContext(dom0, domid, BUF_C, size);
  assert.ok(filled > 0 && filled <= size);
  return dom0.read(BUF_C, filled);
}

/** hvm_get_save_record (xg_dom_x86.c): the body of a record, walking to END. */
function hvmGetSaveRecord(ctx: Uint8Array, type: number, instance: number): Uint8Array | null {
  for (let at = 0; ; ) {
    const d = hvm_save_descriptor.decode(ctx, at);
    if (d.typecode === HVM_SAVE_CODE.END) return null;
    if (d.typecode === type && d.instance === instance) {
      return ctx.subarray(at + DESC, at + DESC + d.length);
    }
    at += DESC + d.length;
  }
}

/** The context with every CPU record's tsc zeroed (the TSC of a paused domain still runs). */
function withoutTsc(ctx: Uint8Array): Uint8Array {
  const out = Uint8Array.from(ctx);
  const view = new DataView(out.buffer);
  for (let at = 0; at + DESC <= out.length; ) {
    const d = hvm_save_descriptor.read(view, at);
    if (d.typecode === HVM_SAVE_CODE.CPU)
      view.setBigUint64(at + DESC + hvm_hw_cpu.offsets.tsc, 0n, true);
    if (d.typecode === HVM_SAVE_CODE.END) break;
    at += DESC + d.length;
  }
  return out;
}

const X86_CR0_PE = 1;
const X86_CR0_ET = 1 << 4;
const MTRR_TYPE_WRBACK = 6;
const MTRR_DEF_TYPE_ENABLE = 1 << 11;

/**
 * vcpu_hvm() of Xen 4.17's tools/libs/guest/xg_dom_x86.c, step by step: the full context for
 * its header, a CPU record for vCPU 0 at the PVH entry, vCPU 0's MTRR record with WB as the
 * enabled default type set on every vCPU, then the BSP context last.
 */
function vcpuHvm(
  dom0: ControlGuest,
  domid: number,
  maxVcpus: number,
  entry: number,
  startInfo: number,
): number {
  let rc = xcGetContext(dom0, domid, 0, 0);
  if (rc <= 0) return rc;
  rc = xcGetContext(dom0, domid, BUF_C, rc);
  if (rc <= 0) return rc;
  const fullCtx = dom0.read(BUF_C, rc);

  const headerLength = DESC + hvm_save_header.size;
  const bsp = new Uint8Array(headerLength + DESC + hvm_hw_cpu.size + DESC);
  bsp.set(fullCtx.subarray(0, headerLength));
  bsp.set(
    hvm_save_descriptor.encode({
      typecode: HVM_SAVE_CODE.CPU,
      instance: 0,
      length: hvm_hw_cpu.size,
    }),
    headerLength,
  );
  const cpu = new DataView(bsp.buffer, headerLength + DESC, hvm_hw_cpu.size);
  hvm_hw_cpu.write(cpu, 0, {
    cs_base: 0n,
    ds_base: 0n,
    es_base: 0n,
    ss_base: 0n,
    tr_base: 0n,
    cs_limit: 0xffffffff,
    ds_limit: 0xffffffff,
    es_limit: 0xffffffff,
    ss_limit: 0xffffffff,
    tr_limit: 0x67,
    cs_arbytes: 0xc9b,
    ds_arbytes: 0xc93,
    es_arbytes: 0xc93,
    ss_arbytes: 0xc93,
    tr_arbytes: 0x8b,
    cr0: BigInt(X86_CR0_PE | X86_CR0_ET),
    rip: BigInt(entry),
    dr6: 0xffff0ff0n, // X86_DR6_DEFAULT
    dr7: 0x400n, // X86_DR7_DEFAULT
    rbx: BigInt(startInfo),
  });
  // The END descriptor is all zeroes (typecode 0, instance 0, length 0).

  const mtrrRecord = hvmGetSaveRecord(fullCtx, HVM_SAVE_CODE.MTRR, 0);
  if (mtrrRecord === null) return -1;
  const mtrr = new Uint8Array(headerLength + DESC + hvm_hw_mtrr.size + DESC);
  mtrr.set(bsp.subarray(0, headerLength));
  mtrr.set(mtrrRecord, headerLength + DESC);
  hvm_hw_mtrr.write(new DataView(mtrr.buffer), headerLength + DESC, {
    msr_mtrr_def_type: BigInt(MTRR_TYPE_WRBACK | MTRR_DEF_TYPE_ENABLE),
  });
  for (let i = 0; i < maxVcpus; i++) {
    mtrr.set(
      hvm_save_descriptor.encode({
        typecode: HVM_SAVE_CODE.MTRR,
        instance: i,
        length: hvm_hw_mtrr.size,
      }),
      headerLength,
    );
    rc = xcSetContext(dom0, domid, mtrr);
    if (rc !== 0) return rc;
  }
  return xcSetContext(dom0, domid, bsp);
}

/** A PVH kernel's first instructions, in 32-bit flat protected mode with paging off. */
const ENTRY_PROGRAM = `
  mov %ebx, 0x5000
  mov %cr0, %eax
  mov %eax, 0x5004
  mov $0x2ff, %ecx
  rdmsr
  mov %eax, 0x5008
  movl $${SHUTDOWN_poweroff}, 0x5010
  mov $29, %eax
  mov $2, %ebx
  mov $0x5010, %ecx
  vmcall
1:
  jmp 1b
`;

describe("libxenguest's vcpu_hvm", () => {
  test('sets a fresh paused PVH domain at its entry in 32-bit protected mode, %ebx = start info', () => {
    const { hv, dom0 } = machine();
    const domain = createPvh(hv, dom0, 2);
    const max = dom0.domctl({
      cmd: XEN_DOMCTL_max_mem,
      domain: domain.id,
      u: { max_mem: { max_memkb: 4096n } },
    });
    assert.equal(max.ret, 0);
    assert.equal(hv.populatePhysmap(domain, 0, 1024), 1024);
    const entry = 0x100000;
    const startInfo = 0x3000;
    writeGuest(hv, domain, entry, assemble(ENTRY_PROGRAM, 32, { origin: entry }));

    assert.equal(vcpuHvm(dom0, domain.id, 2, entry, startInfo), 0);
    const [v0, v1] = [domain.vcpus[0]!, domain.vcpus[1]!];
    assert.ok(v0.online && v0.initialised, 'vCPU 0 up');
    assert.equal(v1.online, false, 'vCPU 1 down until the guest starts it');
    assert.equal(v0.cpu.codeSize, 32);
    assert.equal(v0.cpu.ripLo, entry);
    assert.equal(v0.cpu.fpu.fcw, 0x0040, 'FCW_RESET: the record had no FPU image');
    assert.deepEqual(v1.cpu.msrs.get(0x2ff), [0x806, 0], "every vCPU's MTRRs set");

    assert.equal(dom0.domctl({ cmd: XEN_DOMCTL_unpausedomain, domain: domain.id }).ret, 0);
    hv.run(100_000);
    assert.equal(domain.state, DomainState.Shutdown, 'the guest ran to its hypercall');
    assert.equal(domain.shutdownReason, SHUTDOWN_poweroff);
    const seen = new DataView(readGuest(hv, domain, 0x5000, 12).buffer);
    assert.equal(seen.getUint32(0, true), startInfo, '%ebx');
    assert.equal(seen.getUint32(4, true), X86_CR0_PE | X86_CR0_ET, 'CR0');
    assert.equal(seen.getUint32(8, true), 0x806, 'MTRRdefType: WB, enabled');
  });
});

describe('XEN_DOMCTL_gethvmcontext and sethvmcontext', () => {
  /** A domain whose vCPU 0 has run a 64-bit program, with vCPU 1 up in real mode. */
  function busy(hv: Hypervisor, dom0: ControlGuest): Domain {
    const domain = createPvh(hv, dom0, 2);
    domain.maxPages = 4096;
    const program = `
      mov $0x0123456789abcdef, %rax
      mov %rax, %r9
      movq %rax, %xmm2
      fldpi
      mov $0x176, %ecx
      mov $0x81234567, %eax
      mov $0xffffffff, %edx
      wrmsr
    1:
      jmp 1b
    `;
    prepareGuest(hv, domain, assemble(program, 64, { origin: GUEST_CODE }));
    hv.unpause(domain);
    hv.run(5000);
    hv.pause(domain);
    hv.setOnline(domain.vcpus[1]!, true);
    domain.vcpus[0]!.vlapic.mmioWrite(0xf0, 4, 0x1ff);
    domain.vcpus[0]!.vlapic.mmioWrite(0x80, 4, 0x30);
    return domain;
  }

  test('get → set → get gives the same context (the TSC aside, which keeps running)', () => {
    const { hv, dom0 } = machine();
    const domain = busy(hv, dom0);
    const first = getContext(dom0, domain.id);
    assert.equal(xcSetContext(dom0, domain.id, first), 0);
    const second = getContext(dom0, domain.id);
    assert.deepEqual(withoutTsc(second), withoutTsc(first));
    const tsc = (ctx: Uint8Array) =>
      hvm_hw_cpu.decode(hvmGetSaveRecord(ctx, HVM_SAVE_CODE.CPU, 0)!).tsc;
    assert.ok(tsc(second) >= tsc(first));
    assert.equal(domain.vcpus[0]!.cpu.gpr[9 * 2]! >>> 0, 0x89abcdef);
    assert.ok(domain.vcpus[1]!.online);

    // Into another domain: it becomes the same machine.
    const other = createPvh(hv, dom0, 2);
    assert.equal(xcSetContext(dom0, other.id, first), 0);
    assert.deepEqual(withoutTsc(getContext(dom0, other.id)), withoutTsc(first));
  });

  test('a null buffer asks the size; a small one is -ENOSPC; bad pointers -EFAULT', () => {
    const { hv, dom0 } = machine();
    const domain = createPvh(hv, dom0, 3);
    const size = hvmcontext(dom0, XEN_DOMCTL_gethvmcontext, domain.id, 0, 0);
    assert.equal(size.ret, 0);
    // CPU, LAPIC, LAPIC_REGS, MTRR, TSC_ADJUST and CPU_MSR (with room for SPEC_CTRL).
    const perVcpu = 3 * (6 * DESC + hvm_hw_cpu.size + 24 + 1024 + 240 + 8 + 24);
    assert.equal(size.size, 2 * DESC + 24 + perVcpu);
    const small = hvmcontext(dom0, XEN_DOMCTL_gethvmcontext, domain.id, BUF_C, size.size - 1);
    assert.deepEqual(small, { ret: -XEN_ENOSPC, size: size.size - 1 });
    const got = hvmcontext(dom0, XEN_DOMCTL_gethvmcontext, domain.id, BUF_C, size.size);
    assert.equal(got.ret, 0);
    assert.ok(got.size < size.size, 'vCPUs 1 and 2 are down: no CPU records');
    const bad = hvmcontext(dom0, XEN_DOMCTL_gethvmcontext, domain.id, UNMAPPED, size.size);
    assert.equal(bad.ret, -XEN_EFAULT);
    const set = hvmcontext(dom0, XEN_DOMCTL_sethvmcontext, domain.id, UNMAPPED, 64);
    assert.equal(set.ret, -XEN_EFAULT);
    const huge = hvmcontext(dom0, XEN_DOMCTL_sethvmcontext, domain.id, BUF_C, HVM_CONTEXT_MAX + 1);
    assert.equal(huge.ret, -XEN_ENOMEM);
    const empty = hvmcontext(dom0, XEN_DOMCTL_sethvmcontext, domain.id, 0, 0);
    assert.equal(empty.ret, -XEN_ENODATA, 'no header');
  });

  test("refuses the caller's own domain, a domain that is not HVM, and a missing one", () => {
    const { hv, dom0 } = machine();
    const domain = createPvh(hv, dom0, 1);
    const self = dom0.domain.id;
    for (const cmd of [XEN_DOMCTL_gethvmcontext, XEN_DOMCTL_sethvmcontext]) {
      assert.equal(hvmcontext(dom0, cmd, self, BUF_C, 8192).ret, -XEN_EINVAL);
      assert.equal(hvmcontext(dom0, cmd, 77, BUF_C, 8192).ret, -XEN_ESRCH);
    }
    assert.equal(partial(dom0, self, HVM_SAVE_CODE.CPU, 0, BUF_A, 2048).ret, -XEN_EINVAL);
    setDomainOptions(domain, { flags: 0, emulationFlags: 0 }); // as a PV domain
    assert.equal(hvmcontext(dom0, XEN_DOMCTL_gethvmcontext, domain.id, 0, 0).ret, -XEN_EINVAL);
    assert.equal(hvmcontext(dom0, XEN_DOMCTL_sethvmcontext, domain.id, BUF_C, 64).ret, -XEN_EINVAL);
    assert.equal(partial(dom0, domain.id, HVM_SAVE_CODE.CPU, 0, BUF_A, 2048).ret, -XEN_EINVAL);
  });

  test('hostile contexts get Xen’s errors and leave the domain as it was', () => {
    const { hv, dom0 } = machine();
    const domain = busy(hv, dom0);
    const good = getContext(dom0, domain.id);
    const header = good.subarray(0, DESC + hvm_save_header.size);
    const cpu = hvmGetSaveRecord(good, HVM_SAVE_CODE.CPU, 0)!;
    const join = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
    const desc = (typecode: number, instance: number, length: number) =>
      hvm_save_descriptor.encode({ typecode, instance, length });
    const end = desc(0, 0, 0);
    const badMagic = Uint8Array.from(good);
    new DataView(badMagic.buffer).setUint32(DESC, 0x12345678, true);
    const cases: [string, Uint8Array, number][] = [
      ['bad magic', badMagic, XEN_EINVAL],
      ['truncated header', good.subarray(0, DESC + 10), XEN_ENODATA],
      ['truncated record', good.subarray(0, DESC + 24 + DESC + 100), XEN_EINVAL],
      ['no END', good.subarray(0, good.length - DESC), XEN_ENODATA],
      ['vCPU 9', join(header, desc(2, 9, cpu.length), cpu, end), XEN_EINVAL],
      ['huge length', join(header, desc(6, 0, 0x7fffffff), end), XEN_EINVAL],
      ['length past the end', join(header, desc(14, 0, 0xfffffff8), end), XEN_EINVAL],
      ['unknown typecode', join(header, desc(200, 0, 0), end), XEN_EINVAL],
    ];
    const before = withoutTsc(good);
    for (const [why, data, errno] of cases) {
      assert.equal(xcSetContext(dom0, domain.id, data), -errno, why);
      assert.deepEqual(withoutTsc(getContext(dom0, domain.id)), before, `${why}: unchanged`);
      assert.deepEqual(
        domain.vcpus.map((v) => v.online),
        [true, true],
        why,
      );
    }
  });
});

function partial(
  dom0: ControlGuest,
  domain: number,
  type: number,
  instance: number,
  buffer: number,
  bufsz: number,
) {
  const { ret, op } = dom0.domctl({
    cmd: XEN_DOMCTL_gethvmcontext_partial,
    domain,
    u: { hvmcontext_partial: { type, instance, bufsz: BigInt(bufsz), buffer } },
  });
  return { ret, bufsz: Number(op.u.hvmcontext_partial.bufsz) };
}

describe('XEN_DOMCTL_gethvmcontext_partial', () => {
  test('one record body, its length for a null buffer, and hvm_save_one’s errors', () => {
    const { hv, dom0 } = machine();
    const domain = createPvh(hv, dom0, 2);
    const full = getContext(dom0, domain.id);
    assert.deepEqual(partial(dom0, domain.id, HVM_SAVE_CODE.CPU, 0, 0, 0), { ret: 0, bufsz: 1032 });
    const got = partial(dom0, domain.id, HVM_SAVE_CODE.CPU, 0, BUF_A, 4096);
    assert.deepEqual(got, { ret: 0, bufsz: 1032 });
    const noTsc = (body: Uint8Array) => {
      const out = Uint8Array.from(body);
      new DataView(out.buffer).setBigUint64(hvm_hw_cpu.offsets.tsc, 0n, true);
      return out;
    };
    const record = hvmGetSaveRecord(full, HVM_SAVE_CODE.CPU, 0)!;
    assert.deepEqual(noTsc(dom0.read(BUF_A, 1032)), noTsc(record), 'the TSC aside');
    const mtrr = partial(dom0, domain.id, HVM_SAVE_CODE.MTRR, 1, BUF_A, 240);
    assert.deepEqual(mtrr, { ret: 0, bufsz: 240 });
    assert.equal(hvm_hw_mtrr.decode(dom0.read(BUF_A, 240)).msr_mtrr_cap, 0x508n);

    const cases: [string, number, number, number, number, number][] = [
      ['buffer too small', HVM_SAVE_CODE.CPU, 0, BUF_A, 1031, XEN_ENOBUFS],
      ['vCPU 1 is down', HVM_SAVE_CODE.CPU, 1, BUF_A, 4096, XEN_ENODATA],
      ['no vCPU 2', HVM_SAVE_CODE.LAPIC, 2, BUF_A, 4096, XEN_ENOENT],
      ['no PIC', HVM_SAVE_CODE.PIC, 0, BUF_A, 4096, XEN_ENOENT],
      ['the header is not a record', HVM_SAVE_CODE.HEADER, 0, BUF_A, 4096, XEN_EINVAL],
      ['a type without a handler', HVM_SAVE_CODE.VMCE_VCPU, 0, BUF_A, 4096, XEN_EINVAL],
      ['beyond HVM_SAVE_CODE_MAX', 0x10002, 0, BUF_A, 4096, XEN_EINVAL],
      ['a bad pointer', HVM_SAVE_CODE.CPU, 0, UNMAPPED, 4096, XEN_EFAULT],
    ];
    for (const [why, type, instance, buffer, bufsz, errno] of cases) {
      const r = partial(dom0, domain.id, type, instance, buffer, bufsz);
      assert.deepEqual(r, { ret: -errno, bufsz }, `${why}: not copied back`);
    }
  });
});
