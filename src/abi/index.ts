/**
 * The Xen public interface as data. Every name is Xen's own (C's struct tags, macros and
 * enumerators live in one namespace, so they do here too).
 */

export * from './callback.js';
export * from './domctl.js';
export * from './elfnote.js';
export * from './errno.js';
export * from './event_channel.js';
export * from './grant_table.js';
export * from './hvm.js';
export * from './hvm-save.js';
export * from './hypercall.js';
export * from './io/blkif.js';
export * from './io/console.js';
export * from './io/netif.js';
export * from './io/ring.js';
export * from './io/xenbus.js';
export * from './io/xs_wire.js';
export * from './layout.js';
export * from './memory.js';
export * from './physdev.js';
export * from './sched.js';
export * from './sysctl.js';
export * from './vcpu.js';
export * from './version.js';
export * from './xen.js';
