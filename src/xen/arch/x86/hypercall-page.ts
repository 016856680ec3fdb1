/**
 * The hypercall page a guest asks for by writing its guest-physical address to the MSR named
 * in CPUID leaf 0x40000002: 32-byte stubs, stub i being `mov $i, %eax; vmcall; ret`, as Xen
 * writes for HVM guests on Intel.
 */
export const HYPERCALL_STUB_SIZE = 32;

export function hypercallPage(): Uint8Array {
  const page = new Uint8Array(4096).fill(0xcc); // int3 between stubs
  for (let i = 0; i < 4096 / HYPERCALL_STUB_SIZE; i++) {
    const at = i * HYPERCALL_STUB_SIZE;
    page.set([0xb8, i & 0xff, (i >> 8) & 0xff, 0, 0, 0x0f, 0x01, 0xc1, 0xc3], at);
  }
  return page;
}
