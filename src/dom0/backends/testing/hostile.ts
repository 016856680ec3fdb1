/**
 * What every hostile-frontend case shares: a machine per group of cases whose hypercalls
 * complete a macrotask later (as across the hypervisor's thread), a well-behaved domain whose
 * fresh devices must still work after each attack, image files, and the checks that a device
 * was closed for breaking the protocol. A case fails on any unhandled rejection in Dom0.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, type TestContext } from 'node:test';
import { BLKIF_RSP_OKAY } from '../../../abi/io/blkif.js';
import { XenbusStateClosing, XenbusStateConnected } from '../../../abi/io/xenbus.js';
import { createRawImage } from '../blk/image/index.js';
import { BlkFront } from './blkfront.js';
import { tcpFrame } from './frames.js';
import type { FakeGuest } from './guest.js';
import { NetFront } from './netfront.js';
import { BackendRig } from './rig.js';
import { settle, until } from './wait.js';

export const SEED = Number(process.env.XENOTYPE_SEED ?? 0x5eed) >>> 0;
export const FUZZ_ROUNDS = 300 * (Number(process.env.XENOTYPE_FUZZ ?? 1) || 1);
export const DISK_BYTES = 1 << 20;
export const DISK_SECTORS = DISK_BYTES / 512;

const unhandled: unknown[] = [];
process.on('unhandledRejection', (reason) => unhandled.push(reason));

/** Runs `body`, then fails if Dom0 left a rejection unhandled meanwhile. */
export async function noUnhandledRejection(body: () => Promise<void>): Promise<void> {
  const before = unhandled.length;
  await body();
  assert.deepEqual(unhandled.slice(before), [], 'no unhandled rejection in Dom0');
}

let tmp: string | undefined;
let images = 0;
/** A fresh raw image file of `bytes`, zeroed or filled with a pattern of `seed`. */
export async function image(name: string, seed = 0, bytes = DISK_BYTES): Promise<string> {
  tmp ??= await mkdtemp(join(tmpdir(), 'xenotype-hostile-'));
  const path = join(tmp, `${name}-${images++}.img`);
  if (seed === 0) await createRawImage(path, bytes);
  else await writeFile(path, pattern(bytes, seed));
  return path;
}

/** Removes the image files made so far. */
export async function removeImages(): Promise<void> {
  if (tmp !== undefined) await rm(tmp, { recursive: true, force: true });
}

/** `length` bytes of a pattern of `seed` (an LCG: fast enough for whole images). */
export function pattern(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let x = (seed * 2654435761) >>> 0;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/**
 * One machine per group of cases: a well-behaved domain that gets fresh devices for each
 * case, so that one case's damage cannot hide in the next; each case makes its own hostile
 * domain.
 */
export interface Machine {
  rig: BackendRig;
  good: FakeGuest;
}

export function sharedMachine(): Machine {
  const machine = {} as Machine;
  before(async () => {
    machine.rig = await BackendRig.start({ threaded: true });
    machine.good = await machine.rig.guest();
  });
  after(() => machine.rig.close());
  return machine;
}

/** The good domain's devices made by the case under way. */
const goodDevices: (BlkFront | NetFront)[] = [];

/** Forgets the good domain's devices without closing them (their machine is gone). */
export function forgetGoodDevices(): void {
  goodDevices.length = 0;
}

/** A case on the shared machine; Dom0 must leave no rejection unhandled. */
export function inCase(
  machine: Machine,
  body: (rig: BackendRig, good: FakeGuest, t: TestContext) => Promise<void>,
): (t: TestContext) => Promise<void> {
  return (t) =>
    noUnhandledRejection(async () => {
      try {
        await body(machine.rig, machine.good, t);
        await settle(5);
      } finally {
        // The good domain's devices of this case go, as a guest unplugging them would.
        for (const front of goodDevices.splice(0)) await front.close().catch(() => {});
      }
    });
}

export const blkLabel = (front: BlkFront, devid = 51712) =>
  `blkback: d${front.guest.domid} device ${devid}`;
export const vifLabel = (front: NetFront, devid = 0) => `netback: vif${front.guest.domid}.${devid}`;

/** Waits for a device to be closed for breaking the protocol: Closing, hotplug-error, a log line. */
export async function expectClosed(
  rig: BackendRig,
  front: BlkFront | NetFront,
  label: string,
  why: RegExp,
): Promise<string> {
  await until(`${label} Closing`, async () => (await front.backendState()) === XenbusStateClosing);
  const error = await front.hotplugError();
  assert.ok(error !== undefined, `${label}: hotplug-error is set`);
  assert.match(error, why, `${label}: hotplug-error says why`);
  assert.ok(
    rig.logs.includes(`${label}: ${error}; device closed`),
    `${label}: logged\n${rig.logs.join('\n')}`,
  );
  return error;
}

/** Keys a hostile frontend writes in place of the right ones, and what the backend says. */
export type BadKeys = [
  name: string,
  keys: (h: FakeGuest) => Readonly<Record<string, string | undefined>>,
  why: RegExp,
];

/** Waits for each device of a garbage-keys case to be closed, each for its own reason. */
export async function expectEachClosed<F extends BlkFront | NetFront>(
  rig: BackendRig,
  cases: readonly BadKeys[],
  fronts: readonly F[],
  label: (front: F, k: number) => string,
): Promise<void> {
  for (const [k, [name, , why]] of cases.entries()) {
    const front = fronts[k]!;
    await until(
      `${name}: Closing`,
      async () => (await front.backendState()) === XenbusStateClosing,
    );
    const error = (await front.hotplugError()) ?? '';
    assert.match(error, why, `${name}: hotplug-error "${error}"`);
    assert.ok(
      rig.logs.includes(`${label(front, k)}: ${error}; device closed`),
      `${name}: logged\n${rig.logs.join('\n')}`,
    );
  }
}

/** Whether Dom0 logged, since line `from`, a line of `backend` about domain `domid`. */
export function loggedAbout(rig: BackendRig, from: number, backend: string, domid: number) {
  const lines = rig.logs.slice(from).filter((l) => l.startsWith(`${backend}:`));
  assert.ok(
    lines.some((l) => l.includes(`d${domid}`) || l.includes(`vif${domid}.0`)),
    `${backend} logs the refusal:\n${rig.logs.slice(from).join('\n')}`,
  );
}

// ---------------------------------------------------------------------------------------
// The well-behaved domain

let round = 0;
let disks = 0;

/** A fresh disk of the good domain. */
export async function goodDisk(guest: FakeGuest): Promise<BlkFront> {
  const front = await BlkFront.attach(guest, {
    image: await image('good'),
    devid: 51712 + 16 * disks++,
  });
  goodDevices.push(front);
  return front;
}

/** The disk still moves data: a write, read back. */
export async function diskWorks(front: BlkFront): Promise<void> {
  round++;
  const sector = (round * 24) % (DISK_SECTORS - 24);
  const data = pattern(24 * 512, 1000 + round);
  assert.equal(await front.write(sector, data), BLKIF_RSP_OKAY, 'the good disk writes');
  const back = await front.read(sector, 24);
  assert.equal(back.status, BLKIF_RSP_OKAY, 'the good disk reads');
  assert.ok(Buffer.from(back.data).equals(data), 'the good disk reads back what it wrote');
  assert.equal(await front.backendState(), XenbusStateConnected);
}

let macs = 0;
let vifs = 0;

/** A MAC of its own for every vif: the bridge remembers them from case to case. */
export function nextMac(): string {
  const n = macs++;
  const hex = (byte: number) => byte.toString(16).padStart(2, '0');
  return `00:16:3e:01:${hex((n >> 8) & 255)}:${hex(n & 255)}`;
}

/** Two fresh vifs of the good domain on xenbr0, which the hostile vifs join too. */
export async function goodVifs(guest: FakeGuest): Promise<[NetFront, NetFront]> {
  const zero = await NetFront.attach(guest, { mac: nextMac(), devid: vifs++ });
  const one = await NetFront.attach(guest, { mac: nextMac(), devid: vifs++ });
  goodDevices.push(zero, one);
  zero.postRx(64);
  one.postRx(64);
  return [zero, one];
}

/** Frames still cross between the good vifs both ways. */
export async function vifsWork([zero, one]: [NetFront, NetFront]): Promise<void> {
  round++;
  for (const [from, to] of [
    [zero, one],
    [one, zero],
  ] as const) {
    // Room for whatever the hostile vif flooded meanwhile, then a frame of our own.
    to.collectRx();
    to.postRx(Math.min(16, to.queues[0]!.rx.free()));
    const frame = tcpFrame(to.mac, from.mac, 300, round);
    from.send(frame);
    await until(`${to.backend}: the good frame`, () => {
      to.collectRx();
      if (to.queues[0]!.rx.free() > 32) to.postRx(32);
      return to.received.some((p) => Buffer.from(p.data).equals(frame));
    });
    assert.equal(await from.backendState(), XenbusStateConnected);
  }
}
