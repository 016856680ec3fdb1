// HYPERVISOR_physdev_op made by guest code through VMCALL, as hvm_physdev_op filters it: a
// domU is refused everything before its argument is read; the hardware domain gets the
// PCI-registration and debug-port commands, answered as on a machine without PCI devices.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { XEN_EFAULT, XEN_EINVAL, XEN_ENODEV, XEN_ENOSYS } from '../../abi/errno.js';
import {
  __HYPERVISOR_physdev_op,
  __HYPERVISOR_physdev_op_compat,
  __HYPERVISOR_sched_op,
} from '../../abi/hypercall.js';
import {
  PHYSDEVOP_alloc_irq_vector,
  PHYSDEVOP_apic_read,
  PHYSDEVOP_apic_write,
  PHYSDEVOP_DBGP_BUS_PCI,
  PHYSDEVOP_DBGP_RESET_PREPARE,
  PHYSDEVOP_dbgp_op,
  PHYSDEVOP_eoi,
  PHYSDEVOP_free_irq_vector,
  PHYSDEVOP_get_free_pirq,
  PHYSDEVOP_IRQ_UNMASK_NOTIFY,
  PHYSDEVOP_irq_status_query,
  PHYSDEVOP_manage_pci_add,
  PHYSDEVOP_manage_pci_add_ext,
  PHYSDEVOP_manage_pci_remove,
  PHYSDEVOP_map_pirq,
  PHYSDEVOP_pci_device_add,
  PHYSDEVOP_pci_device_remove,
  PHYSDEVOP_pci_mmcfg_reserved,
  PHYSDEVOP_pirq_eoi_gmfn_v1,
  PHYSDEVOP_pirq_eoi_gmfn_v2,
  PHYSDEVOP_prepare_msix,
  PHYSDEVOP_release_msix,
  PHYSDEVOP_restore_msi,
  PHYSDEVOP_restore_msi_ext,
  PHYSDEVOP_set_iobitmap,
  PHYSDEVOP_set_iopl,
  PHYSDEVOP_setup_gsi,
  PHYSDEVOP_unmap_pirq,
  physdev_dbgp_op,
  physdev_irq_status_query,
  physdev_pci_device_add,
  physdev_pci_mmcfg_reserved,
  XEN_PCI_DEV_PXM,
  XEN_PCI_MMCFG_RESERVED,
} from '../../abi/physdev.js';
import { SCHEDOP_shutdown } from '../../abi/sched.js';
import { assemble } from '../../x86/testing/native/assemble.js';
import { type Domain, DomainState } from '../common/domain.js';
import { Hypervisor } from '../hypervisor.js';
import { GUEST_CODE, GUEST_DATA, prepareGuest, readGuest } from '../testing/guest.js';

const BAD_POINTER = 'movabs $0x00007fff00000000, %rsi'; // canonical, never mapped
/** A struct at GUEST_DATA + 0x1000, zero unless a test fills it. */
const GOOD_POINTER = 'lea 0x1000(%rbx), %rsi';

const PIRQ_OPS = [
  PHYSDEVOP_map_pirq,
  PHYSDEVOP_unmap_pirq,
  PHYSDEVOP_eoi,
  PHYSDEVOP_irq_status_query,
  PHYSDEVOP_get_free_pirq,
];
const HARDWARE_OPS = [
  PHYSDEVOP_pci_mmcfg_reserved,
  PHYSDEVOP_pci_device_add,
  PHYSDEVOP_pci_device_remove,
  PHYSDEVOP_dbgp_op,
];
/** PV-only commands (and holes): never reachable from an HVM guest. */
const OTHER_OPS = [
  PHYSDEVOP_IRQ_UNMASK_NOTIFY,
  PHYSDEVOP_set_iopl,
  PHYSDEVOP_set_iobitmap,
  PHYSDEVOP_apic_read,
  PHYSDEVOP_apic_write,
  PHYSDEVOP_alloc_irq_vector,
  PHYSDEVOP_free_irq_vector,
  PHYSDEVOP_manage_pci_add,
  PHYSDEVOP_manage_pci_remove,
  PHYSDEVOP_pirq_eoi_gmfn_v1,
  PHYSDEVOP_restore_msi,
  PHYSDEVOP_manage_pci_add_ext,
  PHYSDEVOP_setup_gsi,
  22,
  PHYSDEVOP_restore_msi_ext,
  PHYSDEVOP_pirq_eoi_gmfn_v2,
  PHYSDEVOP_prepare_msix,
  PHYSDEVOP_release_msix,
  99,
  -1,
];

/** physdev_op calls whose results land in consecutive 8-byte slots at GUEST_DATA. */
class Guest {
  readonly #lines: string[] = [];
  #slot = 0;

  /** physdev_op(cmd, argument loaded by `loadArg`) into the next slot; returns the slot. */
  call(cmd: number, loadArg: string, nr = __HYPERVISOR_physdev_op): number {
    this.#lines.push(
      `mov $${nr}, %eax`,
      `mov $${cmd >>> 0}, %edi`,
      loadArg,
      'vmcall',
      `mov %rax, ${this.#slot * 8}(%rbx)`,
    );
    return this.#slot++;
  }

  asm(...lines: string[]): this {
    this.#lines.push(...lines);
    return this;
  }

  get slots(): number {
    return this.#slot;
  }

  build(): Uint8Array {
    return assemble(
      `
        mov $${GUEST_DATA}, %rbx
        ${this.#lines.join('\n')}
        movl $0, 0x2000(%rbx)
        mov $${__HYPERVISOR_sched_op}, %eax
        mov $${SCHEDOP_shutdown}, %edi
        lea 0x2000(%rbx), %rsi
        vmcall
        ud2
      `,
      64,
      { origin: GUEST_CODE },
    );
  }
}

/** Runs `guest` in a fresh domain to its shutdown; returns its result slots. */
function run(
  guest: Guest,
  privileged: boolean,
  hv = new Hypervisor({ memoryBytes: 32 << 20, clock: 'virtual' }),
): {
  domain: Domain;
  results: number[];
} {
  const domain = hv.createDomain({ maxVcpus: 1, maxPages: 4096, privileged });
  prepareGuest(hv, domain, guest.build());
  hv.unpause(domain);
  hv.run(1_000_000);
  assert.equal(domain.state, DomainState.Shutdown);
  const view = new DataView(readGuest(hv, domain, GUEST_DATA, guest.slots * 8).buffer);
  const results = Array.from({ length: guest.slots }, (_, i) =>
    Number(view.getBigInt64(i * 8, true)),
  );
  return { domain, results };
}

/** Stores `value` at GUEST_DATA + 0x1000 + `off` (an unsigned `width`-byte field). */
function field(width: 1 | 2 | 4 | 8, off: number, value: number): string {
  const at = `${0x1000 + off}(%rbx)`;
  if (width === 8) return `movabs $${value}, %rax\nmov %rax, ${at}`;
  return `mov${{ 1: 'b', 2: 'w', 4: 'l' }[width]} $${value}, ${at}`;
}

describe('physdev_op', () => {
  test('a domU is refused every command, before its argument is read', () => {
    const g = new Guest();
    const all = [...PIRQ_OPS, ...HARDWARE_OPS, ...OTHER_OPS];
    for (const cmd of all) g.call(cmd, BAD_POINTER);
    for (const cmd of all) g.call(cmd, GOOD_POINTER);
    // HVM guests have no physdev_op_compat.
    g.call(PHYSDEVOP_eoi, GOOD_POINTER, __HYPERVISOR_physdev_op_compat);
    const { results } = run(g, false);
    assert.equal(results.length, all.length * 2 + 1);
    assert.deepEqual(
      results,
      results.map(() => -XEN_ENOSYS),
    );
  });

  test('the hardware domain: no pirqs, PCI registration and dbgp answered without hardware', () => {
    const hv = new Hypervisor({ memoryBytes: 32 << 20, clock: 'virtual' });
    const g = new Guest();
    const pirq = PIRQ_OPS.map((cmd) => g.call(cmd, GOOD_POINTER));
    const other = OTHER_OPS.map((cmd) => g.call(cmd, GOOD_POINTER));
    const faults = HARDWARE_OPS.map((cmd) => g.call(cmd, BAD_POINTER));

    const mm = physdev_pci_mmcfg_reserved.offsets;
    g.asm(field(8, mm.address, 0xe0000000), field(1, mm.end_bus, 0xff));
    g.asm(field(4, mm.flags, 2));
    const mmcfgBadFlags = g.call(PHYSDEVOP_pci_mmcfg_reserved, GOOD_POINTER);
    g.asm(field(4, mm.flags, XEN_PCI_MMCFG_RESERVED));
    const mmcfg = g.call(PHYSDEVOP_pci_mmcfg_reserved, GOOD_POINTER);

    g.asm(`movq $0, 0x1000(%rbx)`, 'movq $0, 0x1008(%rbx)');
    const add = g.call(PHYSDEVOP_pci_device_add, GOOD_POINTER);
    g.asm(field(4, physdev_pci_device_add.offsets.flags, XEN_PCI_DEV_PXM));
    const addPxm = g.call(PHYSDEVOP_pci_device_add, GOOD_POINTER);
    // The same struct ending the mapped address space: its optarr[0] (the PXM) faults.
    const end = 0x40000000 - physdev_pci_device_add.size;
    g.asm(
      'movq $0x600083, 0x3000 + 511 * 8', // 0x3fe00000-0x3fffffff → RAM at 0x600000
      'invlpg 0x3ffff000',
      `movl $${XEN_PCI_DEV_PXM}, ${end + physdev_pci_device_add.offsets.flags}`,
    );
    const addPxmFault = g.call(PHYSDEVOP_pci_device_add, `mov $${end}, %esi`);
    g.asm(`movl $0, ${end + physdev_pci_device_add.offsets.flags}`);
    const addAtEnd = g.call(PHYSDEVOP_pci_device_add, `mov $${end}, %esi`);
    const remove = g.call(PHYSDEVOP_pci_device_remove, GOOD_POINTER);

    g.asm(
      field(1, physdev_dbgp_op.offsets.op, PHYSDEVOP_DBGP_RESET_PREPARE),
      field(1, physdev_dbgp_op.offsets.bus, PHYSDEVOP_DBGP_BUS_PCI),
    );
    const dbgp = g.call(PHYSDEVOP_dbgp_op, GOOD_POINTER);

    const { domain, results } = run(g, true, hv);
    assert.equal(domain.id, 0);
    const at = (slots: number[]) => slots.map((i) => results[i]);
    assert.deepEqual(
      at(pirq),
      pirq.map(() => -XEN_ENOSYS),
      'no pirqs: -ENOSYS',
    );
    assert.deepEqual(
      at(other),
      other.map(() => -XEN_ENOSYS),
    );
    assert.deepEqual(
      at(faults),
      faults.map(() => -XEN_EFAULT),
    );
    assert.deepEqual(at([mmcfgBadFlags, mmcfg]), [-XEN_EINVAL, -XEN_ENODEV]);
    assert.deepEqual(at([add, addPxm, addPxmFault, addAtEnd, remove]), [
      -XEN_ENODEV,
      -XEN_ENODEV,
      -XEN_EFAULT,
      -XEN_ENODEV,
      -XEN_ENODEV,
    ]);
    assert.equal(results[dbgp], 0, 'no EHCI debug port: nothing to do');
  });

  test('a second privileged domain is not the hardware domain', () => {
    const hv = new Hypervisor({ memoryBytes: 32 << 20, clock: 'virtual' });
    hv.createDomain({ maxVcpus: 1, maxPages: 16, privileged: true });
    const g = new Guest();
    for (const cmd of HARDWARE_OPS) g.call(cmd, BAD_POINTER);
    const { domain, results } = run(g, true, hv);
    assert.equal(domain.id, 1);
    assert.deepEqual(
      results,
      HARDWARE_OPS.map(() => -XEN_ENOSYS),
    );
  });

  test('a refused irq_status_query writes nothing back', () => {
    const g = new Guest();
    g.asm(field(4, 0, 1), field(4, physdev_irq_status_query.offsets.flags, 0xdead));
    g.call(PHYSDEVOP_irq_status_query, GOOD_POINTER);
    const hv = new Hypervisor({ memoryBytes: 32 << 20, clock: 'virtual' });
    const { domain, results } = run(g, false, hv);
    assert.deepEqual(results, [-XEN_ENOSYS]);
    const bytes = readGuest(hv, domain, GUEST_DATA + 0x1000, physdev_irq_status_query.size);
    assert.deepEqual(physdev_irq_status_query.decode(bytes), { irq: 1, flags: 0xdead });
  });
});
