/**
 * Grant tables: how a domain grants others access to its frames (map, copy), with Xen's
 * GNTTABOP_* semantics. The one public entry of src/xen/grant/.
 */

export { GrantTable } from './table.js';
export type {
  CacheFlushOp,
  CopyOp,
  CopyPtr,
  DestroyResult,
  FramesResult,
  GrantDomain,
  GrantLimits,
  GrantMachine,
  MapOp,
  MappingInfo,
  MapResult,
  QuerySizeResult,
  TransferOp,
  UnmapOp,
  UnmapResult,
  VersionResult,
} from './types.js';
export { GrantTableError } from './types.js';
