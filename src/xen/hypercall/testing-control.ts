/**
 * Test helper: a domain whose guest makes whatever hypercalls a test queues, one at a time,
 * as a toolstack in Dom0 would through privcmd. Each queued entry (number, three arguments)
 * is picked up by the guest, made with VMCALL, and its RAX stored back; between calls the
 * test can look at and change the hypervisor from the host side.
 */
import { XEN_DOMCTL_INTERFACE_VERSION, xen_domctl } from '../../abi/domctl.js';
import { __HYPERVISOR_domctl, __HYPERVISOR_sysctl } from '../../abi/hypercall.js';
import { XEN_SYSCTL_INTERFACE_VERSION, xen_sysctl } from '../../abi/sysctl.js';
import { assemble } from '../../x86/testing/native/assemble.js';
import type { Domain } from '../common/domain.js';
import type { Hypervisor } from '../hypervisor.js';
import { GUEST_CODE, GUEST_DATA, prepareGuest, readGuest, writeGuest } from '../testing/guest.js';

/** How many hypercalls the guest has made (u64). */
const DONE = GUEST_DATA;
/** Where domctl() and sysctl() put their struct. */
export const OP = GUEST_DATA + 0x1000;
/** Free buffers for payloads (8 KiB each), and a larger one. */
export const BUF_A = GUEST_DATA + 0x2000;
export const BUF_B = GUEST_DATA + 0x4000;
export const BUF_C = GUEST_DATA + 0x10000;
/** The queue: 64-byte entries of number, arguments 1-3 and the result; number -1 = not yet. */
const QUEUE = GUEST_DATA + 0x80000;
const ENTRY = 64;

const RUNNER = `
  mov $${QUEUE}, %rbx
1:
  mov 0(%rbx), %rax
  cmp $-1, %rax
  je 1b
  mov 8(%rbx), %rdi
  mov 16(%rbx), %rsi
  mov 24(%rbx), %rdx
  vmcall
  mov %rax, 32(%rbx)
  incq ${DONE}
  add $${ENTRY}, %rbx
  jmp 1b
`;

type DomctlValue = Parameters<typeof xen_domctl.encode>[0];
type SysctlValue = Parameters<typeof xen_sysctl.encode>[0];
export type DomctlStruct = ReturnType<typeof xen_domctl.decode>;
export type SysctlStruct = ReturnType<typeof xen_sysctl.decode>;

function u64(value: number | bigint): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt.asUintN(64, BigInt(value)), true);
  return out;
}

export class ControlGuest {
  private calls = 0;

  constructor(
    readonly hv: Hypervisor,
    readonly domain: Domain,
  ) {
    prepareGuest(hv, domain, assemble(RUNNER, 64, { origin: GUEST_CODE }));
    writeGuest(hv, domain, QUEUE, new Uint8Array(0x10000).fill(0xff));
    hv.unpause(domain);
  }

  /** A new privileged (Dom0-like) or unprivileged domain running the queue. */
  static create(hv: Hypervisor, privileged = true): ControlGuest {
    return new ControlGuest(hv, hv.createDomain({ maxVcpus: 1, maxPages: 4096, privileged }));
  }

  write(gpa: number, data: Uint8Array): void {
    writeGuest(this.hv, this.domain, gpa, data);
  }

  read(gpa: number, length: number): Uint8Array {
    return readGuest(this.hv, this.domain, gpa, length);
  }

  /** Makes hypercall `nr` from the guest; its return value (RAX, signed). */
  hypercall(
    nr: number,
    a1: number | bigint = 0,
    a2: number | bigint = 0,
    a3: number | bigint = 0,
  ): number {
    const entry = QUEUE + this.calls * ENTRY;
    this.write(entry + 8, u64(a1));
    this.write(entry + 16, u64(a2));
    this.write(entry + 24, u64(a3));
    this.write(entry, u64(nr));
    const want = this.calls + 1;
    for (let i = 0; i < 100 && this.done() < want; i++) this.hv.run(20_000);
    if (this.done() < want) throw new Error(`the control guest did not make hypercall ${nr}`);
    this.calls++;
    return Number(new DataView(this.read(entry + 32, 8).buffer).getBigInt64(0, true));
  }

  private done(): number {
    return Number(new DataView(this.read(DONE, 8).buffer).getBigUint64(0, true));
  }

  /** HYPERVISOR_domctl with the struct at OP; the struct as the hypervisor left it. */
  domctl(value: DomctlValue): { ret: number; op: DomctlStruct } {
    this.write(
      OP,
      xen_domctl.encode({ interface_version: XEN_DOMCTL_INTERFACE_VERSION, ...value }),
    );
    const ret = this.hypercall(__HYPERVISOR_domctl, OP);
    return { ret, op: xen_domctl.decode(this.read(OP, xen_domctl.size)) };
  }

  sysctl(value: SysctlValue): { ret: number; op: SysctlStruct } {
    this.write(
      OP,
      xen_sysctl.encode({ interface_version: XEN_SYSCTL_INTERFACE_VERSION, ...value }),
    );
    const ret = this.hypercall(__HYPERVISOR_sysctl, OP);
    return { ret, op: xen_sysctl.decode(this.read(OP, xen_sysctl.size)) };
  }
}
