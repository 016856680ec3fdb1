/**
 * A stand-in for the hypervisor around some vlapics, for tests: a settable guest clock and
 * TSC, the last deadline each APIC asked for, and IPIs recorded (fixed ones also accepted by
 * their target, as the hypervisor would).
 */

import type { DeliveryMode } from './regs.js';
import { Vlapic, type VlapicOptions } from './vlapic.js';

export interface RecordedIpi {
  from: number;
  target: number;
  vector: number;
  mode: DeliveryMode;
}

export interface FakeDomainOptions {
  /** TSC ticks per nanosecond of the fake TSC (default 2); 0 leaves TSC-deadline mode out. */
  ticksPerNs?: number;
  x2apic?: boolean;
  apicId?: (vcpu: number) => number;
  upcallPending?: () => boolean;
}

export class FakeDomain {
  now = 0;
  readonly lapics: Vlapic[] = [];
  readonly deadlines: (number | undefined)[] = [];
  readonly ipis: RecordedIpi[] = [];
  readonly kicks: number[] = [];
  readonly levelEois: { vcpu: number; vector: number }[] = [];
  tscOffset = 0;
  readonly ticksPerNs: number;

  constructor(vcpus: number, options: FakeDomainOptions = {}) {
    this.ticksPerNs = options.ticksPerNs ?? 2;
    for (let vcpu = 0; vcpu < vcpus; vcpu++) {
      const lapicOptions: VlapicOptions = {
        vcpuId: vcpu,
        now: () => this.now,
        setTimer: (deadline) => {
          this.deadlines[vcpu] = deadline;
        },
        deliverIpi: (target, vector, mode) => {
          this.ipis.push({ from: vcpu, target, vector, mode });
          if (mode === 0) this.lapics[target]!.acceptInterrupt(vector);
        },
        peers: () => this.lapics,
        kick: () => this.kicks.push(vcpu),
        levelEoi: (vector) => this.levelEois.push({ vcpu, vector }),
      };
      if (options.apicId) lapicOptions.apicId = options.apicId(vcpu);
      if (options.x2apic !== undefined) lapicOptions.x2apic = options.x2apic;
      if (options.upcallPending) lapicOptions.upcallPending = options.upcallPending;
      if (this.ticksPerNs > 0) {
        lapicOptions.tsc = {
          now: () => this.tsc(),
          ticksToNs: (ticks) => Math.floor(ticks / this.ticksPerNs),
        };
      }
      this.lapics.push(new Vlapic(lapicOptions));
      this.deadlines.push(undefined);
    }
  }

  tsc(): number {
    return this.now * this.ticksPerNs + this.tscOffset;
  }

  lapic(vcpu = 0): Vlapic {
    return this.lapics[vcpu]!;
  }

  /** Advances the clock to `time` and fires every APIC timer that is due, like the scheduler. */
  advanceTo(time: number): number[] {
    this.now = time;
    const fired: number[] = [];
    this.lapics.forEach((lapic, vcpu) => {
      const deadline = this.deadlines[vcpu];
      if (deadline !== undefined && deadline <= time) {
        this.deadlines[vcpu] = undefined;
        if (lapic.fireTimer()) fired.push(vcpu);
      }
    });
    return fired;
  }

  /** Switches an APIC to x2APIC mode with IA32_APIC_BASE, as a guest does. */
  enterX2apic(vcpu = 0): void {
    const lapic = this.lapic(vcpu);
    const [lo, hi] = lapic.readApicBase();
    if (!lapic.writeApicBase(lo | (1 << 10), hi)) throw new Error('x2APIC refused');
  }
}
