// Debian's cloud kernel, started as a PVH domain by a test builder, runs through its early
// Xen setup — shared_info, vcpu_info, event channels, timers, grant tables, the console — into
// xenbus initialisation, where it waits for Dom0's xenstore (the next layer up).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { XS_DIRECTORY, XS_READ, xsd_sockmsg } from '../../src/abi/io/xs_wire.js';
import { buildAcpiTables, XEN_PVH_ACPI_ADDRESS } from '../../src/dom0/builder/acpi.js';
import { ensureImages } from '../../src/images/store.js';
import { DomainState } from '../../src/xen/common/domain.js';
import type { HypercallEntry } from '../../src/xen/hypercall/table.js';
import { Hypervisor } from '../../src/xen/hypervisor.js';
import {
  buildPvhDomain,
  drainConsoleRing,
  pendingStoreRequests,
} from '../../src/xen/testing/pvh-boot.js';

/** Counts each hypercall (and sub-op) the guest makes, by wrapping the table's handlers. */
function countHypercalls(hv: Hypervisor): Map<string, number> {
  const made = new Map<string, number>();
  const table = hv.hypercalls as Map<number, HypercallEntry>;
  for (const [number, entry] of table) {
    const handler = entry.handler;
    table.set(number, {
      ...entry,
      handler: (call) => {
        const key = `${entry.name}/${call.argLo[1]}`;
        made.set(key, (made.get(key) ?? 0) + 1);
        return handler(call);
      },
    });
  }
  return made;
}

test('the Debian kernel gets through its early hypercalls to xenbus', async () => {
  const images = await ensureImages();
  const vmlinux = new Uint8Array(await readFile(images.vmlinux));
  let log = '';
  const hv = new Hypervisor({
    memoryBytes: 320 << 20,
    clock: 'virtual',
    consoleEcho: (text) => {
      log += text;
    },
  });
  const made = countHypercalls(hv);
  const acpi = buildAcpiTables({ vcpus: 1, address: XEN_PVH_ACPI_ADDRESS });
  const { domain } = buildPvhDomain(hv, {
    vmlinux,
    cmdline: 'console=hvc0 earlyprintk=xen',
    memoryMiB: 256,
    acpi: { address: XEN_PVH_ACPI_ADDRESS, tables: acpi.tables, rsdpAddress: acpi.rsdpAddress },
  });
  // The deadlines the guest's vCPU 0 sets (VCPUOP_set_singleshot_timer), in order.
  const deadlines: number[] = [];
  const setSingleshot = domain.timers.setSingleshot.bind(domain.timers);
  domain.timers.setSingleshot = (vcpu, timeout, flags, now) => {
    if (vcpu === 0) deadlines.push(timeout);
    return setSingleshot(vcpu, timeout, flags, now);
  };
  hv.unpause(domain);
  let hvc = '';
  let requests: Uint8Array = new Uint8Array(0);
  let instructions = 0;
  // Until a xenstore request sits on the ring, waiting for xenstored.
  while (instructions < 2_000_000_000 && domain.state === DomainState.Running) {
    instructions += hv.run(5_000_000);
    hvc += drainConsoleRing(hv, domain);
    requests = pendingStoreRequests(hv, domain);
    if (requests.length >= xsd_sockmsg.size) break;
  }
  const text = log + hvc;
  const calls = [...made].map(([name, count]) => `${name}×${count}`).join(' ');
  console.log(`# ${instructions} instructions; hypercalls: ${calls}`);
  assert.equal(domain.state, DomainState.Running, text.slice(-3000));
  assert.doesNotMatch(text, /Kernel panic|BUG:|kernel BUG|Oops|WARNING:/, text.slice(-3000));
  assert.match(log, /Linux version 6\.1/);
  // After the boot console, the kernel writes to its console ring (hvc_xen).
  assert.match(hvc, /printk: console \[hvc0\] enabled/);
  assert.match(hvc, /clocksource: Switched to clocksource xen/);
  for (const call of [
    'xen_version/6', // XENVER_get_features
    'memory_op/7', // XENMEM_add_to_physmap: shared_info, grant frames
    'vcpu_op/10', // VCPUOP_register_vcpu_info
    'vcpu_op/8', // VCPUOP_set_singleshot_timer
    'hvm_op/23', // HVMOP_set_evtchn_upcall_vector
    'event_channel_op/11', // EVTCHNOP_init_control (FIFO)
    'event_channel_op/1', // EVTCHNOP_bind_virq (VIRQ_TIMER)
    'hvm_op/1', // HVMOP_get_param: the xenstore and console pages
  ]) {
    assert.ok(made.has(call), `the kernel made ${call}`);
  }
  // Timer interrupts arrive: many single-shot timers were set, and the clock moved on.
  assert.ok((made.get('vcpu_op/8') ?? 0) > 10, 'the timer is re-armed from its interrupts');
  // Until the switch to the Xen clocksource, Linux counts ticks (HZ=250) and re-arms each one
  // 4 ms after the time its handler reads, losing the time from the deadline to that read.
  // On the virtual clock (1 ns an instruction) that is the handler's ~2,800 instructions when
  // VIRQ_TIMER arrives at its deadline; on the host clock it is what keeps `date` behind.
  const TICK_NS = 4_000_000;
  const lost = deadlines.slice(1, 21).map((deadline, i) => deadline - deadlines[i]! - TICK_NS);
  assert.equal(lost.length, 20, `${deadlines.length} timer deadlines`);
  assert.ok(
    lost.every((ns) => ns >= 0 && ns < 10_000),
    `time each tick lost: ${lost.join(' ')} ns`,
  );
  // xenbus connected to its ring: its first request waits for xenstored.
  const header = xsd_sockmsg.decode(requests);
  assert.ok([XS_DIRECTORY, XS_READ].includes(Number(header.type)), `request type ${header.type}`);
});
