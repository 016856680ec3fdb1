/**
 * XenBus device states (xen/include/public/io/xenbus.h): the values a frontend and a
 * backend write to their `state` nodes in xenstore to walk each other through
 * connection and teardown.
 */

export const XenbusStateUnknown = 0;
export const XenbusStateInitialising = 1;
/** Early initialisation done; waiting for the peer or hotplug scripts. */
export const XenbusStateInitWait = 2;
/** Waiting for a connection from the peer. */
export const XenbusStateInitialised = 3;
export const XenbusStateConnected = 4;
/** Being closed after an error or an unplug. */
export const XenbusStateClosing = 5;
export const XenbusStateClosed = 6;
export const XenbusStateReconfiguring = 7;
export const XenbusStateReconfigured = 8;

/** State → name without the prefix ("Connected"), as xenbus drivers print it. */
export const XENBUS_STATE_NAMES: Readonly<Record<number, string>> = {
  [XenbusStateUnknown]: 'Unknown',
  [XenbusStateInitialising]: 'Initialising',
  [XenbusStateInitWait]: 'InitWait',
  [XenbusStateInitialised]: 'Initialised',
  [XenbusStateConnected]: 'Connected',
  [XenbusStateClosing]: 'Closing',
  [XenbusStateClosed]: 'Closed',
  [XenbusStateReconfiguring]: 'Reconfiguring',
  [XenbusStateReconfigured]: 'Reconfigured',
};
