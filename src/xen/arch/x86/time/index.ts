/**
 * Time for guests: the machine clock (system time, TSC, wallclock), Xen's TSC scaling, the
 * pvclock and wallclock records, and the per-vCPU timers.
 */

export {
  type PvclockRecord,
  pvclockRecord,
  setU64,
  sharedInfoTimeOffset,
  writeVcpuTimeInfo,
  writeWallclock,
} from './pvclock.js';
export {
  divFrac,
  scaleDelta,
  stampAlignment,
  type TimeScale,
  TimeScaleError,
  ticksCoveringNs,
  ticksForNs,
  timeScale,
} from './scale.js';
export {
  DEFAULT_TSC_HZ,
  TimeSource,
  type TimeSourceOptions,
  type TimeStamp,
  type Timespec,
} from './source.js';
export {
  type ExpiredTimer,
  MIN_PERIOD_NS,
  STIME_DELTA_MAX,
  s64,
  type TimerKind,
  TimerQueue,
  u64,
  VcpuTimers,
} from './timers.js';
