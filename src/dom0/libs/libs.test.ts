// Dom0's libraries against the real hypervisor, through its privcmd surface only: create and
// inspect a domain, give it memory, map its pages, and exchange events with it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XEN_DOMCTL_CDF_hap, XEN_DOMCTL_CDF_hvm } from '../../abi/domctl.js';
import { XEN_EINVAL } from '../../abi/errno.js';
import { GTF_permit_access, GTF_readonly } from '../../abi/grant_table.js';
import { HVM_PARAM_STORE_PFN } from '../../abi/hvm.js';
import { E820_RAM } from '../../abi/memory.js';
import { VIRQ_DOM_EXC, XEN_X86_EMU_LAPIC } from '../../abi/xen.js';
import { createControlDomain, ExternalPort } from '../../xen/external.js';
import { Hypervisor } from '../../xen/hypervisor.js';
import { type CreateDomainConfig, XenCtrl } from './ctrl.js';
import { EventChannelDevice } from './evtchn.js';
import { mapForeign } from './foreign.js';
import { copyGrants, GrantError, mapGrants } from './gnttab.js';
import { Dom0Kernel, HypercallError } from './kernel.js';

const PVH: CreateDomainConfig = {
  flags: XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
  max_vcpus: 2,
  max_evtchn_port: 1023,
  max_grant_frames: 32,
  max_maptrack_frames: -1,
  grant_opts: 2,
  arch: { emulation_flags: XEN_X86_EMU_LAPIC, misc_flags: 0 },
};

async function boot() {
  const hv = new Hypervisor({ memoryBytes: 64 << 20, clock: 'virtual' });
  const freeBefore = hv.frames.free;
  const dom0 = createControlDomain(hv, { ramFrames: 1024 });
  const kernel = new Dom0Kernel(new ExternalPort(hv, dom0), { ramFrames: 1024 });
  await kernel.start();
  return { hv, kernel, ctrl: new XenCtrl(kernel), freeBefore };
}

/** Lets coalesced upcalls (setImmediate) run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test('the toolstack creates, inspects, fills and destroys a domain', async () => {
  const { hv, ctrl, freeBefore } = await boot();
  const domid = await ctrl.createDomain(PVH);
  assert.equal(domid, 1);
  await ctrl.setMaxMem(domid, 1024);
  await ctrl.populatePhysmap(domid, [0, 1, 2, 0xfeffc]);
  await ctrl.setMemoryMap(domid, [{ addr: 0, size: 0x3000, type: E820_RAM }]);
  await ctrl.setHvmParam(domid, HVM_PARAM_STORE_PFN, 0xfeffc);
  assert.equal(await ctrl.getHvmParam(domid, HVM_PARAM_STORE_PFN), 0xfeffcn);
  const info = await ctrl.domainInfo(domid);
  assert.ok(info !== undefined);
  assert.equal(info.tot_pages, 4n);
  assert.equal(info.max_vcpu_id, 1);
  assert.equal(await ctrl.domainInfo(99), undefined);
  const ids = (await ctrl.listDomains()).map((d) => d.domain);
  assert.deepEqual(ids, [0, domid]);
  await ctrl.unpauseDomain(domid);
  await ctrl.pauseDomain(domid);
  await ctrl.destroyDomain(domid);
  assert.deepEqual(
    (await ctrl.listDomains()).map((d) => d.domain),
    [0],
  );
  hv.destroyDomain(hv.domains.get(0)!);
  assert.equal(hv.frames.free, freeBefore);
});

test("Dom0 maps a guest's pages, writes them, and unmaps them", async () => {
  const { hv, kernel, ctrl } = await boot();
  const domid = await ctrl.createDomain(PVH);
  await ctrl.setMaxMem(domid, 1024);
  await ctrl.populatePhysmap(domid, [0x10, 0x11, 0x12]);
  const mapping = await mapForeign(kernel, domid, [0x12, 0x10]);
  mapping.write(0, new TextEncoder().encode('page twelve'));
  mapping.page(1).set([7, 7, 7]);
  const domU = hv.domains.get(domid)!;
  const at = (gfn: number) => domU.mfnOf(gfn) * 4096;
  assert.equal(
    new TextDecoder().decode(hv.memory.bytes.subarray(at(0x12), at(0x12) + 11)),
    'page twelve',
  );
  assert.deepEqual([...hv.memory.bytes.subarray(at(0x10), at(0x10) + 3)], [7, 7, 7]);
  await mapping.unmap();
  assert.equal(hv.domains.get(0)!.foreignMapped.size, 0);
  // A page the guest does not have: nothing stays mapped, and the error says why.
  await assert.rejects(mapForeign(kernel, domid, [0x10, 0x99]), (error: unknown) => {
    assert.ok(error instanceof HypercallError);
    assert.equal(error.errno, XEN_EINVAL);
    return true;
  });
  assert.equal(hv.domains.get(0)!.foreignMapped.size, 0);
});

test('events flow both ways between Dom0 and a guest; VIRQ_DOM_EXC tells of a shutdown', async () => {
  const { hv, kernel, ctrl } = await boot();
  const events = new EventChannelDevice(kernel);
  const domid = await ctrl.createDomain(PVH);
  const domU = hv.domains.get(domid)!;
  const fired: string[] = [];
  const port = await events.allocUnbound(domid, (p) => fired.push(`ring ${p}`));
  await events.bindVirq(VIRQ_DOM_EXC, () => fired.push('dom_exc'));
  const bind = { remote_dom: 0, remote_port: port, local_port: 0 };
  assert.equal(domU.evtchn.bindInterdomain(bind), 0);
  await settle();
  fired.length = 0;
  assert.equal(domU.evtchn.send({ port: bind.local_port }), 0);
  await settle();
  assert.deepEqual(fired, [`ring ${port}`]);
  await events.notify(port);
  assert.ok(domU.evtchn.isPending(bind.local_port));
  hv.shutdownDomain(domU, 0);
  await settle();
  assert.deepEqual(fired, [`ring ${port}`, 'dom_exc']);
  await events.close(port);
});

test("Dom0 maps and copies a guest's grants, and only what it granted", async () => {
  const { hv, kernel, ctrl } = await boot();
  const domid = await ctrl.createDomain(PVH);
  await ctrl.setMaxMem(domid, 1024);
  await ctrl.populatePhysmap(domid, [0x20, 0x21]);
  const domU = hv.domains.get(domid)!;
  const at = (gfn: number) => domU.mfnOf(gfn) * 4096;
  // The guest's grant table (v1): ref 8 lets Dom0 write gfn 0x20, ref 9 read gfn 0x21.
  const { frames } = domU.grants.setupTable(0x7ff0, 1);
  const table = frames[0]! * 4096;
  const grant = (ref: number, flags: number, gfn: number) => {
    hv.memory.view.setUint16(table + ref * 8, flags, true);
    hv.memory.view.setUint16(table + ref * 8 + 2, 0, true);
    hv.memory.view.setUint32(table + ref * 8 + 4, gfn, true);
  };
  grant(8, GTF_permit_access, 0x20);
  grant(9, GTF_permit_access | GTF_readonly, 0x21);
  hv.memory.bytes.set([1, 2, 3], at(0x21));

  const mapping = await mapGrants(kernel, domid, [8]);
  mapping.page(0).set([9, 8, 7], 100);
  assert.deepEqual([...hv.memory.bytes.subarray(at(0x20) + 100, at(0x20) + 103)], [9, 8, 7]);
  await mapping.unmap();
  assert.equal(domU.grants.pinned, 0, 'unmapped: the entry is free again');
  // Writable maps of a read-only grant fail, and nothing stays mapped.
  await assert.rejects(mapGrants(kernel, domid, [8, 9]), GrantError);
  assert.equal(domU.grants.pinned, 0);
  const readonly = await mapGrants(kernel, domid, [9], { readonly: true });
  assert.deepEqual([...readonly.page(0).subarray(0, 3)], [1, 2, 3]);
  await readonly.unmap();

  // Copies: the guest's page into a Dom0 frame, and Dom0's bytes into the guest's.
  await kernel.withBuffer(4096, async (gpa) => {
    const gfn = gpa / 4096;
    const statuses = await copyGrants(kernel, [
      { source: { domid, ref: 9, offset: 0 }, dest: { gfn, offset: 10 }, length: 3 },
      { source: { gfn, offset: 10 }, dest: { domid, ref: 8, offset: 200 }, length: 3 },
      { source: { gfn, offset: 0 }, dest: { domid, ref: 9, offset: 0 }, length: 1 },
    ]);
    assert.deepEqual(statuses.slice(0, 2), [0, 0]);
    assert.ok(statuses[2]! < 0, 'no copy into a read-only grant');
    assert.deepEqual([...kernel.memory.read(gpa + 10, 3)], [1, 2, 3]);
  });
  assert.deepEqual([...hv.memory.bytes.subarray(at(0x20) + 200, at(0x20) + 203)], [1, 2, 3]);
  assert.equal(hv.memory.bytes[at(0x21)], 1);
});
