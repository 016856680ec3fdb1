/**
 * The PVH entry state (Xen's docs/misc/pvh.pandoc): 32-bit flat protected mode with paging
 * off, %ebx the physical address of the hvm_start_info, CR4 clear, EFLAGS with VM, IF and
 * TF clear, and a 32-bit TSS. Loaded as libxenguest loads it: a vcpu_hvm_context with its
 * values (access rights 0xc9b / 0xc93 / 0x8b), through the same path as VCPUOP_initialise.
 */
import { VCPU_HVM_MODE_32B, vcpu_hvm_context } from '../../../../abi/vcpu.js';
import { type Cpu, Cr0 } from '../../../../x86/cpu.js';
import { applyHvmContext } from './vcpu-context.js';

const FLAT = 0xffffffff;

export function setPvhEntryState(cpu: Cpu, entry: number, startInfo: number): void {
  const context = vcpu_hvm_context.encode({
    mode: VCPU_HVM_MODE_32B,
    cpu_regs: {
      x86_32: {
        ebx: startInfo,
        eip: entry,
        eflags: 0x2,
        cr0: Cr0.PE | Cr0.ET,
        cs_limit: FLAT,
        ds_limit: FLAT,
        ss_limit: FLAT,
        es_limit: FLAT,
        tr_limit: 0x67,
        cs_ar: 0xc9b,
        ds_ar: 0xc93,
        ss_ar: 0xc93,
        es_ar: 0xc93,
        tr_ar: 0x8b,
      },
    },
  });
  cpu.reset();
  if (applyHvmContext(cpu, vcpu_hvm_context.decode(context)) !== 0) {
    throw new Error('the PVH entry state was refused'); // a bug here, never the guest's doing
  }
}
