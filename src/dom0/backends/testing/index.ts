/**
 * A test frontend kit for Dom0's split-driver backends. `BackendRig` is an in-process
 * hypervisor (virtual clock) with Dom0's kernel, xenstored, blkback and netback on top;
 * `FakeGuest` is a domain that runs no code but grants pages and allocates event channels as
 * a guest kernel does for its frontends. `BlkFront` and `NetFront` write the frontend keys as
 * xen-blkfront and xen-netfront write them and speak the blkif and netif rings, and give raw
 * access to rings, grants and keys so that a test can also play a frontend that breaks every
 * rule.
 */
export { prng } from '../../../xen/grant/testing.js';
export * from './blkfront.js';
export * from './frames.js';
export * from './front-ring.js';
export * from './guest.js';
export * from './netfront.js';
export * from './rig.js';
export * from './wait.js';
export * from './xenbus-front.js';
