/**
 * The machine as the main thread sees it: the hypervisor running in its worker thread, and
 * Dom0's privcmd across to it (hypercalls as messages, memory shared).
 */
import { Worker } from 'node:worker_threads';
import type { Privcmd } from '../dom0/libs/privcmd.js';
import {
  DOORBELL_BYTES,
  type FromMachine,
  type MachineOptions,
  STAT_INSTRUCTIONS,
  STATS_OFFSET,
  type ToMachine,
} from './machine-protocol.js';

export class MachineError extends Error {
  override name = 'MachineError';
}

export class Machine implements Privcmd {
  private readonly pending = new Map<number, (result: number) => void>();
  private nextId = 1;
  private upcallHandlers: (() => void)[] = [];
  private readonly bell: Int32Array;
  private readonly stats: Float64Array;
  private stopped: Promise<void> | undefined;
  readonly machine: Uint8Array;
  readonly p2m: Int32Array;
  /** Receives the hypervisor's console output. */
  onConsole: (text: string) => void = () => {};
  /** Called if the hypervisor thread fails (a hypervisor bug): the machine is gone. */
  onFailure: (message: string) => void = () => {};

  private constructor(
    private readonly worker: Worker,
    ready: Extract<FromMachine, { kind: 'ready' }>,
    doorbell: SharedArrayBuffer,
  ) {
    this.bell = new Int32Array(doorbell, 0, 1);
    this.stats = new Float64Array(doorbell, STATS_OFFSET, 1);
    this.machine = new Uint8Array(ready.machine);
    this.p2m = new Int32Array(ready.p2m);
  }

  static start(options: MachineOptions): Promise<Machine> {
    const doorbell = new SharedArrayBuffer(DOORBELL_BYTES);
    const worker = new Worker(new URL('./machine-worker.js', import.meta.url), {
      workerData: { options, doorbell },
    });
    return new Promise((resolve, reject) => {
      const early = (message: FromMachine) => {
        if (message.kind === 'failed') reject(new MachineError(message.message));
        if (message.kind !== 'ready') return;
        worker.off('message', early);
        const machine = new Machine(worker, message, doorbell);
        worker.on('message', (m: FromMachine) => machine.receive(m));
        resolve(machine);
      };
      worker.on('message', early);
      worker.once('error', reject);
    });
  }

  hypercall(op: number, args: readonly (number | bigint)[]): Promise<number> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.stopped !== undefined) {
        reject(new MachineError('the machine has stopped'));
        return;
      }
      this.pending.set(id, resolve);
      this.send({ kind: 'hypercall', id, op, args: [...args] });
    });
  }

  /** Guest instructions the hypervisor has run so far (all domains). */
  instructionsRetired(): number {
    return this.stats[STAT_INSTRUCTIONS]!;
  }

  onUpcall(handler: () => void): void {
    this.upcallHandlers.push(handler);
  }

  /** Stops the hypervisor thread (every guest with it). */
  stop(): Promise<void> {
    this.stopped ??= new Promise((resolve) => {
      this.worker.once('exit', () => resolve());
      this.send({ kind: 'stop' });
    });
    return this.stopped;
  }

  private send(message: ToMachine): void {
    this.worker.postMessage(message);
    Atomics.add(this.bell, 0, 1);
    Atomics.notify(this.bell, 0);
  }

  private receive(message: FromMachine): void {
    switch (message.kind) {
      case 'result': {
        const resolve = this.pending.get(message.id);
        this.pending.delete(message.id);
        resolve?.(message.result);
        break;
      }
      case 'upcall':
        for (const handler of this.upcallHandlers) handler();
        break;
      case 'console':
        this.onConsole(message.text);
        break;
      case 'stopped':
        void this.worker.terminate();
        break;
      case 'failed':
        this.onFailure(message.message);
        void this.worker.terminate();
        break;
      case 'ready':
        break;
    }
  }
}
