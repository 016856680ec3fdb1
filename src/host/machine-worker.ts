/**
 * The hypervisor's thread: it owns the Hypervisor and runs guests in chunks; between chunks
 * it answers Dom0's hypercalls. When nothing is runnable it sleeps until the next timer or
 * until the main thread rings the doorbell.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { createControlDomain, hypercallArgs } from '../xen/external.js';
import { Hypervisor } from '../xen/hypervisor.js';
import {
  type FromMachine,
  type MachineOptions,
  STAT_INSTRUCTIONS,
  STATS_OFFSET,
  type ToMachine,
} from './machine-protocol.js';

const DEFAULT_CHUNK = 200_000;
/**
 * While Dom0 is busy (its hypercalls and events in flight), guests run in short chunks so its
 * hypercalls are answered within a few milliseconds: a backend's I/O waits on each one.
 */
const BUSY_CHUNK = 10_000;
const BUSY_MS = 20;
/** Longest idle sleep: the loop looks at its messages at least this often anyway. */
const MAX_IDLE_MS = 1000;

interface WorkerData {
  options: MachineOptions;
  doorbell: SharedArrayBuffer;
}

const port = parentPort;
if (port === null) throw new Error('machine-worker runs as a worker thread');
const { options, doorbell } = workerData as WorkerData;
const bell = new Int32Array(doorbell, 0, 1);
const stats = new Float64Array(doorbell, STATS_OFFSET, 1);
const post = (message: FromMachine): void => port.postMessage(message);

const hv = new Hypervisor({
  memoryBytes: options.memoryBytes,
  commandLine: options.commandLine,
  consoleEcho: (text) => post({ kind: 'console', text }),
});
const dom0 = createControlDomain(hv, { ramFrames: options.dom0Frames });
let upcall = false;
hv.onExternalUpcall = (vcpu) => {
  if (vcpu.domain !== dom0) return;
  upcall = true;
  hv.yieldToHost();
};
/** Until when Dom0 counts as busy (performance.now()). */
let busyUntil = 0;
post({
  kind: 'ready',
  machine: hv.memory.buffer as SharedArrayBuffer,
  p2m: dom0.p2m.buffer as SharedArrayBuffer,
});

/** Handles what the main thread sent; false once it asked to stop. */
function drain(): boolean {
  Atomics.store(bell, 0, 0);
  for (;;) {
    const received = receiveMessageOnPort(port!);
    if (received === undefined) return true;
    busyUntil = performance.now() + BUSY_MS;
    const message = received.message as ToMachine;
    if (message.kind === 'stop') return false;
    const result = hv.externalHypercall(dom0, message.op, hypercallArgs(message.args));
    post({ kind: 'result', id: message.id, result });
  }
}

function flushUpcall(): void {
  if (!upcall) return;
  upcall = false;
  busyUntil = performance.now() + BUSY_MS;
  post({ kind: 'upcall' });
}

const chunk = options.chunk ?? DEFAULT_CHUNK;
try {
  for (;;) {
    if (!drain()) break;
    flushUpcall();
    const ran = hv.run(performance.now() < busyUntil ? Math.min(chunk, BUSY_CHUNK) : chunk);
    stats[STAT_INSTRUCTIONS]! += ran;
    flushUpcall();
    if (ran > 0) continue;
    // Idle: sleep until the next guest timer, or until Dom0 rings.
    const next = hv.nextDeadline();
    const ms = next === undefined ? MAX_IDLE_MS : (next - hv.time.now()) / 1e6;
    if (ms > 0) Atomics.wait(bell, 0, 0, Math.min(ms, MAX_IDLE_MS));
  }
  post({ kind: 'stopped' });
} catch (error) {
  post({
    kind: 'failed',
    message: error instanceof Error ? (error.stack ?? error.message) : String(error),
  });
}
