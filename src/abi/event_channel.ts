/**
 * Event channels (xen/include/public/event_channel.h): HYPERVISOR_event_channel_op's
 * commands and their argument structs, and the FIFO ABI's control block and event words.
 * Ports are `evtchn_port_t` (uint32_t).
 */

import { anonStruct, anonUnion, array, struct, u8, u16, u32, u64 } from './layout.js';

export const EVTCHNOP_bind_interdomain = 0;
export const EVTCHNOP_bind_virq = 1;
export const EVTCHNOP_bind_pirq = 2;
export const EVTCHNOP_close = 3;
export const EVTCHNOP_send = 4;
export const EVTCHNOP_status = 5;
export const EVTCHNOP_alloc_unbound = 6;
export const EVTCHNOP_bind_ipi = 7;
export const EVTCHNOP_bind_vcpu = 8;
export const EVTCHNOP_unmask = 9;
export const EVTCHNOP_reset = 10;
export const EVTCHNOP_init_control = 11;
export const EVTCHNOP_expand_array = 12;
export const EVTCHNOP_set_priority = 13;

/** Allocate a port in `dom` that `remote_dom` may bind to. */
export const evtchn_alloc_unbound = struct('evtchn_alloc_unbound', {
  dom: u16,
  remote_dom: u16,
  /** OUT */
  port: u32,
});

/** Connect a local port to an unbound port of another domain. */
export const evtchn_bind_interdomain = struct('evtchn_bind_interdomain', {
  remote_dom: u16,
  remote_port: u32,
  /** OUT */
  local_port: u32,
});

export const evtchn_bind_virq = struct('evtchn_bind_virq', {
  /** VIRQ_* */
  virq: u32,
  vcpu: u32,
  /** OUT */
  port: u32,
});

export const BIND_PIRQ__WILL_SHARE = 1;

export const evtchn_bind_pirq = struct('evtchn_bind_pirq', {
  pirq: u32,
  /** BIND_PIRQ__* */
  flags: u32,
  /** OUT */
  port: u32,
});

export const evtchn_bind_ipi = struct('evtchn_bind_ipi', {
  vcpu: u32,
  /** OUT */
  port: u32,
});

export const evtchn_close = struct('evtchn_close', { port: u32 });

export const evtchn_send = struct('evtchn_send', { port: u32 });

/** Channel is not in use. */
export const EVTCHNSTAT_closed = 0;
/** Channel is waiting for an inter-domain connection. */
export const EVTCHNSTAT_unbound = 1;
/** Channel is connected to a remote domain. */
export const EVTCHNSTAT_interdomain = 2;
/** Channel is bound to a physical IRQ. */
export const EVTCHNSTAT_pirq = 3;
/** Channel is bound to a virtual IRQ. */
export const EVTCHNSTAT_virq = 4;
/** Channel is bound to a virtual IPI. */
export const EVTCHNSTAT_ipi = 5;

export const evtchn_status = struct('evtchn_status', {
  dom: u16,
  port: u32,
  /** OUT: EVTCHNSTAT_* */
  status: u32,
  /** OUT: the vCPU the channel notifies. */
  vcpu: u32,
  u: anonUnion({
    unbound: anonStruct({ dom: u16 }),
    interdomain: anonStruct({ dom: u16, port: u32 }),
    pirq: u32,
    virq: u32,
  }),
});

export const evtchn_bind_vcpu = struct('evtchn_bind_vcpu', {
  port: u32,
  vcpu: u32,
});

export const evtchn_unmask = struct('evtchn_unmask', { port: u32 });

export const evtchn_reset = struct('evtchn_reset', { dom: u16 });

/** Switch to the FIFO ABI: register a vCPU's control block. */
export const evtchn_init_control = struct('evtchn_init_control', {
  control_gfn: u64,
  /** Offset of the control block within the page. */
  offset: u32,
  vcpu: u32,
  /** OUT: number of link bits in an event word. */
  link_bits: u8,
  _pad: array(u8, 7),
});

/** Add a page of FIFO event words. */
export const evtchn_expand_array = struct('evtchn_expand_array', { array_gfn: u64 });

export const evtchn_set_priority = struct('evtchn_set_priority', {
  port: u32,
  /** EVTCHN_FIFO_PRIORITY_* range, 0 highest. */
  priority: u32,
});

/** The argument of the pre-3.2 __HYPERVISOR_event_channel_op_compat. */
export const evtchn_op = struct('evtchn_op', {
  /** EVTCHNOP_* */
  cmd: u32,
  u: anonUnion({
    alloc_unbound: evtchn_alloc_unbound,
    bind_interdomain: evtchn_bind_interdomain,
    bind_virq: evtchn_bind_virq,
    bind_pirq: evtchn_bind_pirq,
    bind_ipi: evtchn_bind_ipi,
    close: evtchn_close,
    send: evtchn_send,
    status: evtchn_status,
    bind_vcpu: evtchn_bind_vcpu,
    unmask: evtchn_unmask,
  }),
});

/** Ports of the 2-level ABI: one bit per port in 64 words of 64 bits. */
export const EVTCHN_2L_NR_CHANNELS = 8 * 8 * 64;

// FIFO ABI. Priorities run from 0 (highest) to 15 (lowest), one queue each.
export const EVTCHN_FIFO_PRIORITY_MAX = 0;
export const EVTCHN_FIFO_PRIORITY_DEFAULT = 7;
export const EVTCHN_FIFO_PRIORITY_MIN = 15;
export const EVTCHN_FIFO_MAX_QUEUES = EVTCHN_FIFO_PRIORITY_MIN + 1;

// Bits of an event word (uint32_t): four flags above a LINK to the next port in the queue.
export const EVTCHN_FIFO_PENDING = 31;
export const EVTCHN_FIFO_MASKED = 30;
export const EVTCHN_FIFO_LINKED = 29;
export const EVTCHN_FIFO_BUSY = 28;
export const EVTCHN_FIFO_LINK_BITS = 17;
export const EVTCHN_FIFO_LINK_MASK = (1 << EVTCHN_FIFO_LINK_BITS) - 1;
export const EVTCHN_FIFO_NR_CHANNELS = 1 << EVTCHN_FIFO_LINK_BITS;

/** Per-vCPU FIFO control block: a ready bit per queue and each queue's head port. */
export const evtchn_fifo_control_block = struct('evtchn_fifo_control_block', {
  ready: u32,
  _rsvd: u32,
  head: array(u32, EVTCHN_FIFO_MAX_QUEUES),
});
