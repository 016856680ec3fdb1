// The HVM context of a domain, host side: what a save holds, that loading it into another
// domain reproduces the vCPUs exactly, Xen's rules for the records it checks, and that no
// context, however malformed, throws or half-loads.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  XEN_EINVAL,
  XEN_ENODATA,
  XEN_ENODEV,
  XEN_ENOENT,
  XEN_ENXIO,
  XEN_EOPNOTSUPP,
} from '../../../../abi/errno.js';
import {
  CPU_MSR_CODE,
  HVM_FILE_MAGIC,
  HVM_SAVE_CODE,
  hvm_hw_cpu,
  hvm_hw_cpu_compat,
  hvm_hw_lapic,
  hvm_hw_mtrr,
  hvm_one_msr,
  hvm_save_descriptor,
  hvm_save_header,
  hvm_tsc_adjust,
  XEN_X86_FPU_INITIALISED,
} from '../../../../abi/hvm-save.js';
import { Cr0, SegAttrBits } from '../../../../x86/cpu.js';
import { Seg } from '../../../../x86/segments.js';
import { assemble } from '../../../../x86/testing/native/assemble.js';
import type { Domain } from '../../../common/domain.js';
import { Hypervisor } from '../../../hypervisor.js';
import { GUEST_CODE, prepareGuest } from '../../../testing/guest.js';
import { ApicReg } from '../vlapic/index.js';
import { hvmLoad, hvmSave, hvmSaveOne, hvmSaveSize, type SaveEnv } from './save.js';

const DESC = hvm_save_descriptor.size;

/** A 64-bit guest that leaves marks in registers, the FPU, SSE, CR2, DR1 and some MSRs. */
const PROGRAM = `
  mov $0x1122334455667788, %rax
  mov %rax, %r15
  movq %rax, %xmm5
  fld1
  fldpi
  mov $0xfedcba98, %ebx
  mov %rbx, %cr2
  mov $0x400000, %eax
  mov %rax, %dr1
  mov $0xc0000082, %ecx
  mov $0x81000000, %eax
  mov $0xffffffff, %edx
  wrmsr
  mov $0xc0000102, %ecx
  mov $0x5000, %eax
  xor %edx, %edx
  wrmsr
  mov $0xc0000100, %ecx
  mov $0x7000, %eax
  wrmsr
  mov $0x2ff, %ecx
  mov $0xc06, %eax
  wrmsr
  stc
1:
  jmp 1b
`;

const le32 = (value: number): number[] => [0, 8, 16, 24].map((shift) => (value >>> shift) & 0xff);

function machine(): Hypervisor {
  return new Hypervisor({ memoryBytes: 64 << 20, clock: 'virtual' });
}

function envOf(hv: Hypervisor, domain: Domain, syncTsc = 1_000_000): SaveEnv {
  return { hv, domain, syncTsc, vlapic: true };
}

/** A paused two-vCPU domain: vCPU 0 ran PROGRAM; vCPU 1 is up in real mode; busy APICs. */
function busyDomain(hv: Hypervisor): Domain {
  const domain = hv.createDomain({ maxVcpus: 2, maxPages: 4096 });
  prepareGuest(hv, domain, assemble(PROGRAM, 64, { origin: GUEST_CODE }));
  hv.unpause(domain);
  hv.run(2000);
  hv.pause(domain);
  const [v0, v1] = domain.vcpus as [(typeof domain.vcpus)[0], (typeof domain.vcpus)[0]];
  assert.equal(v0.cpu.gpr[15 * 2]! >>> 0, 0x55667788, 'the program ran');
  // vCPU 0's APIC: enabled, a TPR, a periodic timer running, a vector pending.
  const a0 = v0.vlapic;
  a0.mmioWrite(ApicReg.SVR, 4, 0x1ff);
  a0.mmioWrite(ApicReg.TPR, 4, 0x20);
  a0.mmioWrite(ApicReg.TDCR, 4, 0x3);
  a0.mmioWrite(ApicReg.LVTT, 4, 0x200ec);
  a0.mmioWrite(ApicReg.TMICT, 4, 100_000);
  a0.acceptInterrupt(0x55);
  // vCPU 1: up in real mode with an exception on its way in; its APIC in x2APIC mode.
  hv.setOnline(v1, true);
  v1.cpu.injectException(13, 0);
  assert.ok(v1.vlapic.writeApicBase(0xfee00000 | (1 << 11) | (1 << 10), 0));
  v1.cpu.msrs.set(0x200, [0x80000006, 0]); // PHYSBASE0: WB at 2 GiB
  v1.cpu.msrs.set(0x201, [0x80000800, 0xff]); // PHYSMASK0: 2 GiB, valid
  return domain;
}

/** The records of a context: typecode, instance, body. */
function records(data: Uint8Array): { typecode: number; instance: number; body: Uint8Array }[] {
  const out = [];
  for (let at = 0; at + DESC <= data.length; ) {
    const d = hvm_save_descriptor.decode(data, at);
    out.push({ ...d, body: data.subarray(at + DESC, at + DESC + d.length) });
    at += DESC + d.length;
    if (d.typecode === 0) break;
  }
  return out;
}

function context(...parts: [number, number, Uint8Array][]): Uint8Array {
  const header = hvm_save_header.encode({ magic: HVM_FILE_MAGIC, version: 1 });
  const all: [number, number, Uint8Array][] = [[1, 0, header], ...parts, [0, 0, new Uint8Array()]];
  const out: number[] = [];
  for (const [typecode, instance, body] of all) {
    out.push(...hvm_save_descriptor.encode({ typecode, instance, length: body.length }), ...body);
  }
  return Uint8Array.from(out);
}

function cpuRecord(data: Uint8Array, instance = 0): Uint8Array {
  const r = records(data).find((x) => x.typecode === HVM_SAVE_CODE.CPU && x.instance === instance);
  assert.ok(r, `a CPU record for vCPU ${instance}`);
  return Uint8Array.from(r.body);
}

describe('hvmSave', () => {
  test('HEADER, then each type by typecode and vCPU, then END; within hvm_save_size', () => {
    const hv = machine();
    const domain = busyDomain(hv);
    const env = envOf(hv, domain);
    const { rc, data } = hvmSave(env);
    assert.equal(rc, 0);
    assert.ok(data.length <= hvmSaveSize(env));
    const list = records(data).map((r) => [r.typecode, r.instance, r.body.length]);
    assert.deepEqual(list, [
      [1, 0, 24],
      [2, 0, 1032],
      [2, 1, 1032],
      [5, 0, 24],
      [5, 1, 24],
      [6, 0, 1024],
      [6, 1, 1024],
      [14, 0, 240],
      [14, 1, 240],
      [19, 0, 8],
      [19, 1, 8],
      [0, 0, 0],
    ]);
    const header = hvm_save_header.decode(records(data)[0]!.body);
    assert.equal(header.magic, HVM_FILE_MAGIC);
    assert.equal(header.gtsc_khz, 2_000_000);
    assert.equal(header.changeset, 0xffff_ffff_ffff_ffffn);

    const cpu = hvm_hw_cpu.decode(cpuRecord(data));
    assert.equal(cpu.r15, 0x1122334455667788n);
    assert.equal(cpu.rbx, 0xfedcba98n);
    assert.equal(cpu.cr2, 0xfedcba98n);
    assert.equal(cpu.dr1, 0x400000n);
    assert.equal(cpu.dr6, 0xffff0ff0n);
    assert.equal(cpu.dr7, 0x400n);
    assert.equal(cpu.msr_lstar, 0xffffffff81000000n);
    assert.equal(cpu.shadow_gs, 0x5000n);
    assert.equal(cpu.fs_base, 0x7000n);
    assert.equal(cpu.cs_arbytes, 0xa9b, '64-bit code in the save format');
    assert.equal(cpu.ldtr_arbytes & 0x80, 0x80, 'the reset LDTR is usable');
    assert.equal(cpu.rflags & 1n, 1n, 'CF');
    assert.equal(cpu.flags, XEN_X86_FPU_INITIALISED);
    assert.equal(cpu.tsc, BigInt(1_000_000 + domain.vcpus[0]!.cpu.tscOffset));
    const cpu1 = hvm_hw_cpu.decode(cpuRecord(data, 1));
    assert.equal(cpu1.pending_event, 0x80000b0d, 'valid, hardware exception, error code, #GP');
    assert.equal(cpu1.cs_sel, 0xf000);

    const lapic1 = hvm_hw_lapic.decode(records(data)[4]!.body);
    assert.equal(lapic1.apic_base_msr, 0xfee00c00n);
    assert.equal(lapic1.disabled, 2, 'software-disabled (SVR)');
    const regs0 = new DataView(records(data)[5]!.body.slice().buffer);
    assert.equal(regs0.getUint32(ApicReg.TPR, true), 0x20);
    assert.equal(regs0.getUint32(ApicReg.TMICT, true), 100_000);
    assert.equal(regs0.getUint32(ApicReg.IRR + 0x20, true), 1 << (0x55 - 64));
    const mtrr = hvm_hw_mtrr.decode(records(data)[7]!.body);
    assert.equal(mtrr.msr_mtrr_cap, 0x508n, "Xen's MTRRcap");
    assert.equal(mtrr.msr_pat_cr, 0x0007040600070406n, "Xen's default PAT");
    assert.equal(mtrr.msr_mtrr_def_type, 0xc06n, 'as the guest wrote it');
  });

  test('a vCPU that is down has no CPU record; the others are still saved', () => {
    const hv = machine();
    const domain = hv.createDomain({ maxVcpus: 3, maxPages: 16 });
    const list = records(hvmSave(envOf(hv, domain)).data);
    assert.deepEqual(
      list.filter((r) => r.typecode === HVM_SAVE_CODE.CPU).map((r) => r.instance),
      [0],
    );
    assert.equal(list.filter((r) => r.typecode === HVM_SAVE_CODE.MTRR).length, 3);
  });

  test('gethvmcontext_partial: one body, or the error Xen gives', () => {
    const hv = machine();
    const domain = busyDomain(hv);
    hv.setOnline(domain.vcpus[1]!, false);
    const env = envOf(hv, domain);
    const full = hvmSave(env).data;
    assert.deepEqual(hvmSaveOne(env, HVM_SAVE_CODE.CPU, 0), cpuRecord(full));
    assert.equal(hvmSaveOne(env, HVM_SAVE_CODE.CPU, 1), -XEN_ENODATA, 'vCPU 1 is down');
    assert.equal(hvmSaveOne(env, HVM_SAVE_CODE.CPU, 2), -XEN_ENOENT);
    assert.equal((hvmSaveOne(env, HVM_SAVE_CODE.MTRR, 1) as Uint8Array).length, 240);
    assert.equal(hvmSaveOne(env, HVM_SAVE_CODE.PIC, 0), -XEN_ENOENT, 'no PIC');
    assert.equal(hvmSaveOne(env, HVM_SAVE_CODE.HEADER, 0), -XEN_EINVAL);
    assert.equal(hvmSaveOne(env, HVM_SAVE_CODE.PCI_IRQ, 0), -XEN_EINVAL);
    assert.equal(hvmSaveOne(env, 21, 0), -XEN_EINVAL);
  });
});

describe('hvmLoad', () => {
  test('loading a save into a fresh domain reproduces it byte for byte', () => {
    const hv = machine();
    const from = busyDomain(hv);
    const saved = hvmSave(envOf(hv, from)).data;
    const to = hv.createDomain({ maxVcpus: 2, maxPages: 16 });
    assert.equal(hvmLoad(envOf(hv, to), saved), 0);
    assert.deepEqual(hvmSave(envOf(hv, to)).data, saved);
    // And the same domain again: get → set → get.
    assert.equal(hvmLoad(envOf(hv, from), saved), 0);
    assert.deepEqual(hvmSave(envOf(hv, from)).data, saved);

    const [a, b] = [from.vcpus[0]!.cpu, to.vcpus[0]!.cpu];
    assert.deepEqual([...b.gpr], [...a.gpr]);
    assert.deepEqual([...b.fpu.xmm], [...a.fpu.xmm]);
    assert.equal(b.codeSize, 64);
    assert.equal(b.tscOffset, a.tscOffset);
    assert.ok(to.vcpus[1]!.online && to.vcpus[1]!.initialised, 'vCPU 1 brought up');
    assert.equal(to.vcpus[1]!.cpu.pendingException, 13);
    assert.ok(to.vcpus[1]!.vlapic.x2apicMode);
    assert.ok(to.vcpus[0]!.vlapic.timerDeadline !== undefined, 'the periodic timer re-armed');
    assert.ok(to.vcpus[0]!.vlapic.isPending(0x55));
    assert.deepEqual(to.vcpus[1]!.cpu.msrs.get(0x201), [0x80000800 | 0, 0xff]);
  });

  test('downs every vCPU and brings up those with a CPU record', () => {
    const hv = machine();
    const domain = busyDomain(hv);
    const one = cpuRecord(hvmSave(envOf(hv, domain)).data, 1);
    assert.equal(hvmLoad(envOf(hv, domain), context([HVM_SAVE_CODE.CPU, 1, one])), 0);
    assert.deepEqual(
      domain.vcpus.map((v) => v.online),
      [false, true],
    );
    assert.equal(hvmLoad(envOf(hv, domain), context()), 0, 'a header and END');
    assert.deepEqual(
      domain.vcpus.map((v) => v.online),
      [false, false],
    );
  });

  test('a pre-4.7 CPU record, and shorter ones zero-extended, count as FPU-initialised', () => {
    const hv = machine();
    const domain = busyDomain(hv);
    const env = envOf(hv, domain);
    const full = hvm_hw_cpu.decode(cpuRecord(hvmSave(env).data));
    const { msr_tsc_aux: _aux, flags: _flags, pad0: _pad, ...common } = full;
    const compat = hvm_hw_cpu_compat.encode({ ...common, tsc: 0x1234_5678n, error_code: 0 });
    assert.equal(compat.length, 1016);
    assert.equal(hvmLoad(env, context([HVM_SAVE_CODE.CPU, 0, compat])), 0);
    const after = hvm_hw_cpu.decode(hvmSaveOne(env, HVM_SAVE_CODE.CPU, 0) as Uint8Array);
    assert.equal(after.tsc, 0x1234_5678n, 'the compat tsc moved into place');
    assert.equal(after.r15, full.r15);
    assert.deepEqual(after.fpu_regs, full.fpu_regs, 'the image was loaded');

    // A record cut after rflags: the rest zero, then the checks see CR0 = 0 and refuse it.
    const short = cpuRecord(hvmSave(env).data).subarray(0, hvm_hw_cpu.offsets.cr0);
    assert.equal(hvmLoad(env, context([HVM_SAVE_CODE.CPU, 0, short])), -XEN_EINVAL);
  });

  test('the CPU record checks of hvm_load_cpu_ctxt and vmx_vmcs_restore', () => {
    const hv = machine();
    const domain = busyDomain(hv);
    const env = envOf(hv, domain);
    const good = hvm_hw_cpu.decode(cpuRecord(hvmSave(env).data));
    const cases: [string, Partial<typeof good>][] = [
      ['pad0', { pad0: 1 }],
      ['CR0 without ET', { cr0: good.cr0 & ~BigInt(Cr0.ET) }],
      ['CR0 reserved bit', { cr0: good.cr0 | (1n << 6n) }],
      ['CR0 high bits', { cr0: good.cr0 | (1n << 32n) }],
      ['PG without PE', { cr0: BigInt((Cr0.PG | Cr0.ET) >>> 0) }],
      ['CR4.VMXE', { cr4: good.cr4 | (1n << 13n) }],
      ['CR4 high bits', { cr4: good.cr4 | (1n << 40n) }],
      ['EFER.SVME', { msr_efer: good.msr_efer | (1n << 12n) }],
      ['LMA without paging', { cr0: 0x11n }],
      ['CR3 beyond MAXPHYADDR', { cr3: 1n << 45n }],
      ['unknown flags', { flags: 3 }],
      ['TSC_AUX above 32 bits', { msr_tsc_aux: 1n << 32n }],
      ['pending event of type 1', { pending_event: 0x80000100 }],
      ['pending event of type 7', { pending_event: 0x80000700 }],
      ['pending event reserved bits', { pending_event: 0x80010000 }],
      ['error code above 16 bits', { pending_event: 0x80000b0d, error_code: 0x10000 }],
      ['long mode without PAE', { cr4: good.cr4 & ~(1n << 5n) }],
    ];
    const before = hvmSave(env).data;
    for (const [why, patch] of cases) {
      const body = hvm_hw_cpu.encode({ ...good, ...patch });
      assert.equal(hvmLoad(env, context([HVM_SAVE_CODE.CPU, 0, body])), -XEN_EINVAL, why);
      assert.deepEqual(hvmSave(env).data, before, `${why}: nothing changed`);
    }
    // Old Xens saved VMCS-format attributes: they are refolded.
    const vmcs = hvm_hw_cpu.encode({ ...good, cs_arbytes: 0xa09b });
    assert.equal(hvmLoad(env, context([HVM_SAVE_CODE.CPU, 0, vmcs])), 0);
    assert.equal(domain.vcpus[0]!.cpu.segAttr[Seg.CS], 0xa09b);
    // A null selector's unusable segment comes back unusable.
    const nul = hvm_hw_cpu.encode({ ...good, fs_arbytes: 0 });
    assert.equal(hvmLoad(env, context([HVM_SAVE_CODE.CPU, 0, nul])), 0);
    assert.equal(domain.vcpus[0]!.cpu.segAttr[Seg.FS], SegAttrBits.Unusable);
  });

  test("MTRR: Xen's per-register rules skip bad values; too many ranges is -EINVAL", () => {
    const hv = machine();
    const domain = busyDomain(hv);
    const env = envOf(hv, domain);
    const cpu = domain.vcpus[0]!.cpu;
    const good = hvm_hw_mtrr.decode(hvmSaveOne(env, HVM_SAVE_CODE.MTRR, 0) as Uint8Array);
    const vars = [...good.msr_mtrr_var];
    vars[0] = 0x100006n; // WB at 1 MiB
    vars[1] = 0xfffff00800n; // valid, 1 MiB
    vars[2] = 0x200002n; // type 2 is reserved: skipped
    vars[3] = 0x1000000000000800n; // beyond MAXPHYADDR: skipped
    const fixed = [...good.msr_mtrr_fixed];
    fixed[0] = 0x0606060606060606n;
    fixed[1] = 0x0606060606060603n; // type 3: the row is skipped
    const m = hvm_hw_mtrr.encode({
      ...good,
      msr_pat_cr: 0x0707070707070708n, // PAT type 8: skipped
      msr_mtrr_var: vars,
      msr_mtrr_fixed: fixed,
      msr_mtrr_def_type: 0x806n,
    });
    assert.equal(hvmLoad(env, context([HVM_SAVE_CODE.MTRR, 0, m])), 0);
    assert.deepEqual(cpu.msrs.get(0x200), [0x100006, 0]);
    assert.deepEqual(cpu.msrs.get(0x201), [0x00800 | 0xfff00000 | 0, 0xff]);
    assert.equal(cpu.msrs.get(0x202), undefined);
    assert.equal(cpu.msrs.get(0x203), undefined);
    assert.deepEqual(cpu.msrs.get(0x250), [0x06060606, 0x06060606]);
    assert.equal(cpu.msrs.get(0x258), undefined);
    assert.equal(cpu.msrs.get(0x277), undefined, 'the PAT is unchanged');
    assert.deepEqual(cpu.msrs.get(0x2ff), [0x806, 0]);
    const nine = hvm_hw_mtrr.encode({ ...good, msr_mtrr_cap: 0x509n });
    assert.equal(hvmLoad(env, context([HVM_SAVE_CODE.MTRR, 0, nine])), -XEN_EINVAL);
  });

  test("CPU_MSR: SPEC_CTRL saved when set and loaded back; Xen's length and entry checks", () => {
    const hv = machine();
    const domain = busyDomain(hv);
    const env = envOf(hv, domain);
    const cpu = domain.vcpus[1]!.cpu;
    assert.equal(hvmSaveOne(env, CPU_MSR_CODE, 1), -XEN_ENODATA, 'SPEC_CTRL is 0: no record');
    cpu.msrs.set(0x48, [0x401, 0]); // IBRS and BHI_DIS_S, as Linux sets them
    const saved = hvmSave(env).data;
    const record = records(saved).find((r) => r.typecode === CPU_MSR_CODE);
    assert.deepEqual([record?.instance, record?.body.length], [1, 24]);
    const to = hv.createDomain({ maxVcpus: 2, maxPages: 16 });
    assert.equal(hvmLoad(envOf(hv, to), saved), 0);
    assert.deepEqual(to.vcpus[1]!.cpu.msrs.get(0x48), [0x401, 0]);
    assert.deepEqual(hvmSave(envOf(hv, to)).data, saved);

    const entry = (index: number, val: bigint, rsvd = 0) =>
      hvm_one_msr.encode({ index, _rsvd: rsvd, val });
    const msrs = (count: number, ...entries: Uint8Array[]) =>
      Uint8Array.from([...le32(count), 0, 0, 0, 0, ...entries.flatMap((e) => [...e])]);
    const load = (body: Uint8Array) => hvmLoad(env, context([CPU_MSR_CODE, 0, body]));
    assert.equal(load(msrs(0)), -XEN_EINVAL, 'shorter than one entry');
    assert.equal(load(msrs(2, entry(0x48, 1n))), -XEN_EOPNOTSUPP, 'count and length differ');
    assert.equal(load(msrs(1, entry(0x48, 1n, 1))), -XEN_EOPNOTSUPP, 'reserved word set');
    assert.equal(load(msrs(1, entry(0x10, 1n))), -XEN_ENXIO, 'not an MSR Xen sends');
    assert.equal(load(msrs(1, entry(0x48, 4n))), -XEN_ENXIO, 'SSBD is not offered');
    assert.equal(domain.vcpus[0]!.cpu.msrs.get(0x48), undefined, 'nothing changed');
    assert.equal(load(msrs(1, entry(0x48, 2n))), 0);
    assert.deepEqual(domain.vcpus[0]!.cpu.msrs.get(0x48), [2, 0]);
  });

  test('TSC_ADJUST: the MSR is saved, and loading sets it without moving the TSC', () => {
    const hv = machine();
    const domain = busyDomain(hv);
    const env = envOf(hv, domain);
    const cpu = domain.vcpus[1]!.cpu;
    cpu.tscAdjust = -5000;
    const body = hvmSaveOne(env, HVM_SAVE_CODE.TSC_ADJUST, 1) as Uint8Array;
    assert.equal(hvm_tsc_adjust.decode(body).tsc_adjust, 2n ** 64n - 5000n);
    const offset = domain.vcpus[0]!.cpu.tscOffset;
    assert.equal(hvmLoad(env, context([HVM_SAVE_CODE.TSC_ADJUST, 0, body])), 0);
    assert.equal(domain.vcpus[0]!.cpu.tscAdjust, -5000);
    assert.equal(domain.vcpus[0]!.cpu.tscOffset, offset);
  });

  test('LAPIC: x2APIC mode without the enable bit is refused; no APIC is -ENODEV', () => {
    const hv = machine();
    const domain = busyDomain(hv);
    const env = envOf(hv, domain);
    const bad = hvm_hw_lapic.encode({ apic_base_msr: 0xfee00400n });
    assert.equal(hvmLoad(env, context([HVM_SAVE_CODE.LAPIC, 0, bad])), -XEN_EINVAL);
    const noApic = { ...env, vlapic: false };
    const good = hvm_hw_lapic.encode({ apic_base_msr: 0xfee00900n });
    assert.equal(hvmLoad(noApic, context([HVM_SAVE_CODE.LAPIC, 0, good])), -XEN_ENODEV);
    assert.deepEqual(
      records(hvmSave(noApic).data).filter((r) => r.typecode === 5 || r.typecode === 6),
      [],
    );
    assert.equal(hvmLoad(env, context([HVM_SAVE_CODE.PIT, 0, new Uint8Array(56)])), -XEN_ENODEV);
  });

  test('malformed contexts get Xen’s errors and change nothing', () => {
    const hv = machine();
    const domain = busyDomain(hv);
    const env = envOf(hv, domain);
    const good = hvmSave(env).data;
    const header = good.subarray(0, DESC + hvm_save_header.size);
    const cpu = cpuRecord(good);
    const desc = (typecode: number, instance: number, length: number) =>
      hvm_save_descriptor.encode({ typecode, instance, length });
    const join = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
    const badMagic = Uint8Array.from(good);
    badMagic[DESC] = 0;
    const badVersion = Uint8Array.from(good);
    badVersion[DESC + 4] = 2;
    const cases: [string, Uint8Array, number][] = [
      ['empty', new Uint8Array(0), XEN_ENODATA],
      ['half a header', good.subarray(0, 20), XEN_ENODATA],
      ['not a header first', context().subarray(DESC + 24), XEN_ENODATA],
      ['bad magic', badMagic, XEN_EINVAL],
      ['bad version', badVersion, XEN_EINVAL],
      ['no END', header, XEN_ENODATA],
      ['a torn descriptor', join(header, desc(2, 0, 1032).subarray(0, 5)), XEN_ENODATA],
      ['a truncated CPU record', join(header, desc(2, 0, 1032), cpu.subarray(0, 500)), XEN_EINVAL],
      ['a CPU record of 1040 bytes', context([2, 0, new Uint8Array(1040)]), XEN_EINVAL],
      ['vCPU 2 of 2', context([2, 2, cpu]), XEN_EINVAL],
      ['vCPU 65535', context([14, 0xffff, new Uint8Array(240)]), XEN_EINVAL],
      ['a huge length', join(header, desc(2, 0, 0xffffffff), cpu), XEN_EINVAL],
      ['a wrapping length', join(header, desc(19, 0, 0xfffffff8), new Uint8Array(16)), XEN_EINVAL],
      ['LAPIC_REGS of 1023 bytes', context([6, 0, new Uint8Array(1023)]), XEN_EINVAL],
      ['MTRR of 241 bytes', context([14, 0, new Uint8Array(241)]), XEN_EINVAL],
      ['TSC_ADJUST of 4 bytes', context([19, 0, new Uint8Array(4)]), XEN_EINVAL],
      ['a second HEADER', context([1, 0, header.subarray(DESC)]), XEN_EINVAL],
      ['unknown typecode 99', context([99, 0, new Uint8Array(8)]), XEN_EINVAL],
      ['PCI_IRQ (no handler)', context([7, 0, new Uint8Array(16)]), XEN_EINVAL],
      ['CPU_XSAVE (no handler)', context([16, 0, new Uint8Array(64)]), XEN_EINVAL],
      ['PIC (no PIC)', context([3, 0, new Uint8Array(8)]), XEN_ENODEV],
      [
        'good records, then a bad one',
        context([2, 0, cpu], [14, 5, new Uint8Array(240)]),
        XEN_EINVAL,
      ],
    ];
    const online = domain.vcpus.map((v) => v.online);
    for (const [why, data, errno] of cases) {
      assert.equal(hvmLoad(env, data), -errno, why);
      assert.deepEqual(hvmSave(env).data, good, `${why}: nothing changed`);
      assert.deepEqual(
        domain.vcpus.map((v) => v.online),
        online,
        `${why}: no vCPU downed`,
      );
    }
  });

  test('random damage to a good context never throws, and a refusal changes nothing', () => {
    const hv = machine();
    const domain = busyDomain(hv);
    const env = envOf(hv, domain);
    const good = hvmSave(env).data;
    let seed = 0x2545f491;
    const next = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    let refused = 0;
    for (let i = 0; i < 300; i++) {
      const data = Uint8Array.from(good).subarray(
        0,
        next() % 4 === 0 ? next() % good.length : good.length,
      );
      for (let n = next() % 6; n >= 0; n--) data[next() % data.length] = next() & 0xff;
      const before = hvmSave(env).data;
      const rc = hvmLoad(env, data);
      assert.ok(rc === 0 || rc < 0, `iteration ${i}: ${rc}`);
      if (rc < 0) {
        refused++;
        assert.deepEqual(hvmSave(env).data, before, `iteration ${i}: refused, unchanged`);
      }
    }
    assert.ok(refused > 0);
  });
});
