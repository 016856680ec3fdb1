/**
 * Dom0 as the hypervisor sees it: a privileged domain whose kernel is TypeScript outside the
 * emulated CPU (see DomainConfig.external). `createControlDomain` builds it at boot, as Xen
 * builds Dom0; `ExternalPort` is its privcmd surface in the hypervisor's own thread (Dom0's
 * libraries take it as their `Privcmd`; the host's worker thread forwards the same calls).
 */
import type { Domain } from './common/domain.js';
import type { HypercallArgs } from './hypercall/table.js';
import type { Hypervisor } from './hypervisor.js';

export interface ControlDomainOptions {
  /** Dom0's RAM in 4 KiB frames, populated from guest frame 0. */
  ramFrames: number;
}

/** Domain 0: privileged, external, with its RAM. */
export function createControlDomain(hv: Hypervisor, options: ControlDomainOptions): Domain {
  const dom0 = hv.createDomain({
    maxVcpus: 1,
    maxPages: options.ramFrames,
    privileged: true,
    external: true,
  });
  if (hv.populatePhysmap(dom0, 0, options.ramFrames) !== options.ramFrames) {
    hv.destroyDomain(dom0);
    throw new RangeError(`no memory for Dom0's ${options.ramFrames} frames`);
  }
  return dom0;
}

/** Hypercall arguments from numbers (exact below 2^53; negative ones sign-extended) or bigints. */
export function hypercallArgs(values: readonly (number | bigint)[]): HypercallArgs {
  const argLo = new Int32Array(6);
  const argHi = new Int32Array(6);
  values.forEach((value, i) => {
    const v = BigInt.asUintN(64, BigInt(value));
    argLo[i + 1] = Number(v & 0xffffffffn) | 0;
    argHi[i + 1] = Number(v >> 32n) | 0;
  });
  return { argLo, argHi };
}

/** Dom0's privcmd in the hypervisor's thread: calls run at once, between guest slices. */
export class ExternalPort {
  readonly machine: Uint8Array;
  readonly p2m: Int32Array;

  constructor(
    private readonly hv: Hypervisor,
    private readonly domain: Domain,
  ) {
    this.machine = hv.memory.bytes;
    this.p2m = domain.p2m;
  }

  hypercall(op: number, args: readonly (number | bigint)[]): Promise<number> {
    return Promise.resolve(this.hv.externalHypercall(this.domain, op, hypercallArgs(args)));
  }

  onUpcall(handler: () => void): void {
    const previous = this.hv.onExternalUpcall;
    this.hv.onExternalUpcall = (vcpu) => {
      if (vcpu.domain === this.domain) handler();
      else previous?.(vcpu);
    };
  }
}
