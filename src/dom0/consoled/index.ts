/**
 * The console daemon (xenconsoled): for each guest it maps the console page, binds its event
 * channel, drains what the guest writes (to the per-domain log and to every attached `xl
 * console`), and feeds typed input into the guest's ring. A guest that corrupts its ring
 * indices loses its console, nothing else.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { xencons_interface } from '../../abi/io/console.js';
import type { EventChannelDevice } from '../libs/evtchn.js';
import { type ForeignMapping, mapForeign } from '../libs/foreign.js';
import type { Dom0Kernel } from '../libs/kernel.js';

const O = xencons_interface.offsets;
const IN_SIZE = 1024;
const OUT_SIZE = 2048;

/** Someone attached to a console (`xl console`). */
export interface ConsoleClient {
  output(bytes: Uint8Array): void;
  /** The console is gone (the domain died). */
  ended(): void;
}

export interface ConsoleAttachment {
  /** Typed input, queued for the guest. */
  input(bytes: Uint8Array): void;
  detach(): void;
}

export interface ConsoleDaemonOptions {
  /** Where guest-NAME.log files go (xenconsoled --log=guest); none when undefined. */
  logDir?: string;
  log(line: string): void;
}

export class ConsoleDaemon {
  private readonly consoles = new Map<number, GuestConsole>();

  constructor(
    private readonly kernel: Dom0Kernel,
    private readonly events: EventChannelDevice,
    private readonly options: ConsoleDaemonOptions,
  ) {}

  /** Starts serving domain `domid`'s console (page `gfn`, the guest's unbound `remotePort`). */
  async add(domid: number, name: string, gfn: number, remotePort: number): Promise<void> {
    const mapping = await mapForeign(this.kernel, domid, [gfn]);
    let log: WriteStream | undefined;
    if (this.options.logDir !== undefined) {
      mkdirSync(this.options.logDir, { recursive: true });
      log = createWriteStream(join(this.options.logDir, `guest-${name}.log`), { flags: 'a' });
    }
    const guest = new GuestConsole(domid, mapping, log, this.options.log);
    this.consoles.set(domid, guest);
    guest.port = await this.events.bindInterdomain(domid, remotePort, () => this.service(guest));
    this.service(guest); // whatever the guest wrote before we bound
  }

  /** Stops serving it (the domain is gone): attached clients are told. */
  async remove(domid: number): Promise<void> {
    const console = this.consoles.get(domid);
    if (console === undefined) return;
    this.consoles.delete(domid);
    this.service(console);
    console.close();
    if (console.port >= 0) await this.events.close(console.port).catch(() => {});
    await console.mapping.unmap().catch(() => {});
  }

  has(domid: number): boolean {
    return this.consoles.has(domid);
  }

  attach(domid: number, client: ConsoleClient): ConsoleAttachment | undefined {
    const console = this.consoles.get(domid);
    if (console === undefined) return undefined;
    console.clients.add(client);
    return {
      input: (bytes) => {
        console.queueInput(bytes);
        this.service(console);
      },
      detach: () => console.clients.delete(client),
    };
  }

  async close(): Promise<void> {
    for (const domid of [...this.consoles.keys()]) await this.remove(domid);
  }

  private service(console: GuestConsole): void {
    if (console.broken) return;
    if (console.drain() || console.feed()) {
      if (console.port >= 0) void this.events.notify(console.port).catch(() => {});
    }
  }
}

class GuestConsole {
  port = -1;
  broken = false;
  readonly clients = new Set<ConsoleClient>();
  private readonly page: Uint8Array;
  private readonly index: Int32Array;
  private pendingInput: number[] = [];

  constructor(
    readonly domid: number,
    readonly mapping: ForeignMapping,
    private readonly log: WriteStream | undefined,
    private readonly say: (line: string) => void,
  ) {
    this.page = mapping.page(0);
    // in_cons, in_prod, out_cons, out_prod: four aligned u32s, shared with the guest.
    this.index = new Int32Array(this.page.buffer, this.page.byteOffset + O.in_cons, 4);
  }

  /** Takes what the guest wrote; true if it did (the guest may wait for room). */
  drain(): boolean {
    const cons = Atomics.load(this.index, 2) >>> 0;
    const prod = Atomics.load(this.index, 3) >>> 0;
    const size = (prod - cons) >>> 0;
    if (size === 0) return false;
    if (size > OUT_SIZE) return this.fail(`out ring indices ${cons}..${prod}`);
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = this.page[O.out + ((cons + i) % OUT_SIZE)]!;
    Atomics.store(this.index, 2, prod | 0);
    this.log?.write(bytes);
    for (const client of this.clients) client.output(bytes);
    return true;
  }

  queueInput(bytes: Uint8Array): void {
    this.pendingInput.push(...bytes);
  }

  /** Moves queued input into the guest's ring; true if any went in. */
  feed(): boolean {
    if (this.pendingInput.length === 0) return false;
    const cons = Atomics.load(this.index, 0) >>> 0;
    const prod = Atomics.load(this.index, 1) >>> 0;
    const used = (prod - cons) >>> 0;
    if (used > IN_SIZE) return this.fail(`in ring indices ${cons}..${prod}`);
    const room = Math.min(IN_SIZE - used, this.pendingInput.length);
    if (room === 0) return false;
    const bytes = this.pendingInput.splice(0, room);
    bytes.forEach((byte, i) => {
      this.page[O.in + ((prod + i) % IN_SIZE)] = byte;
    });
    Atomics.store(this.index, 1, (prod + room) | 0);
    return true;
  }

  close(): void {
    for (const client of this.clients) client.ended();
    this.clients.clear();
    this.log?.end();
  }

  private fail(why: string): false {
    this.broken = true;
    this.say(`consoled: domain ${this.domid} broke its console ring (${why}); console closed`);
    return false;
  }
}
