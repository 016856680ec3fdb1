/**
 * One virtual block device's backend, as xen-blkback's xenbus side: it opens the image named
 * by the toolstack's `params`, advertises its features and waits (InitWait); when the
 * frontend has set up its rings (Initialised) it maps them, binds their event channels and
 * says Connected with the disk's size; it closes when the frontend or the toolstack does.
 * A frontend that breaks the protocol loses this device, nothing else.
 */
import { VDISK_CDROM, VDISK_READONLY } from '../../../abi/io/blkif.js';
import type { EventChannelDevice } from '../../libs/evtchn.js';
import { type GrantMapping, mapGrants } from '../../libs/gnttab.js';
import type { Dom0Kernel } from '../../libs/kernel.js';
import type { LocalClient } from '../../xenstored/index.js';
import { readNumber, XenbusDevice } from '../device.js';
import { type BlockImage, openImage } from './image/index.js';
import { BlkQueue, type VbdCounters } from './queue.js';
import { SECTOR_SIZE } from './request.js';
import { BlkifBackRing } from './ring.js';

/** What this backend offers (xen-blkback's defaults where it has them). */
export const MAX_RING_PAGE_ORDER = 4;
export const MAX_QUEUES = 4;
export const MAX_INDIRECT_SEGMENTS = 256;

export interface VbdDeps {
  kernel: Dom0Kernel;
  events: EventChannelDevice;
  store: LocalClient;
  log(line: string): void;
}

interface Ring {
  mapping: GrantMapping;
  port: number;
  queue: BlkQueue;
}

export class Vbd extends XenbusDevice {
  private image: BlockImage | undefined;
  private rings: Ring[] = [];
  readonly counters: VbdCounters = { oo_reqs: 0, rd_reqs: 0, wr_reqs: 0, rd_sects: 0, wr_sects: 0 };

  constructor(
    private readonly deps: VbdDeps,
    path: string,
    domid: number,
    devid: number,
  ) {
    super(deps, path, domid, devid);
  }

  protected get label(): string {
    return `blkback: d${this.domid} device ${this.devid}`;
  }

  protected get connected(): boolean {
    return this.rings.length > 0;
  }

  /** Opens the image and waits for the frontend (InitWait). */
  async start(): Promise<void> {
    const { store } = this.deps;
    const params = await store.read(`${this.path}/params`);
    const mode = (await store.tryRead(`${this.path}/mode`)) ?? 'w';
    const { format, target } = splitParams(params);
    try {
      this.image = await openImage(target, {
        ...(format === undefined ? {} : { format }),
        readOnly: mode !== 'w',
      });
    } catch (error) {
      await this.fatal(`opening ${target}: ${String(error)}`);
      return;
    }
    await this.waitForFrontend({
      'feature-flush-cache': '1',
      'feature-barrier': '1',
      'feature-discard': this.image.readOnly ? '0' : '1',
      'discard-granularity': String(SECTOR_SIZE),
      'discard-alignment': '0',
      'discard-secure': '0',
      'feature-persistent': '1',
      'feature-max-indirect-segments': String(MAX_INDIRECT_SEGMENTS),
      'max-ring-page-order': String(MAX_RING_PAGE_ORDER),
      'multi-queue-max-queues': String(MAX_QUEUES),
    });
  }

  override async destroy(): Promise<void> {
    await super.destroy();
    await this.image?.close().catch(() => {});
    this.image = undefined;
  }

  protected async connect(): Promise<void> {
    const { store, kernel, events } = this.deps;
    const image = this.image!;
    const fe = this.frontendPath;
    const protocol = (await store.tryRead(`${fe}/protocol`)) ?? 'x86_64-abi';
    if (protocol !== 'x86_64-abi') throw new Error(`unsupported protocol ${protocol}`);
    const queues = Number((await store.tryRead(`${fe}/multi-queue-num-queues`)) ?? 1);
    if (!Number.isInteger(queues) || queues < 1 || queues > MAX_QUEUES) {
      throw new Error(`${queues} queues asked, at most ${MAX_QUEUES}`);
    }
    const persistent = (await store.tryRead(`${fe}/feature-persistent`)) === '1';
    // One page order for every queue's ring.
    const order = Number((await store.tryRead(`${fe}/ring-page-order`)) ?? 0);
    if (!Number.isInteger(order) || order < 0 || order > MAX_RING_PAGE_ORDER) {
      throw new Error(`ring-page-order ${order}`);
    }
    for (let q = 0; q < queues; q++) {
      const dir = queues === 1 ? fe : `${fe}/queue-${q}`;
      const refs: number[] = [];
      if (order === 0 && (await store.tryRead(`${dir}/ring-ref`)) !== undefined) {
        refs.push(readNumber(await store.read(`${dir}/ring-ref`)));
      } else {
        for (let i = 0; i < 2 ** order; i++) {
          refs.push(readNumber(await store.read(`${dir}/ring-ref${i}`)));
        }
      }
      const remotePort = readNumber(await store.read(`${dir}/event-channel`));
      const mapping = await mapGrants(kernel, this.domid, refs);
      let port = -1;
      const queue = new BlkQueue({
        kernel,
        domid: this.domid,
        image,
        ring: new BlkifBackRing(refs.map((_, i) => mapping.page(i))),
        persistent,
        maxIndirectSegments: MAX_INDIRECT_SEGMENTS,
        counters: this.counters,
        notify: () => void events.notify(port).catch(() => {}),
        fail: (why) => void this.fatal(`queue ${q}: ${why}`),
        log: this.deps.log,
      });
      // Listed before the bind, so a bind that fails still lets go of the mapping.
      const ring: Ring = { mapping, port: -1, queue };
      this.rings.push(ring);
      port = await events.bindInterdomain(this.domid, remotePort, () => queue.kick());
      ring.port = port;
    }
    let info = 0;
    if (image.readOnly) info |= VDISK_READONLY;
    if ((await store.tryRead(`${this.path}/device-type`)) === 'cdrom') info |= VDISK_CDROM;
    await store.write(`${this.path}/sectors`, String(image.size / SECTOR_SIZE));
    await store.write(`${this.path}/info`, String(info));
    await store.write(`${this.path}/sector-size`, String(SECTOR_SIZE));
    await store.write(`${this.path}/physical-sector-size`, String(SECTOR_SIZE));
    for (const ring of this.rings) ring.queue.kick(); // requests made before we bound
    this.deps.log(
      `blkback: d${this.domid} device ${this.devid} connected: ${queues} queue(s), ` +
        `${persistent ? 'persistent grants' : 'grants mapped per request'}`,
    );
  }

  protected async disconnect(): Promise<void> {
    const rings = this.rings;
    this.rings = [];
    for (const ring of rings) {
      await ring.queue.stop();
      if (ring.port >= 0) await this.deps.events.close(ring.port).catch(() => {});
      await ring.mapping.unmap().catch(() => {});
    }
  }
}

/** A qdisk-style `params` ("qcow2:/path", "aio:/path") or a plain path. */
export function splitParams(params: string): { format?: 'raw' | 'qcow2'; target: string } {
  const colon = params.indexOf(':');
  if (colon > 0 && !params.startsWith('/')) {
    const kind = params.slice(0, colon);
    const target = params.slice(colon + 1);
    if (kind === 'qcow2') return { format: 'qcow2', target };
    if (kind === 'aio' || kind === 'raw' || kind === 'file' || kind === 'phy') {
      return { format: 'raw', target };
    }
  }
  return { target: params };
}
