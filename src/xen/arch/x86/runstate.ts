/**
 * A vCPU's struct vcpu_runstate_info: built from the hypervisor's accounting, and copied to
 * the guest virtual address VCPUOP_register_runstate_memory_area registered, as Xen's
 * update_runstate_area does at every context switch (xen/arch/x86/domain.c).
 */
import { vcpu_runstate_info } from '../../../abi/vcpu.js';
import type { Vcpu } from '../../common/domain.js';
import { copyToGuest } from './guest-copy.js';
import { setU64 } from './time/index.js';

const OFF = vcpu_runstate_info.offsets;

/**
 * The vCPU's runstate as bytes. With `now`, the time spent so far in the current state is
 * added to its total (Xen's vcpu_runstate_get); without it the totals are as last accounted
 * (what Xen copies for the running vCPU itself).
 */
export function runstateBytes(vcpu: Vcpu, now?: number): Uint8Array {
  const bytes = new Uint8Array(vcpu_runstate_info.size);
  const view = new DataView(bytes.buffer);
  view.setInt32(OFF.state, vcpu.runstate, true);
  setU64(view, OFF.state_entry_time, Math.max(0, Math.floor(vcpu.runstateEntry)));
  for (let i = 0; i < 4; i++) {
    let total = vcpu.runstateTime[i]!;
    if (now !== undefined && i === vcpu.runstate && now > vcpu.runstateEntry) {
      total += now - vcpu.runstateEntry;
    }
    setU64(view, OFF.time + i * 8, Math.max(0, Math.floor(total)));
  }
  return bytes;
}

/**
 * Copies the runstate to the registered area through the vCPU's own page tables; false when
 * that faulted (Xen ignores it: the guest just sees a stale area).
 */
export function updateRunstateArea(vcpu: Vcpu, now?: number): boolean {
  const area = vcpu.runstateArea;
  if (area === undefined) return true;
  return copyToGuest(vcpu.cpu, area.lo, area.hi, runstateBytes(vcpu, now));
}
