// HYPERVISOR_sysctl made by a privileged guest, as `xl dmesg`, `xl info` and `xl list` make
// it: the console ring with its clear/incremental/index semantics, physinfo, the domain list.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  XEN_DOMCTL_CDF_hap,
  XEN_DOMCTL_CDF_hvm,
  XEN_DOMCTL_createdomain,
  XEN_DOMINF_hvm_guest,
  XEN_DOMINF_paused,
  xen_domctl_getdomaininfo,
} from '../../abi/domctl.js';
import { XEN_EACCES, XEN_EFAULT, XEN_ENOSYS, XEN_EPERM } from '../../abi/errno.js';
import { __HYPERVISOR_console_io } from '../../abi/hypercall.js';
import {
  XEN_SYSCTL_getdomaininfolist,
  XEN_SYSCTL_PHYSCAP_hap,
  XEN_SYSCTL_PHYSCAP_hvm,
  XEN_SYSCTL_PHYSCAP_pv,
  XEN_SYSCTL_physinfo,
  XEN_SYSCTL_readconsole,
  XEN_SYSCTL_sched_id,
} from '../../abi/sysctl.js';
import { CONSOLEIO_write, XEN_X86_EMU_LAPIC } from '../../abi/xen.js';
import { Hypervisor } from '../hypervisor.js';
import { BUF_A, BUF_C, ControlGuest } from './testing-control.js';

function machine(): { hv: Hypervisor; dom0: ControlGuest } {
  const hv = new Hypervisor({ memoryBytes: 32 << 20, clock: 'virtual', tscHz: 2_500_000_000 });
  return { hv, dom0: ControlGuest.create(hv) };
}

function createDomain(dom0: ControlGuest): number {
  const { ret, op } = dom0.domctl({
    cmd: XEN_DOMCTL_createdomain,
    u: {
      createdomain: {
        flags: XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
        max_vcpus: 1,
        max_grant_frames: -1,
        max_maptrack_frames: -1,
        grant_opts: 2,
        arch: { emulation_flags: XEN_X86_EMU_LAPIC, misc_flags: 0 },
      },
    },
  });
  assert.equal(ret, 0);
  return op.domain;
}

function consoleWrite(dom0: ControlGuest, text: string): void {
  const bytes = new TextEncoder().encode(text);
  dom0.write(BUF_A, bytes);
  assert.equal(dom0.hypercall(__HYPERVISOR_console_io, CONSOLEIO_write, bytes.length, BUF_A), 0);
}

interface ReadConsole {
  clear?: number;
  incremental?: number;
  index?: number;
  count?: number;
}

function readConsole(dom0: ControlGuest, options: ReadConsole = {}) {
  const count = options.count ?? 0x8000;
  const { ret, op } = dom0.sysctl({
    cmd: XEN_SYSCTL_readconsole,
    u: {
      readconsole: {
        clear: options.clear ?? 0,
        incremental: options.incremental ?? 0,
        index: options.index ?? 0,
        buffer: BigInt(BUF_C),
        count,
      },
    },
  });
  const out = op.u.readconsole;
  const text = new TextDecoder('latin1').decode(dom0.read(BUF_C, out.count));
  return { ret, text, count: out.count, index: out.index };
}

describe('XEN_SYSCTL_readconsole', () => {
  test('returns what console_io wrote; clear, incremental and index as Xen', () => {
    const { hv, dom0 } = machine();
    consoleWrite(dom0, 'hello from dom0\n');
    const all = readConsole(dom0);
    assert.equal(all.ret, 0);
    assert.equal(all.text, hv.console.contents(), 'the whole ring');
    assert.match(all.text, /\(d0\) hello from dom0\n$/);
    assert.equal(all.index, all.text.length, 'index: where the read stopped');

    // Incremental from the last index: only what came since.
    consoleWrite(dom0, 'second\n');
    const since = readConsole(dom0, { incremental: 1, index: all.index });
    assert.equal(since.text, '(d0) second\n');
    assert.equal(since.index, all.index + since.count);
    // An index outside the ring's contents is ignored.
    assert.equal(
      readConsole(dom0, { incremental: 1, index: since.index + 100 }).text,
      all.text + since.text,
    );

    // A short buffer gets the oldest bytes; the index says how far it got.
    const head = readConsole(dom0, { count: 10 });
    assert.equal(head.text, all.text.slice(0, 10));
    assert.equal(head.index, 10);

    // Clearing moves the start of the ring: later reads begin after what was read.
    assert.equal(readConsole(dom0, { clear: 1 }).text, all.text + since.text);
    assert.equal(readConsole(dom0).count, 0, 'nothing new');
    consoleWrite(dom0, 'third\n');
    assert.equal(readConsole(dom0).text, '(d0) third\n');
    // A clearing read with a short buffer clears only what it returned.
    assert.equal(readConsole(dom0, { clear: 1, count: 5 }).text, '(d0) ');
    assert.equal(readConsole(dom0).text, 'third\n');
  });

  test('a bad buffer is -EFAULT', () => {
    const { dom0 } = machine();
    const { ret } = dom0.sysctl({
      cmd: XEN_SYSCTL_readconsole,
      u: { readconsole: { buffer: 0x7fff_0000_0000n, count: 100 } },
    });
    assert.equal(ret, -XEN_EFAULT);
  });
});

describe('XEN_SYSCTL_physinfo', () => {
  test("describes the machine: pages from the frame table, the CPU's speed, HVM only", () => {
    const { hv, dom0 } = machine();
    const { ret, op } = dom0.sysctl({ cmd: XEN_SYSCTL_physinfo });
    assert.equal(ret, 0);
    const pi = op.u.physinfo;
    assert.equal(pi.total_pages, BigInt(hv.memory.frames));
    assert.equal(pi.free_pages, BigInt(hv.frames.free));
    assert.equal(pi.max_mfn, BigInt(hv.memory.frames - 1));
    assert.equal(pi.nr_cpus, 1);
    assert.equal(pi.max_cpu_id, 0);
    assert.equal(pi.nr_nodes, 1);
    assert.equal(pi.threads_per_core, 1);
    assert.equal(pi.cores_per_socket, 1);
    assert.equal(pi.cpu_khz, 2_500_000);
    assert.ok(pi.capabilities & XEN_SYSCTL_PHYSCAP_hvm);
    assert.ok(pi.capabilities & XEN_SYSCTL_PHYSCAP_hap);
    assert.equal(pi.capabilities & XEN_SYSCTL_PHYSCAP_pv, 0);
    assert.ok(pi.hw_cap[0]! & (1 << 0), 'CPUID.1:EDX.FPU');

    // Creating a domain takes frames; physinfo follows.
    createDomain(dom0);
    const after = dom0.sysctl({ cmd: XEN_SYSCTL_physinfo }).op.u.physinfo;
    assert.equal(after.free_pages, BigInt(hv.frames.free));
    assert.ok(after.free_pages < pi.free_pages);
  });
});

describe('XEN_SYSCTL_getdomaininfolist', () => {
  test('lists three domains in domid order from first_domain, at most max_domains', () => {
    const { hv, dom0 } = machine();
    createDomain(dom0);
    createDomain(dom0);
    hv.domains.get(2)!.maxPages = 64;
    hv.populatePhysmap(hv.domains.get(2)!, 0, 64);

    const list = (first_domain: number, max_domains: number, buffer = BigInt(BUF_C)) => {
      const { ret, op } = dom0.sysctl({
        cmd: XEN_SYSCTL_getdomaininfolist,
        u: { getdomaininfolist: { first_domain, max_domains, buffer } },
      });
      const n = op.u.getdomaininfolist.num_domains;
      const size = xen_domctl_getdomaininfo.size;
      const entries = Array.from({ length: ret === 0 ? n : 0 }, (_, i) =>
        xen_domctl_getdomaininfo.decode(dom0.read(BUF_C + i * size, size)),
      );
      return { ret, n, entries };
    };

    const all = list(0, 10);
    assert.equal(all.ret, 0);
    assert.equal(all.n, 3);
    assert.deepEqual(
      all.entries.map((e) => e.domain),
      [0, 1, 2],
    );
    assert.equal(all.entries[0]!.tot_pages, BigInt(dom0.domain.totPages));
    assert.equal(all.entries[2]!.tot_pages, 64n);
    assert.equal(all.entries[2]!.max_pages, 64n);
    assert.ok(all.entries[1]!.flags & XEN_DOMINF_paused);
    assert.ok(all.entries[1]!.flags & XEN_DOMINF_hvm_guest);
    assert.equal(all.entries[0]!.flags & XEN_DOMINF_paused, 0);

    const one = list(1, 1);
    assert.deepEqual(
      one.entries.map((e) => e.domain),
      [1],
    );
    assert.equal(list(2, 10).n, 1);
    assert.equal(list(3, 10).n, 0);
    assert.equal(list(0, 0).n, 0);
    assert.equal(list(0, 10, 0x7fff_0000_0000n).ret, -XEN_EFAULT);
  });
});

describe('sysctl errors', () => {
  test('bad interface version, unknown command, unprivileged caller', () => {
    const { hv, dom0 } = machine();
    assert.equal(
      dom0.sysctl({ cmd: XEN_SYSCTL_physinfo, interface_version: 0x14 }).ret,
      -XEN_EACCES,
    );
    assert.equal(dom0.sysctl({ cmd: XEN_SYSCTL_sched_id }).ret, -XEN_ENOSYS);
    assert.equal(dom0.sysctl({ cmd: 999 }).ret, -XEN_ENOSYS);
    const domU = ControlGuest.create(hv, false);
    const denied = domU.sysctl({ cmd: XEN_SYSCTL_physinfo });
    assert.equal(denied.ret, -XEN_EPERM);
    assert.equal(denied.op.u.physinfo.total_pages, 0n, 'nothing written back');
  });
});
