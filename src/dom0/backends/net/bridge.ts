/**
 * A software Ethernet bridge (xenbr0): vifs and the TAP uplink are its ports. It learns which
 * port each source MAC sits behind, per VLAN, forgets it after the ageing time as Linux's
 * bridge does, sends known unicast to that one port and floods the rest within the VLAN.
 * VLANs follow Xen's vif-openvswitch convention (`bridge=xenbr0.10` for an access port,
 * `xenbr0:10:20` for a trunk). On the way out each frame is fitted to what the port's device
 * accepts: tagged or not, segmented if it takes no GSO, checksum completed if it takes no
 * blank ones. A frame that needs none of that is handed on as it is, without a copy.
 */
import {
  addVlanTag,
  completeChecksum,
  ETH_HLEN,
  type Frame,
  macAt,
  segment,
  stripVlanTag,
  vlanTag,
} from './frame.js';

export interface BridgePort {
  /** E.g. "vif3.0", or the TAP uplink's name. */
  readonly name: string;
  /** What the port's device accepts: GSO frames, and frames whose checksum is still blank. */
  readonly offloads: { readonly gso: boolean; readonly checksumBlank: boolean };
  /** Hands a frame to the port's device (it queues or drops; never throws). */
  transmit(frame: Frame): void;
}

export interface PortVlans {
  /** Access VLAN: frames enter and leave this port untagged and belong to this VID inside. */
  readonly access?: number;
  /** Trunk: VIDs carried tagged on this port. */
  readonly trunks?: readonly number[];
}

export interface BridgeOptions {
  /** How long a learnt MAC is kept without traffic from it; Linux's default is 300 s. */
  ageingMs?: number;
  /** MACs learnt at most, so a guest inventing source addresses cannot fill memory. */
  maxLearned?: number;
  now?: () => number;
  log?: (line: string) => void;
}

/** Linux's BR_DEFAULT_AGEING_TIME. */
export const DEFAULT_AGEING_MS = 300_000;
export const DEFAULT_MAX_LEARNED = 65536;
/** The largest 802.1Q VID that names a VLAN (4095 is reserved, 0 means priority-tagged). */
export const VLAN_MAX_VID = 4094;

/** A port as the bridge keeps it. */
interface Member {
  readonly port: BridgePort;
  /** The VLAN untagged frames belong to: the access VLAN, or 0. */
  readonly untagged: number;
  /** VIDs accepted tagged, and sent tagged unless it is also the untagged one. */
  readonly tagged: ReadonlySet<number>;
}

interface Learnt {
  member: Member;
  seen: number;
}

/** Which form of a frame, and which offload work it needs, for one egress port. */
const enum Fit {
  AsIs = 0,
  Complete = 1,
  Segment = 2,
}

export class Bridge {
  private readonly members = new Map<BridgePort, Member>();
  private portList: BridgePort[] = [];
  private memberList: Member[] = [];
  /** Forwarding database: VLAN → source MAC → where it was seen. */
  private readonly fdb = new Map<number, Map<number, Learnt>>();
  private learned = 0;
  private readonly ageingMs: number;
  private readonly maxLearned: number;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private nextSweep: number;

  constructor(
    readonly name: string,
    options: BridgeOptions = {},
  ) {
    this.ageingMs = options.ageingMs ?? DEFAULT_AGEING_MS;
    this.maxLearned = options.maxLearned ?? DEFAULT_MAX_LEARNED;
    this.now = options.now ?? (() => performance.now());
    this.log = options.log ?? (() => {});
    this.nextSweep = this.now() + this.ageingMs;
  }

  get ports(): ReadonlyArray<BridgePort> {
    return this.portList;
  }

  /** Adds a port, or changes the VLANs of one already attached (forgetting what was learnt on it). */
  attach(port: BridgePort, vlans: PortVlans = {}): void {
    const untagged = vlans.access ?? 0;
    if (vlans.access !== undefined) checkVid(vlans.access, `${port.name}: access VLAN`);
    const tagged = new Set<number>();
    for (const vid of vlans.trunks ?? []) {
      checkVid(vid, `${port.name}: trunk VLAN`);
      tagged.add(vid);
    }
    const replacing = this.members.has(port);
    if (replacing) this.forget(port);
    this.members.set(port, { port, untagged, tagged });
    this.rebuildLists();
    this.log(
      `${this.name}: port ${port.name} ${replacing ? 'changed' : 'attached'}${describeVlans(untagged, tagged)}`,
    );
  }

  /** Removes a port and forgets the MACs learnt on it. */
  detach(port: BridgePort): void {
    if (!this.members.has(port)) return;
    this.forget(port);
    this.members.delete(port);
    this.rebuildLists();
    this.log(`${this.name}: port ${port.name} detached`);
  }

  /** A frame the port's device sent into the bridge: learn its source, forward or flood. */
  receive(from: BridgePort, frame: Frame): void {
    const ingress = this.members.get(from);
    if (ingress === undefined) return;
    const data = frame.data;
    if (data.length < ETH_HLEN) return;
    // Like Linux's bridge, frames from a group or all-zero source address are dropped.
    if ((data[6]! & 1) !== 0) return;
    const source = macAt(data, 6);
    if (source === 0) return;
    // IEEE 802.1D reserved group addresses 01:80:c2:00:00:0X are for the link, not to be
    // forwarded; Linux forwards only :00 (STP BPDUs) when it runs no STP itself, as here.
    if (data[0] === 0x01 && isLinkLocal(data)) return;

    let vid: number;
    let tagged: boolean;
    const tag = vlanTag(data);
    if (tag === undefined || tag === 0) {
      if (tag === 0) {
        // Priority-tagged: belongs to the port's untagged VLAN (802.1Q 6.9).
        frame = { ...frame, data: stripVlanTag(data) };
      }
      vid = ingress.untagged;
      tagged = false;
    } else {
      if (!ingress.tagged.has(tag)) return;
      vid = tag;
      tagged = true;
    }

    const now = this.now();
    if (now >= this.nextSweep) this.sweep(now);
    this.learn(vid, source, ingress, now);

    if ((frame.data[0]! & 1) === 0) {
      const entry = this.fdb.get(vid)?.get(macAt(frame.data, 0));
      if (entry !== undefined && entry.seen + this.ageingMs > now) {
        // Known unicast; never back out of the port it came in by.
        if (entry.member !== ingress) this.forward(entry.member, frame, vid, tagged);
        return;
      }
    }
    this.flood(ingress, frame, vid, tagged);
  }

  private learn(vid: number, mac: number, member: Member, now: number): void {
    let table = this.fdb.get(vid);
    if (table === undefined) {
      table = new Map();
      this.fdb.set(vid, table);
    }
    const entry = table.get(mac);
    if (entry !== undefined) {
      entry.member = member;
      entry.seen = now;
    } else if (this.learned < this.maxLearned) {
      table.set(mac, { member, seen: now });
      this.learned++;
    }
  }

  /** Drops entries past their ageing time (lookups already ignore them; this frees them). */
  private sweep(now: number): void {
    this.nextSweep = now + Math.max(this.ageingMs, 1000);
    for (const [vid, table] of this.fdb) {
      for (const [mac, entry] of table) {
        if (entry.seen + this.ageingMs <= now) {
          table.delete(mac);
          this.learned--;
        }
      }
      if (table.size === 0) this.fdb.delete(vid);
    }
  }

  private forget(port: BridgePort): void {
    for (const [vid, table] of this.fdb) {
      for (const [mac, entry] of table) {
        if (entry.member.port === port) {
          table.delete(mac);
          this.learned--;
        }
      }
      if (table.size === 0) this.fdb.delete(vid);
    }
  }

  private rebuildLists(): void {
    this.memberList = [...this.members.values()];
    this.portList = this.memberList.map((m) => m.port);
  }

  private forward(to: Member, frame: Frame, vid: number, tagged: boolean): void {
    const wantTagged = carries(to, vid);
    if (wantTagged === undefined) return;
    const shaped = wantTagged === tagged ? frame : retag(frame, vid, wantTagged);
    const fit = fitFor(to.port, shaped);
    if (fit === Fit.AsIs) to.port.transmit(shaped);
    else if (fit === Fit.Complete) to.port.transmit(completeChecksum(shaped));
    else for (const piece of segment(shaped)) to.port.transmit(piece);
  }

  /** Every other port in the VLAN; each form of the frame is made at most once. */
  private flood(ingress: Member, frame: Frame, vid: number, tagged: boolean): void {
    /** Index: (tagged ? 3 : 0) + Fit. */
    let made: (Frame | Frame[] | undefined)[] | undefined;
    for (const member of this.memberList) {
      if (member === ingress) continue;
      const wantTagged = carries(member, vid);
      if (wantTagged === undefined) continue;
      const fit = fitFor(member.port, frame);
      if (fit === Fit.AsIs && wantTagged === tagged) {
        member.port.transmit(frame);
        continue;
      }
      made ??= [];
      const slot = (wantTagged ? 3 : 0) + fit;
      let out = made[slot];
      if (out === undefined) {
        const shaped = wantTagged === tagged ? frame : retag(frame, vid, wantTagged);
        out =
          fit === Fit.AsIs
            ? shaped
            : fit === Fit.Complete
              ? completeChecksum(shaped)
              : segment(shaped);
        made[slot] = out;
      }
      if (Array.isArray(out)) for (const piece of out) member.port.transmit(piece);
      else member.port.transmit(out);
    }
  }
}

/** Whether the port carries the VLAN: undefined if not, else whether tagged. */
function carries(member: Member, vid: number): boolean | undefined {
  if (member.untagged === vid) return false;
  return member.tagged.has(vid) ? true : undefined;
}

function fitFor(port: BridgePort, frame: Frame): Fit {
  const { offloads } = port;
  // A device taking GSO but not blank checksums cannot take GSO either (Linux drops TSO
  // from a device without checksum offload).
  if (frame.gso !== undefined && !(offloads.gso && offloads.checksumBlank)) return Fit.Segment;
  if (frame.checksumBlank && !offloads.checksumBlank) return Fit.Complete;
  return Fit.AsIs;
}

function retag(frame: Frame, vid: number, tagged: boolean): Frame {
  return { ...frame, data: tagged ? addVlanTag(frame.data, vid) : stripVlanTag(frame.data) };
}

function isLinkLocal(data: Uint8Array): boolean {
  return (
    data[1] === 0x80 &&
    data[2] === 0xc2 &&
    data[3] === 0 &&
    data[4] === 0 &&
    (data[5]! & 0xf0) === 0 &&
    data[5] !== 0
  );
}

function checkVid(vid: number, what: string): void {
  if (!Number.isInteger(vid) || vid < 1 || vid > VLAN_MAX_VID) {
    throw new Error(`${what} ${vid} is not a VLAN ID (1 to ${VLAN_MAX_VID})`);
  }
}

function describeVlans(untagged: number, tagged: ReadonlySet<number>): string {
  const parts: string[] = [];
  if (untagged !== 0) parts.push(`access VLAN ${untagged}`);
  if (tagged.size > 0) parts.push(`trunk ${[...tagged].join(',')}`);
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

/**
 * A vif's `bridge` setting in Xen's vif-openvswitch convention: "xenbr0", "xenbr0.10" (access
 * VLAN 10), "xenbr0:10:20" (trunk carrying 10 and 20), or both ("xenbr0.10:20").
 */
export function parseBridgeSpec(spec: string): { bridge: string; vlans: PortVlans } {
  const match = /^([^.:]+)(?:\.([^.:]*))?(?::(.*))?$/.exec(spec);
  if (match === null) throw new Error(`bridge "${spec}" is not of the form name[.vlan][:trunk...]`);
  const bridge = match[1]!;
  const access = match[2] === undefined ? undefined : parseVid(match[2], spec);
  const trunks =
    match[3] === undefined ? undefined : match[3].split(':').map((v) => parseVid(v, spec));
  const vlans: { access?: number; trunks?: number[] } = {};
  if (access !== undefined) vlans.access = access;
  if (trunks !== undefined) vlans.trunks = trunks;
  return { bridge, vlans };
}

function parseVid(text: string, spec: string): number {
  const vid = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(vid >= 1 && vid <= VLAN_MAX_VID)) {
    throw new Error(`bridge "${spec}": "${text}" is not a VLAN ID (1 to ${VLAN_MAX_VID})`);
  }
  return vid;
}
