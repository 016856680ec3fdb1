/**
 * One blkif ring's worth of work (a queue, with multi-queue): takes requests off the ring,
 * runs each against the disk image as soon as it arrives, and answers in completion order.
 * Data moves through the guest's granted pages mapped into Dom0: kept mapped while the
 * frontend negotiated persistent grants, mapped for the request otherwise.
 */
import {
  BLKIF_OP_DISCARD,
  BLKIF_OP_FLUSH_DISKCACHE,
  BLKIF_OP_READ,
  BLKIF_OP_WRITE,
  BLKIF_OP_WRITE_BARRIER,
  BLKIF_RSP_EOPNOTSUPP,
  BLKIF_RSP_ERROR,
  BLKIF_RSP_OKAY,
} from '../../../abi/io/blkif.js';
import { type GrantMapping, mapGrants } from '../../libs/gnttab.js';
import type { Dom0Kernel } from '../../libs/kernel.js';
import type { BlockImage } from './image/index.js';
import {
  BadRequest,
  type BlkRequest,
  decodeRequest,
  readIndirect,
  requestSectors,
  SECTOR_SIZE,
  UnsupportedOperation,
} from './request.js';
import { type BlkifBackRing, RingError } from './ring.js';

/** xen-blkback's limit of persistent grants kept per ring (max_pgrants). */
export const MAX_PERSISTENT_GRANTS = 1056;

/** Requests served, as xentop shows a VBD's (blkback's statistics in sysfs). */
export interface VbdCounters {
  oo_reqs: number;
  rd_reqs: number;
  wr_reqs: number;
  rd_sects: number;
  wr_sects: number;
}

export interface QueueOptions {
  kernel: Dom0Kernel;
  domid: number;
  image: BlockImage;
  ring: BlkifBackRing;
  persistent: boolean;
  maxIndirectSegments: number;
  counters: VbdCounters;
  /** Tells the frontend of new responses (its event channel). */
  notify(): void;
  /** The frontend broke the protocol: the device must disconnect. */
  fail(why: string): void;
  log(line: string): void;
}

export class BlkQueue {
  /** Requests under way, so a barrier or flush can wait for those before it. */
  private readonly inFlight = new Set<Promise<void>>();
  /** Persistent grants: gref → its page (once mapped), kept; and the mappings holding them. */
  private readonly persistent = new Map<number, Promise<Uint8Array>>();
  private readonly persistentMappings: GrantMapping[] = [];
  private pushQueued = false;
  private stopped = false;

  constructor(private readonly options: QueueOptions) {}

  /** The frontend notified us: take every request it published. */
  kick(): void {
    if (this.stopped) return;
    const { ring } = this.options;
    try {
      do {
        while (ring.nextRequest()) this.start(ring.slotView);
      } while (ring.finalCheck());
    } catch (error) {
      if (!(error instanceof RingError)) throw error;
      this.options.fail(error.message);
    }
  }

  /** Waits for requests under way, then drops the persistent mappings. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inFlight]);
    const mappings = this.persistentMappings.splice(0);
    this.persistent.clear();
    await Promise.allSettled(mappings.map((m) => m.unmap()));
  }

  private start(slot: DataView): void {
    let request: BlkRequest;
    try {
      request = decodeRequest(slot, this.options.maxIndirectSegments);
    } catch (error) {
      const op = slot.getUint8(0);
      const idLo = slot.getUint32(8, true);
      const idHi = slot.getUint32(12, true);
      const unsupported = error instanceof UnsupportedOperation;
      if (!unsupported) this.options.log(`blkback: d${this.options.domid}: ${String(error)}`);
      this.answer(idLo, idHi, op, unsupported ? BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP_ERROR);
      return;
    }
    // Barriers and flushes are ordered after everything before them.
    const before =
      request.operation === BLKIF_OP_WRITE_BARRIER || request.operation === BLKIF_OP_FLUSH_DISKCACHE
        ? Promise.allSettled([...this.inFlight])
        : undefined;
    const work = (async () => {
      await before;
      const status = await this.perform(request);
      this.answer(request.idLo, request.idHi, request.operation, status);
    })();
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  private async perform(request: BlkRequest): Promise<number> {
    const { image } = this.options;
    try {
      switch (request.operation) {
        case BLKIF_OP_READ:
        case BLKIF_OP_WRITE:
          await this.readWrite(request);
          return BLKIF_RSP_OKAY;
        case BLKIF_OP_WRITE_BARRIER:
          if (request.segments.length > 0) await this.readWrite(request);
          await image.flush();
          return BLKIF_RSP_OKAY;
        case BLKIF_OP_FLUSH_DISKCACHE:
          await image.flush();
          return BLKIF_RSP_OKAY;
        case BLKIF_OP_DISCARD:
          this.checkRange(request.sector, request.nrSectors, true);
          await image.discard(request.sector * SECTOR_SIZE, request.nrSectors * SECTOR_SIZE);
          return BLKIF_RSP_OKAY;
        default:
          return BLKIF_RSP_EOPNOTSUPP;
      }
    } catch (error) {
      this.options.log(`blkback: d${this.options.domid}: request failed: ${String(error)}`);
      return BLKIF_RSP_ERROR;
    }
  }

  private async readWrite(request: BlkRequest): Promise<void> {
    const { kernel, domid, image } = this.options;
    if (request.indirectGrefs.length > 0) {
      const pages = await mapGrants(kernel, domid, request.indirectGrefs, { readonly: true });
      try {
        readIndirect(
          request,
          request.indirectGrefs.map((_, i) => pages.page(i)),
        );
      } finally {
        await pages.unmap();
      }
    }
    const writing = request.operation !== BLKIF_OP_READ;
    const sectors = requestSectors(request);
    this.checkRange(request.sector, sectors, writing);
    const { counters } = this.options;
    if (writing) {
      counters.wr_reqs++;
      counters.wr_sects += sectors;
    } else {
      counters.rd_reqs++;
      counters.rd_sects += sectors;
    }
    const { pages, transient } = await this.pages(request, !writing);
    try {
      // The segments' sectors are consecutive on the disk: one contiguous read or write.
      const data = new Uint8Array(sectors * SECTOR_SIZE);
      if (!writing) await image.read(request.sector * SECTOR_SIZE, data);
      let at = 0;
      request.segments.forEach((s, i) => {
        const start = s.firstSect * SECTOR_SIZE;
        const length = (s.lastSect - s.firstSect + 1) * SECTOR_SIZE;
        if (writing) data.set(pages[i]!.subarray(start, start + length), at);
        else pages[i]!.set(data.subarray(at, at + length), start);
        at += length;
      });
      if (writing) await image.write(request.sector * SECTOR_SIZE, data);
    } finally {
      await transient?.unmap();
    }
  }

  private checkRange(sector: number, count: number, writing: boolean): void {
    const { image } = this.options;
    if (writing && image.readOnly) throw new BadRequest('write to a read-only device');
    if (sector + count > image.size / SECTOR_SIZE) {
      throw new BadRequest(`sectors ${sector}+${count} past the end of the device`);
    }
  }

  /**
   * The request's data pages, writable when it reads from disk into them; `transient` is the
   * mapping to drop afterwards when they are not persistent grants.
   */
  private async pages(
    request: BlkRequest,
    writable: boolean,
  ): Promise<{ pages: Uint8Array[]; transient?: GrantMapping }> {
    const { kernel, domid } = this.options;
    const grefs = request.segments.map((s) => s.gref);
    if (this.options.persistent) {
      // Persistent grants are mapped writable once and kept, up to the limit.
      const missing = [...new Set(grefs.filter((g) => !this.persistent.has(g)))];
      if (this.persistent.size + missing.length <= MAX_PERSISTENT_GRANTS) {
        if (missing.length > 0) {
          // Recorded before the map is awaited, so requests meeting the same grant share it.
          const mapped = mapGrants(kernel, domid, missing).then((mapping) => {
            this.persistentMappings.push(mapping);
            return mapping;
          });
          mapped.catch(() => {
            for (const gref of missing) this.persistent.delete(gref);
          });
          for (const [i, gref] of missing.entries()) {
            this.persistent.set(
              gref,
              mapped.then((mapping) => mapping.page(i)),
            );
          }
        }
        return { pages: await Promise.all(grefs.map((g) => this.persistent.get(g)!)) };
      }
    }
    const transient = await mapGrants(kernel, domid, grefs, { readonly: !writable });
    return { pages: grefs.map((_, i) => transient.page(i)), transient };
  }

  private answer(idLo: number, idHi: number, operation: number, status: number): void {
    this.options.ring.respondTo(idLo, idHi, operation, status);
    // Responses finishing together go out with one push and at most one notification.
    if (this.pushQueued) return;
    this.pushQueued = true;
    queueMicrotask(() => {
      this.pushQueued = false;
      if (this.options.ring.push()) this.options.notify();
    });
  }
}
