// The pvclock and wallclock records as a Linux guest reads them: the readers below follow
// arch/x86/kernel/pvclock.c (pvclock_clocksource_read, pvclock_read_wallclock) line by line,
// with BigInt for the guest's u64 arithmetic.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  shared_info,
  vcpu_time_info,
  XEN_PVCLOCK_GUEST_STOPPED,
  XEN_PVCLOCK_TSC_STABLE_BIT,
} from '../../../../abi/xen.js';
import { Reg } from '../../../../x86/cpu.js';
import { ExitReason } from '../../../../x86/exit.js';
import { TestMachine } from '../../../../x86/testing/machine.js';
import {
  pvclockRecord,
  sharedInfoTimeOffset,
  writeVcpuTimeInfo,
  writeWallclock,
} from './pvclock.js';
import { TimeSource } from './source.js';

const MASK64 = (1n << 64n) - 1n;
const NSEC_PER_SEC = 1_000_000_000n;

/** A guest's view of one vcpu_time_info in memory, and the guest's last_value. */
class LinuxPvclock {
  lastValue = 0n;
  retries = 0;

  constructor(
    private readonly view: DataView,
    private readonly offset: number,
  ) {}

  private u32(field: number): number {
    return this.view.getUint32(this.offset + field, true);
  }

  private u64(field: number): bigint {
    return this.view.getBigUint64(this.offset + field, true);
  }

  /** pvclock_clocksource_read(src) with rdtsc_ordered() = rdtsc(). */
  read(rdtsc: () => bigint, validFlags = XEN_PVCLOCK_TSC_STABLE_BIT): bigint {
    const o = vcpu_time_info.offsets;
    let version: number;
    let ret: bigint;
    let flags: number;
    for (;;) {
      // pvclock_read_begin: version = src->version & ~1; smp_rmb()
      version = this.u32(o.version) & ~1;
      // __pvclock_read_cycles(src, rdtsc_ordered())
      const tsc = rdtsc();
      const delta = (tsc - this.u64(o.tsc_timestamp)) & MASK64;
      const shift = this.view.getInt8(this.offset + o.tsc_shift);
      let scaled = delta;
      if (shift < 0) scaled >>= BigInt(-shift);
      else scaled = (scaled << BigInt(shift)) & MASK64;
      const product = (scaled * BigInt(this.u32(o.tsc_to_system_mul))) >> 32n; // mul_u64_u32_shr
      ret = (this.u64(o.system_time) + (product & MASK64)) & MASK64;
      flags = this.view.getUint8(this.offset + o.flags);
      // pvclock_read_retry: smp_rmb(); return version != src->version
      if (version >>> 0 === this.u32(o.version)) break;
      this.retries++;
    }
    if (flags & XEN_PVCLOCK_GUEST_STOPPED) {
      this.view.setUint8(this.offset + o.flags, flags & ~XEN_PVCLOCK_GUEST_STOPPED);
    }
    if (validFlags & XEN_PVCLOCK_TSC_STABLE_BIT && flags & XEN_PVCLOCK_TSC_STABLE_BIT) return ret;
    // The monotonic fallback across vCPUs.
    if (ret <= this.lastValue) return this.lastValue;
    this.lastValue = ret;
    return ret;
  }
}

/** pvclock_read_wallclock(wall_clock, vcpu_time, ts), returning nanoseconds since the epoch. */
function linuxReadWallclock(
  view: DataView,
  sharedInfo: number,
  pvclock: LinuxPvclock,
  rdtsc: () => bigint,
): bigint {
  const o = shared_info.offsets;
  let sec: bigint;
  let nsec: bigint;
  let version: number;
  do {
    version = view.getUint32(sharedInfo + o.wc_version, true);
    sec = BigInt(view.getUint32(sharedInfo + o.wc_sec, true));
    nsec = BigInt(view.getUint32(sharedInfo + o.wc_nsec, true));
  } while (
    view.getUint32(sharedInfo + o.wc_version, true) & 1 ||
    version !== view.getUint32(sharedInfo + o.wc_version, true)
  );
  const delta = pvclock.read(rdtsc); // time since system boot
  return delta + sec * NSEC_PER_SEC + nsec;
}

function random(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const FREQUENCIES = [
  2_000_000_000, 2_400_000_000, 3_000_000_000, 1_000_000_000, 1_500_000_000, 3_700_000_000,
  2_893_412_107, 4_200_000_000,
];

describe('pvclock', () => {
  test('a Linux reader gets the host time within 1 ns, and exactly NOW(), over 6 hours', () => {
    for (const hz of FREQUENCIES) {
      const next = random(hz % 1_000_003);
      let host = 5_000_000_000_123; // the host clock's own origin is arbitrary
      const source = new TimeSource({ hostNs: () => host, tscHz: hz });
      const boot = host;
      const view = new DataView(new ArrayBuffer(4096));
      const slot = sharedInfoTimeOffset(1);
      // The domain is created 3.7 s in; its TSC starts at 0 then (as an HVM guest's does),
      // which makes the first records' tsc_timestamp negative, i.e. wrap as a u64.
      host += 3_700_000_001;
      const tscOffset = source.zeroTscOffset();
      const guest = new LinuxPvclock(view, slot);
      const rdtsc = (): bigint => BigInt(source.tsc() + tscOffset) & MASK64;
      writeVcpuTimeInfo(view, slot, pvclockRecord(source, tscOffset));
      let previous = 0n;
      const end = boot + 6 * 3600 * 1_000_000_000;
      let reads = 0;
      while (host < end) {
        // Steps from a nanosecond to ~40 s; the hypervisor refreshes the record now and then
        // (at vCPU entry), not on every read.
        host += Math.floor(next() ** 6 * 40_000_000_000) + 1;
        if (next() < 0.3) writeVcpuTimeInfo(view, slot, pvclockRecord(source, tscOffset));
        const value = guest.read(rdtsc);
        const elapsed = BigInt(host - boot);
        assert.ok(
          value <= elapsed && elapsed - value <= 1n,
          `${hz} Hz at ${elapsed} ns: guest read ${value}`,
        );
        assert.equal(value, BigInt(source.now()), `${hz} Hz: the guest agrees with NOW()`);
        assert.ok(value >= previous, 'the guest clock never goes back');
        previous = value;
        reads++;
      }
      assert.ok(reads > 1000);
    }
  });

  test('the CPU’s RDTSC through Cpu.clock and Cpu.tscOffset agrees with the pvclock', () => {
    let host = 1_000;
    const source = new TimeSource({ hostNs: () => host, tscHz: 2_400_000_000 });
    host += 123_456_789_012;
    const machine = new TestMachine();
    const code = 0x100000;
    machine.map(code, 0x1000);
    // rdtsc; hlt
    machine.write(code, new Uint8Array([0x0f, 0x31, 0xf4]));
    const cpu = machine.enterLongMode();
    cpu.ripLo = code;
    cpu.clock = source.clock;
    cpu.tscOffset = source.zeroTscOffset() + 77; // a domain offset, then a guest adjustment
    host += 10_000_000_000;
    const view = new DataView(new ArrayBuffer(64));
    writeVcpuTimeInfo(view, 0, pvclockRecord(source, cpu.tscOffset));
    host += 987_654_321;
    const exit = cpu.run(10);
    assert.equal(exit.reason, ExitReason.Halt);
    const tsc = (BigInt(cpu.gpr[Reg.RDX * 2]! >>> 0) << 32n) | BigInt(cpu.gpr[Reg.RAX * 2]! >>> 0);
    const guestNow = new LinuxPvclock(view, 0).read(() => tsc);
    assert.equal(guestNow, BigInt(source.now()));
    assert.ok(BigInt(host - 1_000) - guestNow <= 1n);
  });

  test('the version is odd during an update and the reader retries a torn read', () => {
    let host = 0;
    const source = new TimeSource({ hostNs: () => host, tscHz: 3_000_000_000 });
    const view = new DataView(new ArrayBuffer(64));
    host = 50_000_000_000;
    writeVcpuTimeInfo(view, 0, pvclockRecord(source, 0));
    assert.equal(view.getUint32(0, true), 2);
    const guest = new LinuxPvclock(view, 0);
    let interfere = true;
    // The hypervisor rewrites the record (with an unaligned, different stamp) while the
    // guest is between its version reads: the guest must notice and read again.
    const rdtsc = (): bigint => {
      if (interfere) {
        interfere = false;
        writeVcpuTimeInfo(view, 0, {
          tscTimestamp: source.tsc(),
          systemTime: source.now(),
          mul: source.scale.mul,
          shift: source.scale.shift,
          flags: 0,
        });
      }
      return BigInt(source.tsc());
    };
    const value = guest.read(rdtsc);
    assert.equal(guest.retries, 1);
    assert.equal(value, BigInt(source.now()));
    assert.equal(view.getUint32(0, true), 4);
    // An odd version (a writer that died mid-update) is left odd-then-even by the next one.
    view.setUint32(0, 5, true);
    writeVcpuTimeInfo(view, 0, pvclockRecord(source, 0));
    assert.equal(view.getUint32(0, true), 8);
  });

  test('fields land where vcpu_time_info puts them', () => {
    const view = new DataView(new ArrayBuffer(128));
    writeVcpuTimeInfo(view, 32, {
      tscTimestamp: -2,
      systemTime: 2 ** 40 + 5,
      mul: 0xfedcba98,
      shift: -2,
      flags: XEN_PVCLOCK_TSC_STABLE_BIT,
    });
    const decoded = vcpu_time_info.read(view, 32);
    assert.equal(decoded.version, 2);
    assert.equal(decoded.tsc_timestamp, (1n << 64n) - 2n);
    assert.equal(decoded.system_time, 2n ** 40n + 5n);
    assert.equal(decoded.tsc_to_system_mul, 0xfedcba98);
    assert.equal(decoded.tsc_shift, -2);
    assert.equal(decoded.flags, XEN_PVCLOCK_TSC_STABLE_BIT);
    assert.throws(() => writeVcpuTimeInfo(view, 100, pvclockRecordZero()), RangeError);
  });

  test('the version words are stored atomically in shared memory', () => {
    const shared = new DataView(new SharedArrayBuffer(4096), 1024, 2048);
    const plain = new DataView(new ArrayBuffer(2048));
    const record = { tscTimestamp: 12345, systemTime: 678, mul: 2 ** 31, shift: 0, flags: 1 };
    writeVcpuTimeInfo(shared, sharedInfoTimeOffset(3), record);
    writeVcpuTimeInfo(plain, sharedInfoTimeOffset(3), record);
    assert.deepEqual(
      new Uint8Array(shared.buffer, 1024, 2048),
      new Uint8Array(plain.buffer, 0, 2048),
    );
  });

  test('vcpu_info slots in shared_info', () => {
    assert.equal(sharedInfoTimeOffset(0), 32);
    assert.equal(sharedInfoTimeOffset(1), 96);
    assert.equal(sharedInfoTimeOffset(31), 31 * 64 + 32);
    assert.throws(() => sharedInfoTimeOffset(32), RangeError);
  });
});

function pvclockRecordZero() {
  return { tscTimestamp: 0, systemTime: 0, mul: 0, shift: 0, flags: 0 };
}

describe('wallclock', () => {
  test('a Linux guest reads the wall time to the nanosecond', () => {
    let host = 777;
    const wallAtStart = { sec: 1_700_000_000, nsec: 999_999_999 };
    const source = new TimeSource({
      hostNs: () => host,
      tscHz: 2_400_000_000,
      wallClock: () => wallAtStart,
    });
    const view = new DataView(new ArrayBuffer(8192));
    const base = 4096;
    writeWallclock(view, base, source.wallclock());
    writeVcpuTimeInfo(view, base + sharedInfoTimeOffset(0), pvclockRecord(source, 0));
    const o = shared_info.offsets;
    assert.equal(view.getUint32(base + o.wc_version, true), 2);
    const guest = new LinuxPvclock(view, base + sharedInfoTimeOffset(0));
    const next = random(99);
    for (let i = 0; i < 2000; i++) {
      host += Math.floor(next() * 10_000_000_000);
      const ns = linuxReadWallclock(view, base, guest, () => BigInt(source.tsc()));
      const expected =
        BigInt(wallAtStart.sec) * NSEC_PER_SEC + BigInt(wallAtStart.nsec) + BigInt(host - 777);
      assert.ok(expected - ns >= 0n && expected - ns <= 1n, `${ns} vs ${expected}`);
      const ts = source.wallTime();
      assert.equal(BigInt(ts.sec) * NSEC_PER_SEC + BigInt(ts.nsec), ns);
    }
  });

  test('seconds beyond 32 bits go to wc_sec_hi; a domain offset moves the seconds', () => {
    const source = new TimeSource({
      hostNs: () => 0,
      wallClock: () => ({ sec: 2 ** 33 + 7, nsec: 5 }),
    });
    const view = new DataView(new ArrayBuffer(4096));
    writeWallclock(view, 0, source.wallclock(-10));
    const o = shared_info.offsets;
    assert.equal(view.getUint32(o.wc_sec, true), 0xfffffffd); // 2^33 − 3
    assert.equal(view.getUint32(o.wc_sec_hi, true), 1);
    assert.equal(view.getUint32(o.wc_nsec, true), 5);
    writeWallclock(view, 0, { sec: -1, nsec: 0 });
    assert.equal(view.getUint32(o.wc_sec, true), 0xffffffff);
    assert.equal(view.getUint32(o.wc_sec_hi, true), 0xffffffff);
    assert.equal(view.getUint32(o.wc_version, true), 4);
    assert.throws(() => writeWallclock(view, 2048, { sec: 0, nsec: 0 }), RangeError);
  });
});
