/**
 * Physical device operations (xen/include/public/physdev.h): HYPERVISOR_physdev_op's
 * commands, and the structs a guest kernel uses for IRQs, I/O privilege and PCI.
 */

import { anonStruct, anonUnion, flex, i32, struct, u8, u16, u32, u64 } from './layout.js';

/** Deprecated: unmask notification for a PIRQ. */
export const PHYSDEVOP_IRQ_UNMASK_NOTIFY = 4;
export const PHYSDEVOP_irq_status_query = 5;
export const PHYSDEVOP_set_iopl = 6;
export const PHYSDEVOP_set_iobitmap = 7;
export const PHYSDEVOP_apic_read = 8;
export const PHYSDEVOP_apic_write = 9;
export const PHYSDEVOP_alloc_irq_vector = 10;
export const PHYSDEVOP_free_irq_vector = 11;
export const PHYSDEVOP_eoi = 12;
export const PHYSDEVOP_map_pirq = 13;
export const PHYSDEVOP_unmap_pirq = 14;
export const PHYSDEVOP_manage_pci_add = 15;
export const PHYSDEVOP_manage_pci_remove = 16;
export const PHYSDEVOP_pirq_eoi_gmfn_v1 = 17;
export const PHYSDEVOP_restore_msi = 19;
export const PHYSDEVOP_manage_pci_add_ext = 20;
export const PHYSDEVOP_setup_gsi = 21;
// 22 is kept free.
export const PHYSDEVOP_get_free_pirq = 23;
export const PHYSDEVOP_pci_mmcfg_reserved = 24;
export const PHYSDEVOP_pci_device_add = 25;
export const PHYSDEVOP_pci_device_remove = 26;
export const PHYSDEVOP_restore_msi_ext = 27;
export const PHYSDEVOP_pirq_eoi_gmfn_v2 = 28;
export const PHYSDEVOP_dbgp_op = 29;
export const PHYSDEVOP_prepare_msix = 30;
export const PHYSDEVOP_release_msix = 31;
/** The current meaning of pirq_eoi_gmfn (v2: EOI also unmasks the event channel). */
export const PHYSDEVOP_pirq_eoi_gmfn = PHYSDEVOP_pirq_eoi_gmfn_v2;

export const physdev_eoi = struct('physdev_eoi', { irq: u32 });

/** Register a page of PIRQ "needs EOI" bits. */
export const physdev_pirq_eoi_gmfn = struct('physdev_pirq_eoi_gmfn', { gmfn: u64 });

export const physdev_irq_status_query = struct('physdev_irq_status_query', {
  irq: u32,
  /** OUT: XENIRQSTAT_* */
  flags: u32,
});

export const _XENIRQSTAT_needs_eoi = 0;
export const XENIRQSTAT_needs_eoi = 1 << _XENIRQSTAT_needs_eoi;
export const _XENIRQSTAT_shared = 1;
export const XENIRQSTAT_shared = 1 << _XENIRQSTAT_shared;

/** PV: the virtual I/O privilege level of the kernel. */
export const physdev_set_iopl = struct('physdev_set_iopl', { iopl: u32 });

export const physdev_set_iobitmap = struct('physdev_set_iobitmap', {
  /** Guest handle of the bitmap. */
  bitmap: u64,
  nr_ports: u32,
});

export const physdev_apic = struct('physdev_apic', {
  apic_physbase: u64,
  reg: u32,
  value: u32,
});

export const physdev_irq = struct('physdev_irq', {
  irq: u32,
  vector: u32,
});

export const MAP_PIRQ_TYPE_MSI = 0x0;
export const MAP_PIRQ_TYPE_GSI = 0x1;
export const MAP_PIRQ_TYPE_UNKNOWN = 0x2;
export const MAP_PIRQ_TYPE_MSI_SEG = 0x3;
export const MAP_PIRQ_TYPE_MULTI_MSI = 0x4;

export const physdev_map_pirq = struct('physdev_map_pirq', {
  domid: u16,
  /** MAP_PIRQ_TYPE_* */
  type: i32,
  index: i32,
  /** IN or OUT */
  pirq: i32,
  /** High 16 bits: PCI segment for the _SEG and MULTI types. */
  bus: i32,
  devfn: i32,
  entry_nr: i32,
  table_base: u64,
});

export const physdev_unmap_pirq = struct('physdev_unmap_pirq', {
  domid: u16,
  pirq: i32,
});

export const physdev_manage_pci = struct('physdev_manage_pci', {
  bus: u8,
  devfn: u8,
});

export const physdev_setup_gsi = struct('physdev_setup_gsi', {
  gsi: i32,
  triggering: u8,
  polarity: u8,
});

export const physdev_get_free_pirq = struct('physdev_get_free_pirq', {
  /** MAP_PIRQ_TYPE_GSI or MAP_PIRQ_TYPE_MSI */
  type: i32,
  /** OUT */
  pirq: u32,
});

export const XEN_PCI_MMCFG_RESERVED = 0x1;

/** The hardware domain reports an MMCFG region (MCFG) Xen may use for config space. */
export const physdev_pci_mmcfg_reserved = struct('physdev_pci_mmcfg_reserved', {
  address: u64,
  segment: u16,
  start_bus: u8,
  end_bus: u8,
  /** XEN_PCI_MMCFG_* */
  flags: u32,
});

export const XEN_PCI_DEV_EXTFN = 0x1;
export const XEN_PCI_DEV_VIRTFN = 0x2;
export const XEN_PCI_DEV_PXM = 0x4;

export const physdev_pci_device_add = struct('physdev_pci_device_add', {
  seg: u16,
  bus: u8,
  devfn: u8,
  /** XEN_PCI_DEV_* */
  flags: u32,
  physfn: anonStruct({ bus: u8, devfn: u8 }),
  /** Optional values; [0] is the PXM domain when XEN_PCI_DEV_PXM is set. */
  optarr: flex(u32),
});

export const physdev_pci_device = struct('physdev_pci_device', {
  seg: u16,
  bus: u8,
  devfn: u8,
});

export const PHYSDEVOP_DBGP_RESET_PREPARE = 1;
export const PHYSDEVOP_DBGP_RESET_DONE = 2;
export const PHYSDEVOP_DBGP_BUS_UNKNOWN = 0;
export const PHYSDEVOP_DBGP_BUS_PCI = 1;

/** The hardware domain is about to reset (or has reset) the USB controller of Xen's debug port. */
export const physdev_dbgp_op = struct('physdev_dbgp_op', {
  /** PHYSDEVOP_DBGP_RESET_* */
  op: u8,
  /** PHYSDEVOP_DBGP_BUS_* */
  bus: u8,
  u: anonUnion({ pci: physdev_pci_device }),
});

/** The argument of the pre-3.2 __HYPERVISOR_physdev_op_compat. */
export const physdev_op = struct('physdev_op', {
  cmd: u32,
  u: anonUnion({
    irq_status_query: physdev_irq_status_query,
    set_iopl: physdev_set_iopl,
    set_iobitmap: physdev_set_iobitmap,
    apic_op: physdev_apic,
    irq_op: physdev_irq,
  }),
});
