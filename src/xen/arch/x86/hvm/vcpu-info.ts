/**
 * Where each vCPU's vcpu_info lives, and the time records Xen keeps in it: the pvclock
 * (vcpu_info.time, and the copy in a registered time area) and shared_info's wallclock.
 */
import {
  shared_info,
  vcpu_info,
  vcpu_time_info,
  XEN_LEGACY_MAX_VCPUS,
} from '../../../../abi/xen.js';
import type { Domain, Vcpu } from '../../../common/domain.js';
import { copyToGuest } from '../guest-copy.js';
import {
  pvclockRecord,
  type TimeSource,
  writeVcpuTimeInfo,
  writeWallclock,
} from '../time/index.js';

/** vCPU n's vcpu_info in shared_info, for n < 32 (later vCPUs must register one). */
export function defaultVcpuInfoAddress(domain: Domain, vcpuId: number): number {
  if (vcpuId >= XEN_LEGACY_MAX_VCPUS || domain.sharedInfoMfn < 0) return -1;
  return domain.sharedInfoMfn * 4096 + shared_info.offsets.vcpu_info + vcpuId * vcpu_info.size;
}

/** Xen's update_vcpu_system_time: a fresh pvclock record in vcpu_info and the time area. */
export function updateVcpuTime(view: DataView, time: TimeSource, vcpu: Vcpu): void {
  const record = pvclockRecord(time, vcpu.cpu.tscOffset);
  if (vcpu.vcpuInfoAddress >= 0) {
    writeVcpuTimeInfo(view, vcpu.vcpuInfoAddress + vcpu_info.offsets.time, record);
  }
  const area = vcpu.timeArea;
  if (area !== undefined) {
    const bytes = new Uint8Array(vcpu_time_info.size);
    writeVcpuTimeInfo(new DataView(bytes.buffer), 0, record);
    copyToGuest(vcpu.cpu, area.lo, area.hi, bytes);
  }
}

/** The wallclock the domain sees: the machine's plus its XEN_DOMCTL_settimeoffset. */
export function updateWallclock(view: DataView, time: TimeSource, domain: Domain): void {
  if (domain.sharedInfoMfn < 0) return;
  writeWallclock(view, domain.sharedInfoMfn * 4096, time.wallclock(domain.wallclockOffset));
}
