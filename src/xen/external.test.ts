// An external domain — Dom0, whose kernel is TypeScript outside the emulated CPU — makes
// hypercalls with guest-physical pointers into its own memory, maps a guest's pages with
// XENMEM_add_to_physmap_batch(XENMAPSPACE_gmfn_foreign), and hears of its events through
// Hypervisor.onExternalUpcall.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XEN_EINVAL, XEN_ENOENT } from '../abi/errno.js';
import {
  EVTCHNOP_alloc_unbound,
  EVTCHNOP_send,
  evtchn_alloc_unbound,
  evtchn_send,
} from '../abi/event_channel.js';
import { __HYPERVISOR_event_channel_op, __HYPERVISOR_memory_op } from '../abi/hypercall.js';
import type { Fields, InputOf, Layout } from '../abi/layout.js';
import {
  XENMAPSPACE_gmfn_foreign,
  XENMEM_add_to_physmap_batch,
  XENMEM_populate_physmap,
  XENMEM_remove_from_physmap,
  xen_add_to_physmap_batch,
  xen_memory_reservation,
  xen_remove_from_physmap,
} from '../abi/memory.js';
import { DOMID_SELF } from '../abi/xen.js';
import type { Domain } from './common/domain.js';
import { createControlDomain, hypercallArgs } from './external.js';
import { Hypervisor } from './hypervisor.js';

/** Where Dom0 keeps its hypercall arguments (guest-physical). */
const ARGS = 0x1000;
const ARRAY = 0x2000;
/** Where it maps the guest's page. */
const MAPPING_GFN = 0x800;

function setup() {
  const hv = new Hypervisor({ memoryBytes: 64 << 20, clock: 'virtual' });
  const freeBefore = hv.frames.free;
  const dom0 = createControlDomain(hv, { ramFrames: 256 });
  const domU = hv.createDomain({ maxVcpus: 1, maxPages: 4096 });
  return { hv, dom0, domU, freeBefore };
}

/** Dom0's own memory, read and written as its kernel does: through its P2M. */
function poke(hv: Hypervisor, d: Domain, at: number, bytes: Uint8Array): void {
  hv.memory.bytes.set(bytes, d.mfnOf(Math.floor(at / 4096)) * 4096 + (at % 4096));
}

function peek(hv: Hypervisor, d: Domain, at: number, length: number): Uint8Array {
  const base = d.mfnOf(Math.floor(at / 4096)) * 4096 + (at % 4096);
  return hv.memory.bytes.slice(base, base + length);
}

function put<F extends Fields>(
  hv: Hypervisor,
  d: Domain,
  layout: Layout<F>,
  at: number,
  value: InputOf<F>,
) {
  poke(hv, d, at, layout.encode(value));
  return at;
}

function call(hv: Hypervisor, d: Domain, op: number, ...args: number[]): number {
  return hv.externalHypercall(d, op, hypercallArgs(args));
}

function u64s(values: readonly number[]): Uint8Array {
  const out = new DataView(new ArrayBuffer(values.length * 8));
  values.forEach((v, i) => {
    out.setBigUint64(i * 8, BigInt(v), true);
  });
  return new Uint8Array(out.buffer);
}

function mapForeign(hv: Hypervisor, dom0: Domain, domid: number, gfn: number, at: number) {
  poke(hv, dom0, ARRAY, u64s([gfn]));
  poke(hv, dom0, ARRAY + 8, u64s([at]));
  const batch = put(hv, dom0, xen_add_to_physmap_batch, ARGS, {
    domid: DOMID_SELF,
    space: XENMAPSPACE_gmfn_foreign,
    size: 1,
    u: { foreign_domid: domid },
    idxs: BigInt(ARRAY),
    gpfns: BigInt(ARRAY + 8),
    errs: BigInt(ARRAY + 16),
  });
  const rc = call(hv, dom0, __HYPERVISOR_memory_op, XENMEM_add_to_physmap_batch, batch);
  assert.equal(rc, 0);
  return new DataView(peek(hv, dom0, ARRAY + 16, 4).buffer).getInt32(0, true);
}

function unmap(hv: Hypervisor, dom0: Domain, at: number): number {
  const arg = put(hv, dom0, xen_remove_from_physmap, ARGS, { domid: DOMID_SELF, gpfn: BigInt(at) });
  return call(hv, dom0, __HYPERVISOR_memory_op, XENMEM_remove_from_physmap, arg);
}

test('Dom0 populates a guest with a long populate_physmap: the continuation runs to the end', () => {
  const { hv, dom0, domU } = setup();
  const gfns = Array.from({ length: 1000 }, (_, i) => i);
  poke(hv, dom0, 0x10000, u64s(gfns));
  const arg = put(hv, dom0, xen_memory_reservation, ARGS, {
    extent_start: 0x10000n,
    nr_extents: BigInt(gfns.length),
    extent_order: 0,
    mem_flags: 0,
    domid: domU.id,
  });
  assert.equal(call(hv, dom0, __HYPERVISOR_memory_op, XENMEM_populate_physmap, arg), 1000);
  assert.equal(domU.totPages, 1000);
});

test("Dom0 maps a guest's page, sees and changes it; the mapping keeps it past the guest's destroy", () => {
  const { hv, dom0, domU, freeBefore } = setup();
  assert.equal(hv.populatePhysmap(domU, 0x40, 1), 1);
  const mfn = domU.mfnOf(0x40);
  hv.memory.bytes.set([1, 2, 3, 4], mfn * 4096);
  assert.equal(mapForeign(hv, dom0, domU.id, 0x40, MAPPING_GFN), 0);
  assert.equal(dom0.mfnOf(MAPPING_GFN), mfn, "Dom0's P2M points at the guest's frame");
  assert.deepEqual([...peek(hv, dom0, MAPPING_GFN * 4096, 4)], [1, 2, 3, 4]);
  poke(hv, dom0, MAPPING_GFN * 4096, Uint8Array.of(9));
  assert.equal(hv.memory.bytes[mfn * 4096], 9, 'the guest sees what Dom0 wrote');
  // Nothing behind a gfn: -EINVAL, and Dom0's slot stays empty.
  assert.equal(mapForeign(hv, dom0, domU.id, 0x41, MAPPING_GFN + 1), -XEN_EINVAL);
  assert.equal(dom0.mfnOf(MAPPING_GFN + 1), -1);
  hv.destroyDomain(domU);
  assert.equal(hv.frames.owner[mfn], domU.id, 'the mapped frame is not freed under Dom0');
  assert.equal(unmap(hv, dom0, MAPPING_GFN), 0);
  assert.equal(unmap(hv, dom0, MAPPING_GFN), -XEN_ENOENT);
  hv.destroyDomain(dom0);
  assert.equal(hv.frames.free, freeBefore, 'every frame came back');
});

test('destroying Dom0 drops its foreign mappings', () => {
  const { hv, dom0, domU, freeBefore } = setup();
  hv.populatePhysmap(domU, 0, 16);
  for (let i = 0; i < 16; i++) assert.equal(mapForeign(hv, dom0, domU.id, i, MAPPING_GFN + i), 0);
  hv.destroyDomain(domU);
  hv.destroyDomain(dom0);
  assert.equal(hv.frames.free, freeBefore);
});

test('an event for Dom0 reaches its kernel through onExternalUpcall', () => {
  const { hv, dom0, domU } = setup();
  const upcalls: number[] = [];
  hv.onExternalUpcall = (vcpu) => upcalls.push(vcpu.domain.id);
  // Dom0 offers a port to the guest, as xenstored and the backends do.
  const alloc = put(hv, dom0, evtchn_alloc_unbound, ARGS, {
    dom: DOMID_SELF,
    remote_dom: domU.id,
    port: 0,
  });
  assert.equal(call(hv, dom0, __HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, alloc), 0);
  const port = evtchn_alloc_unbound.decode(peek(hv, dom0, ARGS, evtchn_alloc_unbound.size)).port;
  const bind = { remote_dom: 0, remote_port: port, local_port: 0 };
  assert.equal(domU.evtchn.bindInterdomain(bind), 0);
  upcalls.length = 0; // binding raises the port once, conservatively
  assert.equal(domU.evtchn.send({ port: bind.local_port }), 0);
  assert.deepEqual(upcalls, [0]);
  // Dom0 sends back: the guest's port is pending.
  poke(hv, dom0, ARGS, evtchn_send.encode({ port }));
  assert.equal(call(hv, dom0, __HYPERVISOR_event_channel_op, EVTCHNOP_send, ARGS), 0);
  assert.ok(domU.evtchn.isPending(bind.local_port));
});
