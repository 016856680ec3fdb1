/**
 * xenstored's access to guests (its DomainAccess) through Dom0's libraries: the store ring
 * mapped as foreign memory, the event channel bound interdomain, the domain's state from
 * XEN_DOMCTL_getdomaininfo.
 */
import { XEN_DOMINF_dying, XEN_DOMINF_shutdown } from '../../abi/domctl.js';
import type { DomainAccess, DomainState } from '../xenstored/index.js';
import type { XenCtrl } from './ctrl.js';
import type { EventChannelDevice } from './evtchn.js';
import { type ForeignMapping, mapForeign } from './foreign.js';

export interface StoreAccess extends DomainAccess {
  /** Where events on bound ports go (xenstored's eventFired), set once xenstored exists. */
  onEvent: (localPort: number) => void;
}

export function storeAccess(ctrl: XenCtrl, events: EventChannelDevice): StoreAccess {
  const mappings = new Map<Uint8Array, ForeignMapping>();
  const access: StoreAccess = {
    onEvent: () => {},
    async mapRing(domid, gfn) {
      const mapping = await mapForeign(ctrl.kernel, domid, [gfn]);
      const page = mapping.page(0);
      mappings.set(page, mapping);
      return page;
    },
    async unmapRing(_domid, page) {
      const mapping = mappings.get(page);
      mappings.delete(page);
      await mapping?.unmap();
    },
    bindInterdomain(domid, remotePort) {
      return events.bindInterdomain(domid, remotePort, (port) => access.onEvent(port));
    },
    unbind(localPort) {
      return events.close(localPort);
    },
    notify(localPort) {
      void events.notify(localPort).catch(() => {});
    },
    async domainState(domid): Promise<DomainState | undefined> {
      const info = await ctrl.domainInfo(domid);
      if (info === undefined) return undefined;
      return {
        shutdown: (info.flags & XEN_DOMINF_shutdown) !== 0,
        dying: (info.flags & XEN_DOMINF_dying) !== 0,
      };
    },
  };
  return access;
}
