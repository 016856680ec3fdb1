import { hex } from '../elf/bytes.js';
import { PF_R, PF_W, PF_X } from '../elf/index.js';
import { type LoadedKernel, loadKernel } from './kernel.js';

const flagString = (flags: number): string =>
  `${flags & PF_R ? 'R' : '-'}${flags & PF_W ? 'W' : '-'}${flags & PF_X ? 'X' : '-'}`;

/** A human-readable account of a kernel: its bzImage header, segments and Xen notes. */
export function describeLoadedKernel({ kernel, bzImage }: LoadedKernel): string {
  const lines: string[] = [];
  if (bzImage) {
    lines.push(
      `bzImage      boot protocol ${bzImage.protocolVersion}, ${bzImage.compression ?? 'unknown'} payload of ${bzImage.payloadLength} bytes`,
      `version      ${bzImage.kernelVersion}`,
    );
  }
  lines.push(
    `ELF          ELF${kernel.elfClass}, entry ${hex(kernel.entry)}, physical ${hex(kernel.physStart)}-${hex(kernel.physEnd)}`,
  );
  for (const s of kernel.segments) {
    lines.push(
      `  PT_LOAD    ${flagString(s.flags)} vaddr ${hex(s.vaddr)} paddr ${hex(s.paddr)} filesz ${hex(s.filesz)} memsz ${hex(s.memsz)}`,
    );
  }
  const xen = kernel.xen;
  if (xen.source === 'none') {
    lines.push('Xen notes    none: this kernel cannot run as a Xen guest');
    return `${lines.join('\n')}\n`;
  }
  const field = (name: string, value: bigint | number | string | boolean | undefined): void => {
    if (value === undefined) return;
    const text =
      typeof value === 'bigint' || typeof value === 'number' ? hex(value) : String(value);
    lines.push(`  ${name.padEnd(19)}${text}`);
  };
  lines.push(`Xen notes    (from ${xen.source})`);
  field('PHYS32_ENTRY', xen.phys32Entry);
  field('ENTRY', xen.entry);
  field('HYPERCALL_PAGE', xen.hypercallPage);
  field('VIRT_BASE', xen.virtBase);
  field('PADDR_OFFSET', xen.paddrOffset);
  field('INIT_P2M', xen.initP2m);
  field('HV_START_LOW', xen.hvStartLow);
  field('GUEST_OS', xen.guestOs);
  field('GUEST_VERSION', xen.guestVersion);
  field('XEN_VERSION', xen.xenVersion);
  field('LOADER', xen.loader);
  field('PAE_MODE', xen.paeMode);
  field('MOD_START_PFN', xen.modStartPfn);
  field('SUSPEND_CANCEL', xen.suspendCancel);
  for (const pair of xen.l1MfnValid ?? []) {
    field('L1_MFN_VALID', `mask ${hex(pair.mask)} value ${hex(pair.value)}`);
  }
  field('FEATURES', xen.features.strings.join(' | ') || undefined);
  field('SUPPORTED_FEATURES', xen.supportedFeatures);
  field('  required', xen.features.required.join(', ') || '(none)');
  field('  supported', xen.features.supported.join(', '));
  return `${lines.join('\n')}\n`;
}

export async function describeKernelFile(path: string): Promise<string> {
  return describeLoadedKernel(await loadKernel(path));
}
