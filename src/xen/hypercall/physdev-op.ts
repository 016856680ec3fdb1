/**
 * HYPERVISOR_physdev_op as an HVM/PVH guest reaches it: Xen's hvm_physdev_op filter, then
 * do_physdev_op. The filter runs before the argument is read, so a forbidden command is
 * -ENOSYS whatever the pointer.
 *
 * - The PIRQ commands need has_pirq() (XEN_X86_EMU_USE_PIRQ), which a PVH domain never has
 *   and no domain here is created with: -ENOSYS for everyone.
 * - The PCI-registration and debug-port commands are the hardware domain's. This machine
 *   has no physical PCI devices, no MMCFG region and no EHCI debug port, so they answer as
 *   Xen does on such a machine once the argument is read.
 * - Everything else (the PV commands: set_iopl, apic_read, pirq_eoi_gmfn …) is -ENOSYS.
 */
import { XEN_EFAULT, XEN_EINVAL, XEN_ENODEV, XEN_ENOSYS } from '../../abi/errno.js';
import {
  PHYSDEVOP_dbgp_op,
  PHYSDEVOP_eoi,
  PHYSDEVOP_get_free_pirq,
  PHYSDEVOP_irq_status_query,
  PHYSDEVOP_map_pirq,
  PHYSDEVOP_pci_device_add,
  PHYSDEVOP_pci_device_remove,
  PHYSDEVOP_pci_mmcfg_reserved,
  PHYSDEVOP_unmap_pirq,
  physdev_dbgp_op,
  physdev_pci_device,
  physdev_pci_device_add,
  physdev_pci_mmcfg_reserved,
  XEN_PCI_DEV_PXM,
  XEN_PCI_MMCFG_RESERVED,
} from '../../abi/physdev.js';
import { argPointer, offsetPointer, readBytes, readStruct } from './guest-args.js';
import type { HypercallCall } from './table.js';
import { isHardwareDomain } from './xsm.js';

export function physdevOp(call: HypercallCall): number {
  const cmd = call.argLo[1]!;
  const hardware = isHardwareDomain(call.vcpu.domain);
  switch (cmd) {
    case PHYSDEVOP_map_pirq:
    case PHYSDEVOP_unmap_pirq:
    case PHYSDEVOP_eoi:
    case PHYSDEVOP_irq_status_query:
    case PHYSDEVOP_get_free_pirq:
      return -XEN_ENOSYS; // !has_pirq(currd)
    case PHYSDEVOP_pci_mmcfg_reserved:
      return hardware ? pciMmcfgReserved(call) : -XEN_ENOSYS;
    case PHYSDEVOP_pci_device_add:
      return hardware ? pciDeviceAdd(call) : -XEN_ENOSYS;
    case PHYSDEVOP_pci_device_remove:
      return hardware ? pciDeviceRemove(call) : -XEN_ENOSYS;
    case PHYSDEVOP_dbgp_op:
      return hardware ? dbgpOp(call) : -XEN_ENOSYS;
    default:
      return -XEN_ENOSYS;
  }
}

/** pci_mmcfg_reserved: flags are checked, then the region matches none Xen found (none). */
function pciMmcfgReserved(call: HypercallCall): number {
  const info = readStruct(call, physdev_pci_mmcfg_reserved, argPointer(call, 2));
  if (info === undefined) return -XEN_EFAULT;
  if (info.flags & ~XEN_PCI_MMCFG_RESERVED) return -XEN_EINVAL;
  return -XEN_ENODEV;
}

/**
 * pci_physdev_op's add: the struct, then the PXM in optarr[0] if flagged. Xen would record
 * the device for passthrough; with no physical PCI bus here there is none to record.
 */
function pciDeviceAdd(call: HypercallCall): number {
  const at = argPointer(call, 2);
  const add = readStruct(call, physdev_pci_device_add, at);
  if (add === undefined) return -XEN_EFAULT;
  if (add.flags & XEN_PCI_DEV_PXM) {
    const pxm = offsetPointer(at, physdev_pci_device_add.offsets.optarr);
    if (readBytes(call, pxm, 4) === undefined) return -XEN_EFAULT;
  }
  return -XEN_ENODEV;
}

/** pci_remove_device: no segment holds the device (nothing was ever added). */
function pciDeviceRemove(call: HypercallCall): number {
  const dev = readStruct(call, physdev_pci_device, argPointer(call, 2));
  return dev === undefined ? -XEN_EFAULT : -XEN_ENODEV;
}

/** dbgp_op: with no EHCI debug port in use, Xen ignores the notification (0). */
function dbgpOp(call: HypercallCall): number {
  const op = readStruct(call, physdev_dbgp_op, argPointer(call, 2));
  return op === undefined ? -XEN_EFAULT : 0;
}
