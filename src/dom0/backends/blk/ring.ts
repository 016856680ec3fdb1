/**
 * The backend's end of one blkif shared ring (1 to 2^max-ring-page-order granted pages): the
 * generic back ring with blkif's slot size and response layout.
 */
import { blkif_request, blkif_response } from '../../../abi/io/blkif.js';
import { ringEntrySize } from '../../../abi/io/ring.js';
import { BackRing } from '../ring.js';

export { RingError } from '../ring.js';

export const BLKIF_ENTRY_SIZE = ringEntrySize(blkif_request, blkif_response);

export class BlkifBackRing extends BackRing {
  private readonly response = new Uint8Array(blkif_response.size);
  private readonly responseView = new DataView(this.response.buffer);

  constructor(pages: readonly Uint8Array[]) {
    super(pages, BLKIF_ENTRY_SIZE);
  }

  /** Writes a blkif response into the next slot; it is published by `push`. */
  respondTo(idLo: number, idHi: number, operation: number, status: number): void {
    const view = this.responseView;
    view.setUint32(0, idLo, true);
    view.setUint32(4, idHi, true);
    view.setUint8(blkif_response.offsets.operation, operation);
    view.setInt16(blkif_response.offsets.status, status, true);
    this.respond(this.response);
  }
}
