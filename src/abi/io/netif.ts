/**
 * The network device protocol (xen/include/public/io/netif.h): the transmit and receive
 * rings between xen-netfront and a network backend, and the optional control ring.
 */

import {
  anonStruct,
  anonUnion,
  array,
  bytes,
  i16,
  struct,
  u8,
  u16,
  u32,
  union,
} from '../layout.js';
import { sring } from './ring.js';

/** Slots a backend must accept for one packet (a frontend may use up to this many). */
export const XEN_NETIF_NR_SLOTS_MIN = 18;

// ---------------------------------------------------------------------------------------
// Transmit (frontend → backend)

/** Checksum is blank in the packet (to be filled by offload). */
export const _NETTXF_csum_blank = 0;
export const NETTXF_csum_blank = 1 << _NETTXF_csum_blank;
/** Packet data has been validated against its checksum. */
export const _NETTXF_data_validated = 1;
export const NETTXF_data_validated = 1 << _NETTXF_data_validated;
/** The packet continues in the next request. */
export const _NETTXF_more_data = 2;
export const NETTXF_more_data = 1 << _NETTXF_more_data;
/** The request is followed by netif_extra_info slots. */
export const _NETTXF_extra_info = 3;
export const NETTXF_extra_info = 1 << _NETTXF_extra_info;

export const XEN_NETIF_MAX_TX_SIZE = 0xffff;

export const netif_tx_request = struct('netif_tx_request', {
  gref: u32,
  offset: u16,
  /** NETTXF_* */
  flags: u16,
  id: u16,
  /** First request of a packet: the whole packet's size; later ones: this fragment's. */
  size: u16,
});

export const XEN_NETIF_EXTRA_TYPE_NONE = 0;
export const XEN_NETIF_EXTRA_TYPE_GSO = 1;
export const XEN_NETIF_EXTRA_TYPE_MCAST_ADD = 2;
export const XEN_NETIF_EXTRA_TYPE_MCAST_DEL = 3;
export const XEN_NETIF_EXTRA_TYPE_HASH = 4;
export const XEN_NETIF_EXTRA_TYPE_MAX = 5;

export const _XEN_NETIF_EXTRA_FLAG_MORE = 0;
export const XEN_NETIF_EXTRA_FLAG_MORE = 1 << _XEN_NETIF_EXTRA_FLAG_MORE;

export const XEN_NETIF_GSO_TYPE_NONE = 0;
export const XEN_NETIF_GSO_TYPE_TCPV4 = 1;
export const XEN_NETIF_GSO_TYPE_TCPV6 = 2;

/** An extra-info slot, in either ring, after a request/response flagged extra_info. */
export const netif_extra_info = struct('netif_extra_info', {
  /** XEN_NETIF_EXTRA_TYPE_* */
  type: u8,
  /** XEN_NETIF_EXTRA_FLAG_* */
  flags: u8,
  u: anonUnion({
    gso: anonStruct({ size: u16, type: u8, pad: u8, features: u16 }),
    mcast: anonStruct({ addr: bytes(6) }),
    hash: anonStruct({ type: u8, algorithm: u8, value: bytes(4) }),
    pad: array(u16, 3),
  }),
});

export const netif_tx_response = struct('netif_tx_response', {
  id: u16,
  /** NETIF_RSP_* */
  status: i16,
});

// ---------------------------------------------------------------------------------------
// Receive (backend → frontend)

export const netif_rx_request = struct('netif_rx_request', {
  /** Echoed in the response. */
  id: u16,
  pad: u16,
  gref: u32,
});

export const _NETRXF_data_validated = 0;
export const NETRXF_data_validated = 1 << _NETRXF_data_validated;
export const _NETRXF_csum_blank = 1;
export const NETRXF_csum_blank = 1 << _NETRXF_csum_blank;
export const _NETRXF_more_data = 2;
export const NETRXF_more_data = 1 << _NETRXF_more_data;
export const _NETRXF_extra_info = 3;
export const NETRXF_extra_info = 1 << _NETRXF_extra_info;
/** Deprecated. */
export const _NETRXF_gso_prefix = 4;
export const NETRXF_gso_prefix = 1 << _NETRXF_gso_prefix;

export const netif_rx_response = struct('netif_rx_response', {
  id: u16,
  offset: u16,
  /** NETRXF_* */
  flags: u16,
  /** Negative: NETIF_RSP_*; otherwise the bytes received. */
  status: i16,
});

export const NETIF_RSP_DROPPED = -2;
export const NETIF_RSP_ERROR = -1;
export const NETIF_RSP_OKAY = 0;
/** No response: the slot carried a netif_extra_info. */
export const NETIF_RSP_NULL = 1;

export const netif_tx_sring_entry = union('netif_tx_sring_entry', {
  req: netif_tx_request,
  rsp: netif_tx_response,
});
export const netif_tx_sring = sring('netif_tx_sring', netif_tx_sring_entry);

export const netif_rx_sring_entry = union('netif_rx_sring_entry', {
  req: netif_rx_request,
  rsp: netif_rx_response,
});
export const netif_rx_sring = sring('netif_rx_sring', netif_rx_sring_entry);

// ---------------------------------------------------------------------------------------
// Control ring (feature-ctrl-ring): hashing and grant-mapping configuration

export const _XEN_NETIF_CTRL_HASH_TYPE_IPV4 = 0;
export const XEN_NETIF_CTRL_HASH_TYPE_IPV4 = 1 << _XEN_NETIF_CTRL_HASH_TYPE_IPV4;
export const _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP = 1;
export const XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP = 1 << _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP;
export const _XEN_NETIF_CTRL_HASH_TYPE_IPV6 = 2;
export const XEN_NETIF_CTRL_HASH_TYPE_IPV6 = 1 << _XEN_NETIF_CTRL_HASH_TYPE_IPV6;
export const _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP = 3;
export const XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP = 1 << _XEN_NETIF_CTRL_HASH_TYPE_IPV6_TCP;

export const XEN_NETIF_CTRL_HASH_ALGORITHM_NONE = 0;
export const XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ = 1;

export const XEN_NETIF_CTRL_TYPE_INVALID = 0;
export const XEN_NETIF_CTRL_TYPE_GET_HASH_FLAGS = 1;
export const XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS = 2;
export const XEN_NETIF_CTRL_TYPE_SET_HASH_KEY = 3;
export const XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE = 4;
export const XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE = 5;
export const XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING = 6;
export const XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM = 7;
export const XEN_NETIF_CTRL_TYPE_GET_GREF_MAPPING_SIZE = 8;
export const XEN_NETIF_CTRL_TYPE_ADD_GREF_MAPPING = 9;
export const XEN_NETIF_CTRL_TYPE_DEL_GREF_MAPPING = 10;

export const XEN_NETIF_CTRL_STATUS_SUCCESS = 0;
export const XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED = 1;
export const XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER = 2;
export const XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW = 3;

export const xen_netif_ctrl_request = struct('xen_netif_ctrl_request', {
  id: u16,
  /** XEN_NETIF_CTRL_TYPE_* */
  type: u16,
  data: array(u32, 3),
});

export const xen_netif_ctrl_response = struct('xen_netif_ctrl_response', {
  id: u16,
  type: u16,
  /** XEN_NETIF_CTRL_STATUS_* */
  status: u32,
  data: u32,
});

export const _XEN_NETIF_CTRLF_GREF_readonly = 0;
export const XEN_NETIF_CTRLF_GREF_readonly = 1 << _XEN_NETIF_CTRLF_GREF_readonly;

export const xen_netif_gref = struct('xen_netif_gref', {
  ref: u32,
  /** XEN_NETIF_CTRLF_GREF_* */
  flags: u16,
  status: u16,
});

export const xen_netif_ctrl_sring_entry = union('xen_netif_ctrl_sring_entry', {
  req: xen_netif_ctrl_request,
  rsp: xen_netif_ctrl_response,
});
export const xen_netif_ctrl_sring = sring('xen_netif_ctrl_sring', xen_netif_ctrl_sring_entry);
