/**
 * A domain's side of its grant table (the GrantDomain interface) for an HVM/PVH domain:
 * Xen-owned frames for the table, references on the domain's RAM, and granted frames
 * inserted into and removed from the P2M (Xen's create/replace_grant_p2m_mapping).
 */
import {
  GNTMAP_contains_pte,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST_general_error,
  GNTST_okay,
} from '../../../../abi/grant_table.js';
import { P2m } from '../../../../x86/memory.js';
import type { Domain } from '../../../common/domain.js';
import { FRAME_XEN, type FrameTable } from '../../../common/frame-table.js';
import type { GrantDomain } from '../../../grant/index.js';

export interface GrantHost {
  readonly frames: FrameTable;
  /** The destroyed domain's grants are no longer used by anyone. */
  grantsReleased(domain: Domain): void;
}

export function grantDomain(host: GrantHost, domain: Domain): GrantDomain {
  const frames = host.frames;
  return {
    domid: domain.id,
    external: true,
    allocXenFrame() {
      const mfn = frames.alloc(FRAME_XEN);
      return mfn < 0 ? undefined : mfn;
    },
    freeXenFrame(mfn) {
      const gfn = frames.m2p[mfn]!;
      if (gfn >= 0 && domain.mfnOf(gfn) === mfn) domain.setP2m(gfn, P2m.None);
      frames.m2p[mfn] = -1;
      frames.put(mfn);
    },
    gfnToMfn(gfn) {
      const mfn = domain.mfnOf(gfn);
      return mfn >= 0 && frames.owner[mfn] === domain.id ? mfn : undefined;
    },
    getFrame: (mfn, _writable) => frames.get(mfn, domain.id),
    putFrame: (mfn, _writable) => frames.put(mfn),
    controls: (domid) => domain.privileged || domid === domain.id,
    createHostMapping(hostAddr, mfn, flags) {
      if ((flags & ~GNTMAP_readonly) !== GNTMAP_host_map) return GNTST_general_error;
      const gfn = Math.floor(hostAddr / 4096);
      if (gfn >= domain.p2m.length) return GNTST_general_error;
      const old = domain.mfnOf(gfn);
      if (old >= 0) {
        // Only RAM can be replaced; the page stays the domain's until it is destroyed.
        if (frames.owner[old] !== domain.id || domain.grantMapped.has(gfn)) {
          return GNTST_general_error;
        }
        domain.displaceRam(gfn);
      }
      domain.setP2m(gfn, mfn | P2m.NoExecute | (flags & GNTMAP_readonly ? P2m.ReadOnly : 0));
      domain.grantMapped.add(gfn);
      return GNTST_okay;
    },
    destroyHostMapping(hostAddr, mfn, flags, newAddr) {
      if (newAddr !== 0 || flags & GNTMAP_contains_pte) return GNTST_general_error;
      const gfn = Math.floor(hostAddr / 4096);
      if (!domain.grantMapped.has(gfn) || domain.mfnOf(gfn) !== mfn) return GNTST_general_error;
      domain.grantMapped.delete(gfn);
      domain.setP2m(gfn, P2m.None);
      return GNTST_okay;
    },
    released: () => host.grantsReleased(domain),
  };
}
