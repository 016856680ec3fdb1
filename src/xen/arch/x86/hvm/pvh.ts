/**
 * The PVH entry state (Xen's docs/misc/pvh.pandoc): 32-bit flat protected mode with paging
 * off, %ebx the physical address of the hvm_start_info, CR4 clear, EFLAGS with VM, IF and
 * TF clear, and a 32-bit TSS. The values are the ones libxenguest gives vCPU 0 of a PVH
 * domain (selectors zero, access rights 0xc9b / 0xc93 / 0x8b).
 */
import { type Cpu, Cr0 } from '../../../../x86/cpu.js';
import { Flag } from '../../../../x86/flags.js';
import { Seg } from '../../../../x86/segments.js';

const CODE32 = 0xc09b;
const DATA32 = 0xc093;
const TSS32_BUSY = 0x8b;

export function setPvhEntryState(cpu: Cpu, entry: number, startInfo: number): void {
  cpu.reset();
  cpu.cr0 = Cr0.PE | Cr0.ET;
  for (const seg of [Seg.CS, Seg.DS, Seg.ES, Seg.SS, Seg.FS, Seg.GS]) {
    cpu.segSel[seg] = 0;
    cpu.segBaseLo[seg] = 0;
    cpu.segBaseHi[seg] = 0;
    cpu.segLimit[seg] = -1;
    cpu.segAttr[seg] = seg === Seg.CS ? CODE32 : DATA32;
  }
  cpu.segBaseLo[Seg.TR] = 0;
  cpu.segLimit[Seg.TR] = 0x67;
  cpu.segAttr[Seg.TR] = TSS32_BUSY;
  cpu.flags = Flag.Fixed;
  cpu.gpr[3 * 2] = startInfo; // ebx
  cpu.ripLo = entry;
  cpu.ripHi = 0;
  cpu.updateMode();
  cpu.flushTlb();
}
