/**
 * Event channels: the 2-level and FIFO ABIs behind one per-domain object. The hypervisor
 * core creates one EventChannels per domain (sharing one GlobalVirqHandlers), routes
 * HYPERVISOR_event_channel_op's decoded arguments to it, and raises VIRQs through it.
 */

export {
  type ChannelInfo,
  EventChannels,
  type EventChannelsOptions,
  EvtchnInvariantError,
} from './channels.js';
export type {
  AllocUnboundArg,
  BindInterdomainArg,
  BindIpiArg,
  BindPirqArg,
  BindVcpuArg,
  BindVirqArg,
  EvtchnDomain,
  ExpandArrayArg,
  InitControlArg,
  PortArg,
  ResetArg,
  SetPriorityArg,
  StatusArg,
  StatusUnion,
  XenConsumer,
} from './types.js';
export { GlobalVirqHandlers, VirqType, virqType } from './virq.js';
