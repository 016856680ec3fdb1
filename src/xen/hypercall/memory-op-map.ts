/**
 * Memory maps: XENMEM_memory_map (the e820 map the toolstack gave the domain),
 * XENMEM_set_memory_map (xen/arch/x86/mm.c) and XENMEM_reserved_device_memory_map
 * (xen/common/memory.c).
 */
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS, XEN_EPERM, XEN_ESRCH } from '../../abi/errno.js';
import {
  e820entry,
  XENMEM_RDM_ALL,
  xen_foreign_memory_map,
  xen_memory_map,
  xen_reserved_device_memory_map,
} from '../../abi/memory.js';
import type { MemoryMapEntry } from '../common/domain.js';
import { argPointer, handlePointer, readBytes, readStruct, writeBytes } from './guest-args.js';
import type { HypercallCall } from './table.js';
import { domainByAnyId, xsmTarget } from './xsm.js';

/** x86's E820MAX: the most entries a map may have. */
export const E820MAX = 1024;

/** XENMEM_memory_map: the caller's own map, cut to the guest's buffer. */
export function memoryMap(call: HypercallCall): number {
  const arg = argPointer(call, 2);
  const map = readStruct(call, xen_memory_map, arg);
  if (map === undefined) return -XEN_EFAULT;
  const entries = call.vcpu.domain.memoryMap;
  // "Backwards compatibility": no map set is -ENOSYS, as in Xen.
  if (entries === undefined || entries.length === 0) return -XEN_ENOSYS;
  const count = Math.min(map.nr_entries, entries.length);
  if (!writeBytes(call, handlePointer(map.buffer), encodeEntries(entries.slice(0, count)))) {
    return -XEN_EFAULT;
  }
  const out = xen_memory_map.encode({ nr_entries: count, buffer: map.buffer });
  return writeBytes(call, arg, out) ? 0 : -XEN_EFAULT;
}

/** XENMEM_set_memory_map: a domain's map, set by itself or a control domain. */
export function setMemoryMap(call: HypercallCall): number {
  const fmap = readStruct(call, xen_foreign_memory_map, argPointer(call, 2));
  if (fmap === undefined) return -XEN_EFAULT;
  if (fmap.map.nr_entries > E820MAX) return -XEN_EINVAL;
  const d = domainByAnyId(call, fmap.domid);
  if (d === undefined) return -XEN_ESRCH;
  if (!xsmTarget(call.vcpu.domain, d)) return -XEN_EPERM;
  const count = fmap.map.nr_entries;
  const bytes = readBytes(call, handlePointer(fmap.map.buffer), count * e820entry.size);
  if (bytes === undefined) return -XEN_EFAULT;
  const entries: MemoryMapEntry[] = [];
  for (let i = 0; i < count; i++) {
    const e = e820entry.decode(bytes, i * e820entry.size);
    // Beyond 2^53 bytes (8 PiB) an address or size loses its low bits.
    entries.push({ addr: Number(e.addr), size: Number(e.size), type: e.type });
  }
  d.memoryMap = entries;
  return 0;
}

/**
 * XENMEM_reserved_device_memory_map: regions devices assigned to domains must keep. With
 * no IOMMU there are none (iommu_get_reserved_device_memory reports nothing).
 */
export function reservedDeviceMemoryMap(call: HypercallCall): number {
  const arg = argPointer(call, 2);
  const map = readStruct(call, xen_reserved_device_memory_map, arg);
  if (map === undefined) return -XEN_EFAULT;
  if (map.flags & ~XENMEM_RDM_ALL) return -XEN_EINVAL;
  const out = xen_reserved_device_memory_map.encode({ ...map, nr_entries: 0 });
  return writeBytes(call, arg, out) ? 0 : -XEN_EFAULT;
}

function encodeEntries(entries: readonly MemoryMapEntry[]): Uint8Array {
  const out = new Uint8Array(entries.length * e820entry.size);
  const view = new DataView(out.buffer);
  entries.forEach((e, i) => {
    e820entry.write(view, i * e820entry.size, {
      addr: toU64(e.addr),
      size: toU64(e.size),
      type: e.type >>> 0,
    });
  });
  return out;
}

/** A host-side number as a u64 field, whatever it holds (the codec throws on a misfit). */
function toU64(value: number): bigint {
  return Number.isFinite(value) ? BigInt.asUintN(64, BigInt(Math.trunc(value))) : 0n;
}
