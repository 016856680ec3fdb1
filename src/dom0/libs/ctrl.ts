/**
 * Domain control (libxenctrl's part the toolstack uses): domctl, sysctl, xen_version,
 * hvm_op params and memory_op on other domains, as typed async calls. Errors are
 * HypercallErrors carrying Xen's errno.
 */
import {
  XEN_DOMCTL_createdomain,
  XEN_DOMCTL_destroydomain,
  XEN_DOMCTL_getdomaininfo,
  XEN_DOMCTL_gethvmcontext,
  XEN_DOMCTL_getvcpuinfo,
  XEN_DOMCTL_INTERFACE_VERSION,
  XEN_DOMCTL_max_mem,
  XEN_DOMCTL_pausedomain,
  XEN_DOMCTL_sethvmcontext,
  XEN_DOMCTL_unpausedomain,
  xen_domctl,
  xen_domctl_getdomaininfo,
} from '../../abi/domctl.js';
import { XEN_ESRCH } from '../../abi/errno.js';
import { HVMOP_get_param, HVMOP_set_param, xen_hvm_param } from '../../abi/hvm.js';
import {
  __HYPERVISOR_domctl,
  __HYPERVISOR_hvm_op,
  __HYPERVISOR_memory_op,
  __HYPERVISOR_sysctl,
  __HYPERVISOR_xen_version,
} from '../../abi/hypercall.js';
import {
  e820entry,
  XENMEM_populate_physmap,
  XENMEM_set_memory_map,
  xen_foreign_memory_map,
  xen_memory_reservation,
} from '../../abi/memory.js';
import {
  XEN_SYSCTL_getdomaininfolist,
  XEN_SYSCTL_INTERFACE_VERSION,
  XEN_SYSCTL_physinfo,
  XEN_SYSCTL_readconsole,
  xen_sysctl,
} from '../../abi/sysctl.js';
import { type Dom0Kernel, HypercallError } from './kernel.js';

type DomctlInput = Parameters<typeof xen_domctl.encode>[0];
type DomctlUnion = NonNullable<DomctlInput['u']>;
type SysctlInput = Parameters<typeof xen_sysctl.encode>[0];
export type CreateDomainConfig = NonNullable<DomctlUnion['createdomain']>;
export type DomainInfo = ReturnType<typeof xen_domctl_getdomaininfo.decode>;
export type Physinfo = ReturnType<typeof xen_sysctl.decode>['u']['physinfo'];
export type VcpuInfo = ReturnType<typeof xen_domctl.decode>['u']['getvcpuinfo'];

export interface MemoryMapEntry {
  addr: number;
  size: number;
  type: number;
}

export class XenCtrl {
  constructor(readonly kernel: Dom0Kernel) {}

  /** One domctl; resolves to the struct as the hypervisor left it. */
  async domctl(what: string, op: Omit<DomctlInput, 'interface_version'>) {
    const kernel = this.kernel;
    const { rc, out } = await kernel.inOut(
      xen_domctl,
      { ...op, interface_version: XEN_DOMCTL_INTERFACE_VERSION },
      (gpa) => kernel.hypercall(__HYPERVISOR_domctl, gpa),
    );
    if (rc < 0) throw new HypercallError(what, -rc);
    return out;
  }

  async sysctl(what: string, op: Omit<SysctlInput, 'interface_version'>) {
    const kernel = this.kernel;
    const { rc, out } = await kernel.inOut(
      xen_sysctl,
      { ...op, interface_version: XEN_SYSCTL_INTERFACE_VERSION },
      (gpa) => kernel.hypercall(__HYPERVISOR_sysctl, gpa),
    );
    if (rc < 0) throw new HypercallError(what, -rc);
    return out;
  }

  /** XEN_DOMCTL_createdomain; `domid` 0 lets the hypervisor choose. Returns the domid. */
  async createDomain(config: CreateDomainConfig, domid = 0): Promise<number> {
    const out = await this.domctl('XEN_DOMCTL_createdomain', {
      cmd: XEN_DOMCTL_createdomain,
      domain: domid,
      u: { createdomain: config },
    });
    return out.domain;
  }

  async destroyDomain(domid: number): Promise<void> {
    await this.domctl('XEN_DOMCTL_destroydomain', { cmd: XEN_DOMCTL_destroydomain, domain: domid });
  }

  async pauseDomain(domid: number): Promise<void> {
    await this.domctl('XEN_DOMCTL_pausedomain', { cmd: XEN_DOMCTL_pausedomain, domain: domid });
  }

  async unpauseDomain(domid: number): Promise<void> {
    await this.domctl('XEN_DOMCTL_unpausedomain', { cmd: XEN_DOMCTL_unpausedomain, domain: domid });
  }

  async setMaxMem(domid: number, maxKiB: number): Promise<void> {
    await this.domctl('XEN_DOMCTL_max_mem', {
      cmd: XEN_DOMCTL_max_mem,
      domain: domid,
      u: { max_mem: { max_memkb: BigInt(maxKiB) } },
    });
  }

  /** The domain's info, or undefined when there is no such domain. */
  async domainInfo(domid: number): Promise<DomainInfo | undefined> {
    try {
      const out = await this.domctl('XEN_DOMCTL_getdomaininfo', {
        cmd: XEN_DOMCTL_getdomaininfo,
        domain: domid,
      });
      return out.domain === domid ? out.u.getdomaininfo : undefined;
    } catch (error) {
      if (error instanceof HypercallError && error.errno === XEN_ESRCH) return undefined;
      throw error;
    }
  }

  /** Every domain, in domid order (XEN_SYSCTL_getdomaininfolist). */
  async listDomains(): Promise<DomainInfo[]> {
    const max = 1024;
    const size = xen_domctl_getdomaininfo.size;
    return this.kernel.withBuffer(max * size, async (buffer) => {
      const out = await this.sysctl('XEN_SYSCTL_getdomaininfolist', {
        cmd: XEN_SYSCTL_getdomaininfolist,
        u: {
          getdomaininfolist: {
            first_domain: 0,
            max_domains: max,
            buffer: BigInt(buffer),
            num_domains: 0,
          },
        },
      });
      const count = out.u.getdomaininfolist.num_domains;
      const bytes = this.kernel.memory.read(buffer, count * size);
      return Array.from({ length: count }, (_, i) =>
        xen_domctl_getdomaininfo.decode(bytes.subarray(i * size, (i + 1) * size)),
      );
    });
  }

  async vcpuInfo(domid: number, vcpu: number): Promise<VcpuInfo> {
    const out = await this.domctl('XEN_DOMCTL_getvcpuinfo', {
      cmd: XEN_DOMCTL_getvcpuinfo,
      domain: domid,
      u: { getvcpuinfo: { vcpu } },
    });
    return out.u.getvcpuinfo;
  }

  /** XEN_DOMCTL_gethvmcontext: the domain's whole HVM context (save records). */
  async getHvmContext(domid: number): Promise<Uint8Array> {
    const sized = await this.domctl('XEN_DOMCTL_gethvmcontext', {
      cmd: XEN_DOMCTL_gethvmcontext,
      domain: domid,
      u: { hvmcontext: { size: 0, buffer: 0n } },
    });
    const size = sized.u.hvmcontext.size;
    return this.kernel.withBuffer(size, async (buffer) => {
      const out = await this.domctl('XEN_DOMCTL_gethvmcontext', {
        cmd: XEN_DOMCTL_gethvmcontext,
        domain: domid,
        u: { hvmcontext: { size, buffer: BigInt(buffer) } },
      });
      return this.kernel.memory.read(buffer, out.u.hvmcontext.size);
    });
  }

  /** XEN_DOMCTL_sethvmcontext: loads save records into the (paused) domain. */
  async setHvmContext(domid: number, context: Uint8Array): Promise<void> {
    await this.kernel.withBytes(context, (buffer) =>
      this.domctl('XEN_DOMCTL_sethvmcontext', {
        cmd: XEN_DOMCTL_sethvmcontext,
        domain: domid,
        u: { hvmcontext: { size: context.length, buffer: BigInt(buffer) } },
      }),
    );
  }

  async physinfo(): Promise<Physinfo> {
    const out = await this.sysctl('XEN_SYSCTL_physinfo', { cmd: XEN_SYSCTL_physinfo });
    return out.u.physinfo;
  }

  /** The hypervisor's console ring (XEN_SYSCTL_readconsole), optionally cleared after. */
  async readConsole(clear: boolean): Promise<string> {
    const size = 64 * 1024;
    return this.kernel.withBuffer(size, async (buffer) => {
      const out = await this.sysctl('XEN_SYSCTL_readconsole', {
        cmd: XEN_SYSCTL_readconsole,
        u: {
          readconsole: {
            clear: clear ? 1 : 0,
            incremental: 0,
            index: 0,
            buffer: BigInt(buffer),
            count: size,
          },
        },
      });
      const bytes = this.kernel.memory.read(buffer, out.u.readconsole.count);
      return new TextDecoder().decode(bytes);
    });
  }

  /** xen_version(cmd, buffer of `size` bytes): the result and the buffer's contents. */
  async xenVersion(cmd: number, size = 0): Promise<{ rc: number; bytes: Uint8Array }> {
    const kernel = this.kernel;
    return kernel.withBuffer(Math.max(size, 1), async (buffer) => {
      const rc = await kernel.checked(
        'xen_version',
        kernel.hypercall(__HYPERVISOR_xen_version, cmd, size === 0 ? 0 : buffer),
      );
      return { rc, bytes: kernel.memory.read(buffer, size) };
    });
  }

  async setHvmParam(domid: number, index: number, value: bigint | number): Promise<void> {
    const kernel = this.kernel;
    await kernel.checked(
      'HVMOP_set_param',
      kernel.withStruct(xen_hvm_param, { domid, pad: 0, index, value: BigInt(value) }, (gpa) =>
        kernel.hypercall(__HYPERVISOR_hvm_op, HVMOP_set_param, gpa),
      ),
    );
  }

  async getHvmParam(domid: number, index: number): Promise<bigint> {
    const kernel = this.kernel;
    const { rc, out } = await kernel.inOut(
      xen_hvm_param,
      { domid, pad: 0, index, value: 0n },
      (gpa) => kernel.hypercall(__HYPERVISOR_hvm_op, HVMOP_get_param, gpa),
    );
    if (rc < 0) throw new HypercallError('HVMOP_get_param', -rc);
    return out.value;
  }

  /** XENMEM_populate_physmap of single pages at `gfns` of `domid`. */
  async populatePhysmap(domid: number, gfns: readonly number[]): Promise<void> {
    const kernel = this.kernel;
    const list = new DataView(new ArrayBuffer(gfns.length * 8));
    gfns.forEach((gfn, i) => {
      list.setBigUint64(i * 8, BigInt(gfn), true);
    });
    const done = await kernel.withBytes(new Uint8Array(list.buffer), (extents) =>
      kernel.withStruct(
        xen_memory_reservation,
        {
          extent_start: BigInt(extents),
          nr_extents: BigInt(gfns.length),
          extent_order: 0,
          mem_flags: 0,
          domid,
        },
        (gpa) => kernel.hypercall(__HYPERVISOR_memory_op, XENMEM_populate_physmap, gpa),
      ),
    );
    if (done < 0) throw new HypercallError('XENMEM_populate_physmap', -done);
    if (done !== gfns.length) {
      throw new HypercallError(`XENMEM_populate_physmap (${done} of ${gfns.length} pages)`, 12);
    }
  }

  /** XENMEM_set_memory_map: the e820 map the guest reads with XENMEM_memory_map. */
  async setMemoryMap(domid: number, entries: readonly MemoryMapEntry[]): Promise<void> {
    const kernel = this.kernel;
    const table = new Uint8Array(entries.length * e820entry.size);
    entries.forEach((e, i) => {
      table.set(
        e820entry.encode({ addr: BigInt(e.addr), size: BigInt(e.size), type: e.type }),
        i * e820entry.size,
      );
    });
    await kernel.checked(
      'XENMEM_set_memory_map',
      kernel.withBytes(table, (buffer) =>
        kernel.withStruct(
          xen_foreign_memory_map,
          { domid, map: { nr_entries: entries.length, buffer: BigInt(buffer) } },
          (gpa) => kernel.hypercall(__HYPERVISOR_memory_op, XENMEM_set_memory_map, gpa),
        ),
      ),
    );
  }
}
