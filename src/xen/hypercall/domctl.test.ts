// HYPERVISOR_domctl made by a privileged guest, as Dom0's toolstack makes it: creating,
// inspecting, pausing and destroying domains, vCPU contexts, and the errors of each.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  XEN_DOMCTL_CDF_hap,
  XEN_DOMCTL_CDF_hvm,
  XEN_DOMCTL_createdomain,
  XEN_DOMCTL_destroydomain,
  XEN_DOMCTL_get_address_size,
  XEN_DOMCTL_getdomaininfo,
  XEN_DOMCTL_getvcpucontext,
  XEN_DOMCTL_getvcpuinfo,
  XEN_DOMCTL_max_mem,
  XEN_DOMCTL_max_vcpus,
  XEN_DOMCTL_pausedomain,
  XEN_DOMCTL_set_address_size,
  XEN_DOMCTL_set_virq_handler,
  XEN_DOMCTL_setdomainhandle,
  XEN_DOMCTL_settimeoffset,
  XEN_DOMCTL_setvcpucontext,
  XEN_DOMCTL_shadow_op,
  XEN_DOMCTL_unpausedomain,
  XEN_DOMINF_blocked,
  XEN_DOMINF_hap,
  XEN_DOMINF_hvm_guest,
  XEN_DOMINF_paused,
  XEN_DOMINF_running,
  XEN_DOMINF_shutdown,
  XEN_DOMINF_shutdownmask,
  XEN_DOMINF_shutdownshift,
  type xen_domctl,
} from '../../abi/domctl.js';
import {
  XEN_EACCES,
  XEN_EEXIST,
  XEN_EFAULT,
  XEN_EINVAL,
  XEN_ENODATA,
  XEN_ENOSYS,
  XEN_EOPNOTSUPP,
  XEN_EOVERFLOW,
  XEN_EPERM,
  XEN_ESRCH,
} from '../../abi/errno.js';
import { __HYPERVISOR_domctl } from '../../abi/hypercall.js';
import { SHUTDOWN_reboot } from '../../abi/sched.js';
import {
  DOMID_SELF,
  shared_info,
  VGCF_i387_valid,
  VGCF_online,
  VIRQ_DOM_EXC,
  VIRQ_TIMER,
  vcpu_guest_context,
  XEN_X86_EMU_ALL,
  XEN_X86_EMU_LAPIC,
  XEN_X86_EMU_VPCI,
} from '../../abi/xen.js';
import { assemble } from '../../x86/testing/native/assemble.js';
import { GPR_NAMES } from '../../x86/testing/registers.js';
import { DomainState } from '../common/domain.js';
import { Hypervisor } from '../hypervisor.js';
import { GUEST_CODE, prepareGuest } from '../testing/guest.js';
import { BUF_A, BUF_B, ControlGuest } from './testing-control.js';

const HANDLE = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);

type CreateValue = NonNullable<
  NonNullable<Parameters<typeof xen_domctl.encode>[0]['u']>['createdomain']
>;

/** A PVH domU's createdomain payload, as libxl builds it; `changes` override fields. */
function pvhConfig(changes: CreateValue = {}): CreateValue {
  return {
    handle: HANDLE,
    flags: XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
    max_vcpus: 2,
    max_evtchn_port: 1023,
    max_grant_frames: 32,
    max_maptrack_frames: -1,
    grant_opts: 2,
    arch: { emulation_flags: XEN_X86_EMU_LAPIC, misc_flags: 0 },
    ...changes,
  };
}

function machine(): { hv: Hypervisor; dom0: ControlGuest } {
  const hv = new Hypervisor({ memoryBytes: 32 << 20, clock: 'virtual' });
  return { hv, dom0: ControlGuest.create(hv) };
}

function create(dom0: ControlGuest, domain = 0, changes: CreateValue = {}) {
  return dom0.domctl({
    cmd: XEN_DOMCTL_createdomain,
    domain,
    u: { createdomain: pvhConfig(changes) },
  });
}

function simple(dom0: ControlGuest, cmd: number, domain: number): number {
  return dom0.domctl({ cmd, domain }).ret;
}

function info(dom0: ControlGuest, domain: number) {
  const { ret, op } = dom0.domctl({ cmd: XEN_DOMCTL_getdomaininfo, domain });
  return { ret, domain: op.domain, info: op.u.getdomaininfo };
}

describe('XEN_DOMCTL_createdomain', () => {
  test('creates a paused PVH domain with the asked configuration and writes its domid back', () => {
    const { hv, dom0 } = machine();
    const { ret, op } = create(dom0);
    assert.equal(ret, 0);
    assert.equal(op.domain, 1);
    const domain = hv.domains.get(1);
    assert.ok(domain !== undefined);
    assert.equal(domain.vcpus.length, 2);
    assert.deepEqual([...domain.handle], [...HANDLE]);
    assert.equal(domain.maxPages, 0, 'no memory until XEN_DOMCTL_max_mem');
    assert.equal(domain.pauseCount, 1, 'paused once, for the toolstack');
    assert.equal(domain.privileged, false);
    assert.equal(domain.config.maxEvtchnPort, 1023);
    assert.equal(domain.config.maxGrantFrames, 32);
    assert.equal(domain.config.maxMaptrackFrames, 1024, 'negative: the default');
    assert.equal(op.u.createdomain.max_vcpus, 2, 'the configuration comes back');

    // A chosen free domid, then the rover's next one; a taken one is refused.
    assert.equal(create(dom0, 42).op.domain, 42);
    assert.equal(create(dom0, 42).ret, -XEN_EEXIST);
    assert.equal(create(dom0, 0).op.domain, 2);
    assert.equal(create(dom0, DOMID_SELF).op.domain, 3, 'a reserved domid: pick one');
    assert.deepEqual(
      [...hv.domains.keys()].sort((a, b) => a - b),
      [0, 1, 2, 3, 42],
    );
  });

  test("refuses configurations Xen's checks refuse, creating nothing", () => {
    const { hv, dom0 } = machine();
    const cases: [string, CreateValue, number][] = [
      ['PV (no CDF_hvm)', { flags: 0 }, XEN_EINVAL],
      ['HAP without HVM', { flags: XEN_DOMCTL_CDF_hap }, XEN_EINVAL],
      ['an unknown CDF flag', { flags: XEN_DOMCTL_CDF_hvm | (1 << 12) }, XEN_EINVAL],
      ['no vCPUs', { max_vcpus: 0 }, XEN_EINVAL],
      ['more vCPUs than HVM_MAX_VCPUS', { max_vcpus: 129 }, XEN_EINVAL],
      ['grant version 0', { grant_opts: 0 }, XEN_EINVAL],
      ['grant version 3', { grant_opts: 3 }, XEN_EINVAL],
      ['unknown grant options', { grant_opts: 0x12 }, XEN_EINVAL],
      ['too many grant frames', { max_grant_frames: 65 }, XEN_EINVAL],
      ['no grant frames', { max_grant_frames: 0 }, XEN_EINVAL],
      ['too many maptrack frames', { max_maptrack_frames: 1025 }, XEN_EINVAL],
      ['IOMMU options without the IOMMU', { iommu_opts: 1 }, XEN_EINVAL],
      ['vmtrace', { vmtrace_size: 4096 }, XEN_EINVAL],
      [
        'bad misc flags',
        { arch: { emulation_flags: XEN_X86_EMU_LAPIC, misc_flags: 2 } },
        XEN_EINVAL,
      ],
      ['an unknown emulator', { arch: { emulation_flags: 1 << 20, misc_flags: 0 } }, XEN_EINVAL],
      [
        'full HVM emulation',
        { arch: { emulation_flags: XEN_X86_EMU_ALL & ~XEN_X86_EMU_VPCI, misc_flags: 0 } },
        XEN_EOPNOTSUPP,
      ],
      ['no emulated LAPIC', { arch: { emulation_flags: 0, misc_flags: 0 } }, XEN_EOPNOTSUPP],
      ['a cpupool that does not exist', { cpupool_id: 3 }, XEN_ESRCH],
    ];
    const free = hv.frames.free;
    for (const [what, changes, errno] of cases) {
      assert.equal(create(dom0, 0, changes).ret, -errno, what);
    }
    assert.deepEqual([...hv.domains.keys()], [0]);
    assert.equal(hv.frames.free, free, 'nothing allocated');
  });
});

describe('XEN_DOMCTL_getdomaininfo', () => {
  test('reports pages, limits, vCPUs, flags and the handle; finds the next domain', () => {
    const { hv, dom0 } = machine();
    create(dom0);
    const domain = hv.domains.get(1)!;
    let r = info(dom0, 1);
    assert.equal(r.ret, 0);
    assert.equal(r.domain, 1);
    assert.equal(r.info.domain, 1);
    const flags = r.info.flags;
    assert.ok(flags & XEN_DOMINF_paused);
    assert.ok(flags & XEN_DOMINF_hvm_guest);
    assert.ok(flags & XEN_DOMINF_hap);
    assert.equal(flags & (XEN_DOMINF_running | XEN_DOMINF_blocked | XEN_DOMINF_shutdown), 0);
    assert.equal(flags >>> XEN_DOMINF_shutdownshift, 0xffff, 'no shutdown code yet (~0u)');
    assert.equal(r.info.tot_pages, 0n);
    assert.equal(r.info.max_pages, 0n);
    assert.equal(r.info.nr_online_vcpus, 1);
    assert.equal(r.info.max_vcpu_id, 1);
    assert.deepEqual([...r.info.handle], [...HANDLE]);
    assert.equal(r.info.shared_info_frame, 0xffff_ffff_ffff_ffffn, 'not mapped by the guest');
    assert.equal(r.info.gpaddr_bits, 36);
    assert.equal(r.info.arch_config.emulation_flags, XEN_X86_EMU_LAPIC);

    // max_mem in KiB; pages the host populates show in tot_pages.
    const mem = dom0.domctl({
      cmd: XEN_DOMCTL_max_mem,
      domain: 1,
      u: { max_mem: { max_memkb: 1024n } },
    });
    assert.equal(mem.ret, 0);
    assert.equal(domain.maxPages, 256);
    assert.equal(hv.populatePhysmap(domain, 0, 300), 256, 'max_mem bounds the populate');
    r = info(dom0, 1);
    assert.equal(r.info.tot_pages, 256n);
    assert.equal(r.info.max_pages, 256n);

    // The caller's own domain is running; a shut-down one reports its reason.
    const self = info(dom0, 0).info;
    assert.ok(self.flags & XEN_DOMINF_running);
    assert.equal(self.flags & XEN_DOMINF_paused, 0);
    assert.equal(self.tot_pages, BigInt(dom0.domain.totPages));
    assert.ok(self.cpu_time > 0n);
    hv.shutdownDomain(domain, SHUTDOWN_reboot);
    const down = info(dom0, 1).info.flags;
    assert.ok(down & XEN_DOMINF_shutdown);
    assert.equal((down >>> XEN_DOMINF_shutdownshift) & XEN_DOMINF_shutdownmask, SHUTDOWN_reboot);

    // A domid nobody has: the next domain up, or -ESRCH past the last; reserved: -EINVAL.
    create(dom0, 42);
    r = info(dom0, 5);
    assert.equal(r.ret, 0);
    assert.equal(r.domain, 42, 'the domctl names the domain found');
    assert.equal(r.info.domain, 42);
    assert.equal(info(dom0, 43).ret, -XEN_ESRCH);
    assert.equal(info(dom0, DOMID_SELF).ret, -XEN_EINVAL);
  });
});

describe('pause, unpause and destroy', () => {
  test('pause counts nest; unpausing an unpaused domain is -EINVAL', () => {
    const { hv, dom0 } = machine();
    create(dom0);
    const domain = hv.domains.get(1)!;
    assert.equal(simple(dom0, XEN_DOMCTL_pausedomain, 1), 0);
    assert.equal(domain.pauseCount, 2);
    assert.equal(simple(dom0, XEN_DOMCTL_unpausedomain, 1), 0);
    assert.equal(domain.pauseCount, 1);

    // Give it memory and a program; the toolstack's last unpause lets it run.
    dom0.domctl({ cmd: XEN_DOMCTL_max_mem, domain: 1, u: { max_mem: { max_memkb: 16384n } } });
    prepareGuest(hv, domain, assemble('1: jmp 1b', 64, { origin: GUEST_CODE }));
    hv.run(50_000);
    assert.equal(domain.vcpus[0]!.cpu.instret, 0, 'still paused');
    assert.equal(simple(dom0, XEN_DOMCTL_unpausedomain, 1), 0);
    assert.equal(domain.pauseCount, 0);
    hv.run(50_000);
    assert.ok(domain.vcpus[0]!.cpu.instret > 0, 'runs once unpaused');
    assert.equal(info(dom0, 1).info.flags & XEN_DOMINF_paused, 0);
    assert.equal(simple(dom0, XEN_DOMCTL_unpausedomain, 1), -XEN_EINVAL);
    assert.equal(domain.pauseCount, 0);

    assert.equal(simple(dom0, XEN_DOMCTL_pausedomain, 0), -XEN_EINVAL, 'not the caller itself');
    domain.pauseCount = 254;
    assert.equal(simple(dom0, XEN_DOMCTL_pausedomain, 1), 0);
    assert.equal(simple(dom0, XEN_DOMCTL_pausedomain, 1), -XEN_EOVERFLOW, 'at most 255');
    assert.equal(domain.pauseCount, 255);
  });

  test('destroydomain gives back every frame and the domain is gone', () => {
    const { hv, dom0 } = machine();
    const free = hv.frames.free;
    create(dom0);
    const domain = hv.domains.get(1)!;
    dom0.domctl({ cmd: XEN_DOMCTL_max_mem, domain: 1, u: { max_mem: { max_memkb: 4096n } } });
    assert.equal(hv.populatePhysmap(domain, 0x100, 1024), 1024);
    assert.ok(hv.frames.free < free - 1024);
    // Dom0 handles VIRQ_DOM_EXC (xenstored's @releaseDomain comes from it).
    const bind = { virq: VIRQ_DOM_EXC, vcpu: 0, port: 0 };
    assert.equal(dom0.domain.evtchn.bindVirq(bind), 0);
    assert.equal(dom0.domain.evtchn.isPending(bind.port), false);
    assert.equal(simple(dom0, XEN_DOMCTL_destroydomain, 1), 0);
    assert.equal(dom0.domain.evtchn.isPending(bind.port), true, 'VIRQ_DOM_EXC sent');
    assert.equal(domain.state, DomainState.Dying);
    assert.equal(hv.domains.has(1), false);
    assert.equal(hv.frames.free, free, 'every frame is back');
    assert.equal(hv.frames.count(1), 0);
    assert.equal(simple(dom0, XEN_DOMCTL_destroydomain, 1), -XEN_ESRCH);
    assert.equal(info(dom0, 1).ret, -XEN_ESRCH);
    assert.equal(simple(dom0, XEN_DOMCTL_destroydomain, 0), -XEN_EINVAL, 'not the caller itself');
  });
});

describe('vCPU contexts', () => {
  const GPRS = GPR_NAMES;

  /** A distinct value for each register, both halves non-zero. */
  const regValue = (i: number): bigint => (BigInt(0x1111 * (i + 1)) << 44n) | BigInt(0x100 + i);

  function context(): Uint8Array {
    const regs: Record<string, bigint> = {};
    GPRS.forEach((name, i) => {
      regs[name] = regValue(i);
    });
    const bytes = vcpu_guest_context.encode({
      flags: BigInt(VGCF_online | VGCF_i387_valid),
      user_regs: { ...regs, rip: 0xffff_8000_0012_3456n, rflags: 0xffff_0000_0020_0ad7n },
      debugreg: [0x1000n, 0x2000n, 0x3000n, 0x4000n, 0n, 0n, 0n, 0x0000_0000_0000_0403n],
    });
    const view = new DataView(bytes.buffer);
    const fpu = vcpu_guest_context.offsets.fpu_ctxt;
    view.setUint16(fpu, 0x027f, true); // FCW
    view.setUint32(fpu + 24, 0x1f00, true); // MXCSR
    view.setUint32(fpu + 160, 0xdeadbeef, true); // XMM0 low dword
    return bytes;
  }

  function vcpuContext(
    dom0: ControlGuest,
    cmd: number,
    domain: number,
    vcpu: number,
    ctxt: number,
  ) {
    return dom0.domctl({ cmd, domain, u: { vcpucontext: { vcpu, ctxt } } }).ret;
  }

  test('setvcpucontext then getvcpucontext round-trips the registers', () => {
    const { hv, dom0 } = machine();
    create(dom0);
    const vcpu = hv.domains.get(1)!.vcpus[1]!;
    assert.equal(vcpu.online, false);
    dom0.write(BUF_A, context());
    assert.equal(vcpuContext(dom0, XEN_DOMCTL_setvcpucontext, 1, 1, BUF_A), 0);
    assert.equal(vcpu.online, true, 'VGCF_online brings it up');
    assert.equal(vcpu.cpu.gpr[0]! >>> 0, 0x100);
    assert.equal(vcpu.cpu.ripLo >>> 0, 0x0012_3456);
    assert.equal(vcpu.cpu.fpu.fcw, 0x027f);

    assert.equal(vcpuContext(dom0, XEN_DOMCTL_getvcpucontext, 1, 1, BUF_B), 0);
    const ctx = vcpu_guest_context.decode(dom0.read(BUF_B, vcpu_guest_context.size));
    GPRS.forEach((name, i) => {
      assert.equal(ctx.user_regs[name], regValue(i), name);
    });
    assert.equal(ctx.user_regs.rip, 0xffff_8000_0012_3456n);
    assert.equal(ctx.user_regs.rflags, 0x0020_0ad7n, 'reserved RFLAGS bits dropped, bit 1 set');
    assert.equal(ctx.flags, BigInt(VGCF_online | VGCF_i387_valid));
    assert.deepEqual(ctx.debugreg.slice(0, 4), [0x1000n, 0x2000n, 0x3000n, 0x4000n]);
    assert.equal(ctx.debugreg[7], 0x403n);
    const fpu = new DataView(dom0.read(BUF_B, 512).buffer);
    assert.equal(fpu.getUint16(0, true), 0x027f);
    assert.equal(fpu.getUint32(24, true), 0x1f00);
    assert.equal(fpu.getUint32(160, true), 0xdeadbeef);
    // What an HVM context cannot set is still reported: the reset vCPU is in real mode.
    assert.equal(ctx.ctrlreg[0], BigInt(vcpu.cpu.cr0 >>> 0));
    assert.equal(ctx.user_regs.cs, 0xf000);

    // A context without VGCF_online leaves it initialised but down.
    const offline = context();
    new DataView(offline.buffer).setBigUint64(
      vcpu_guest_context.offsets.flags,
      BigInt(VGCF_i387_valid),
      true,
    );
    dom0.write(BUF_A, offline);
    assert.equal(vcpuContext(dom0, XEN_DOMCTL_setvcpucontext, 1, 1, BUF_A), 0);
    assert.equal(vcpu.online, false);
    assert.equal(vcpuContext(dom0, XEN_DOMCTL_getvcpucontext, 1, 1, BUF_B), 0);
    const down = vcpu_guest_context.decode(dom0.read(BUF_B, vcpu_guest_context.size));
    assert.equal(down.flags, BigInt(VGCF_i387_valid));

    // A null context resets the vCPU: down and uninitialised, so it has no context to get.
    assert.equal(vcpuContext(dom0, XEN_DOMCTL_setvcpucontext, 1, 1, 0), 0);
    assert.equal(vcpu.online, false);
    assert.equal(vcpu.initialised, false);
    assert.equal(vcpuContext(dom0, XEN_DOMCTL_getvcpucontext, 1, 1, BUF_B), -XEN_ENODATA);
  });

  test('refuses bad vCPUs, its own vCPU, bad vm_assist and bad pointers', () => {
    const { hv, dom0 } = machine();
    create(dom0);
    dom0.write(BUF_A, context());
    assert.equal(vcpuContext(dom0, XEN_DOMCTL_setvcpucontext, 1, 2, BUF_A), -XEN_EINVAL);
    assert.equal(vcpuContext(dom0, XEN_DOMCTL_getvcpucontext, 1, 7, BUF_B), -XEN_EINVAL);
    assert.equal(vcpuContext(dom0, XEN_DOMCTL_setvcpucontext, 0, 0, BUF_A), -XEN_EINVAL);
    assert.equal(vcpuContext(dom0, XEN_DOMCTL_getvcpucontext, 0, 0, BUF_B), -XEN_EINVAL);
    const unmapped = 0x7fff_0000_0000;
    assert.equal(vcpuContext(dom0, XEN_DOMCTL_setvcpucontext, 1, 0, unmapped), -XEN_EFAULT);
    assert.equal(vcpuContext(dom0, XEN_DOMCTL_getvcpucontext, 1, 0, unmapped), -XEN_EFAULT);
    const bad = context();
    new DataView(bad.buffer).setBigUint64(vcpu_guest_context.offsets.vm_assist, 1n, true);
    dom0.write(BUF_A, bad);
    const before = hv.domains.get(1)!.vcpus[0]!.cpu.gpr[0];
    assert.equal(vcpuContext(dom0, XEN_DOMCTL_setvcpucontext, 1, 0, BUF_A), -XEN_EINVAL);
    assert.equal(hv.domains.get(1)!.vcpus[0]!.cpu.gpr[0], before, 'nothing changed');
  });
});

describe('other domain commands', () => {
  test('getvcpuinfo, max_vcpus, settimeoffset, setdomainhandle, address size', () => {
    const { hv, dom0 } = machine();
    create(dom0);
    const domain = hv.domains.get(1)!;

    let r = dom0.domctl({
      cmd: XEN_DOMCTL_getvcpuinfo,
      domain: 1,
      u: { getvcpuinfo: { vcpu: 0 } },
    });
    assert.equal(r.ret, 0);
    assert.deepEqual(
      [r.op.u.getvcpuinfo.online, r.op.u.getvcpuinfo.blocked, r.op.u.getvcpuinfo.running],
      [1, 0, 0],
    );
    r = dom0.domctl({ cmd: XEN_DOMCTL_getvcpuinfo, domain: 1, u: { getvcpuinfo: { vcpu: 1 } } });
    assert.equal(r.op.u.getvcpuinfo.online, 0);
    r = dom0.domctl({ cmd: XEN_DOMCTL_getvcpuinfo, domain: 1, u: { getvcpuinfo: { vcpu: 2 } } });
    assert.equal(r.ret, -XEN_EINVAL);

    const maxVcpus = (max: number) =>
      dom0.domctl({ cmd: XEN_DOMCTL_max_vcpus, domain: 1, u: { max_vcpus: { max } } }).ret;
    assert.equal(maxVcpus(2), 0);
    assert.equal(maxVcpus(3), -XEN_EINVAL, 'only the count set at creation');

    const wc = () => {
      const view = new DataView(hv.memory.bytes.buffer, domain.sharedInfoMfn * 4096);
      return view.getUint32(shared_info.offsets.wc_sec, true);
    };
    const before = wc();
    r = dom0.domctl({
      cmd: XEN_DOMCTL_settimeoffset,
      domain: 1,
      u: { settimeoffset: { time_offset_seconds: 3600n } },
    });
    assert.equal(r.ret, 0);
    assert.equal(domain.wallclockOffset, 3600);
    assert.equal(wc(), before + 3600, 'the wallclock moved at once');

    const handle = new Uint8Array(16).fill(7);
    r = dom0.domctl({
      cmd: XEN_DOMCTL_setdomainhandle,
      domain: 1,
      u: { setdomainhandle: { handle } },
    });
    assert.equal(r.ret, 0);
    assert.deepEqual([...domain.handle], [...handle]);

    const size = (cmd: number) =>
      dom0.domctl({ cmd, domain: 1, u: { address_size: { size: 64 } } }).ret;
    assert.equal(size(XEN_DOMCTL_set_address_size), -XEN_EOPNOTSUPP, 'HVM has none');
    assert.equal(size(XEN_DOMCTL_get_address_size), -XEN_EOPNOTSUPP);

    const virqHandler = (virq: number) =>
      dom0.domctl({
        cmd: XEN_DOMCTL_set_virq_handler,
        domain: 1,
        u: { set_virq_handler: { virq } },
      }).ret;
    assert.equal(virqHandler(VIRQ_DOM_EXC), 0);
    assert.equal(hv.globalVirqs.handler(VIRQ_DOM_EXC), 1);
    assert.equal(virqHandler(VIRQ_TIMER), -XEN_EINVAL, 'not a global VIRQ');
  });

  test('errors: unknown command, bad domid, bad version, bad pointer, unprivileged caller', () => {
    const { hv, dom0 } = machine();
    create(dom0);
    assert.equal(simple(dom0, XEN_DOMCTL_shadow_op, 1), -XEN_ENOSYS);
    assert.equal(simple(dom0, 9999, 1), -XEN_ENOSYS);
    assert.equal(simple(dom0, 9999, 77), -XEN_ESRCH, 'the domain is looked up first');
    assert.equal(simple(dom0, XEN_DOMCTL_pausedomain, 77), -XEN_ESRCH);
    assert.equal(simple(dom0, XEN_DOMCTL_pausedomain, DOMID_SELF), -XEN_ESRCH);
    const stale = dom0.domctl({ cmd: XEN_DOMCTL_pausedomain, domain: 1, interface_version: 0x14 });
    assert.equal(stale.ret, -XEN_EACCES);
    assert.equal(hv.domains.get(1)!.pauseCount, 1, 'nothing done');
    assert.equal(dom0.hypercall(__HYPERVISOR_domctl, 0x7fff_0000_0000), -XEN_EFAULT);

    const domU = ControlGuest.create(hv, false);
    assert.equal(domU.domctl({ cmd: XEN_DOMCTL_getdomaininfo, domain: 0 }).ret, -XEN_EPERM);
    assert.equal(domU.domctl({ cmd: XEN_DOMCTL_createdomain, domain: 0 }).ret, -XEN_EPERM);
    assert.equal(hv.domains.size, 3, 'no domain created by the unprivileged caller');
  });
});
