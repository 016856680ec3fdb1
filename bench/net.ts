// net.guest_to_guest.MBps: 64 MiB over TCP from one guest to another, with busybox nc.
//
// Ours is two Xenotype guests, each with `vif = [ 'bridge=xenbr0' ]`: xen-netfront in each,
// Dom0's network backend between them. The peer is two QEMU TCG guests (the same vmlinux, an
// initramfs with virtio_net) joined by `-netdev socket` on localhost, one listening and one
// connecting. Each guest has 512 MiB and one vCPU.
//
// The receiver runs `nc -l -p PORT >/dev/null` in the background, with its stdin a FIFO the
// shell holds open: busybox nc half-closes the connection when its stdin ends (the sender's nc
// then exits at once), and a background job reading the console would be stopped (SIGTTIN).
// Once netstat shows the port listening, the sender runs `dd if=/dev/zero bs=1M count=64 | nc
// IP PORT`, and the receiver `wait`s for its nc, which exits when the sender closes. The
// figure is 64 MiB over the host's time from typing the sender's command to the receiver's
// `wait` returning; the receiver's rx_bytes counter checks the bytes arrived.

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureImages, type GuestImages, linkDefaultImages } from '../src/images/store.js';
import { qemuBootCommand } from './boot-qemu.js';
import type { GuestShell } from './guest-shell.js';
import { buildVirtioInitramfs, QemuGuest } from './qemu-guest.js';
import { isMain, type Report, report } from './report.js';
import { CHECKOUT, guestConfig, XenotypeHost } from './xenotype-guest.js';

/**
 * Whether the Xenotype half runs (XENOTYPE_BENCH_NET_OURS=0 leaves it out, for the QEMU figure
 * alone): it needs Dom0's network backend and vif= read into DomainConfig.nics.
 */
const OURS_ENABLED = process.env.XENOTYPE_BENCH_NET_OURS !== '0';

const TRANSFER_MIB = 64;
const PORT = 5001;
const MEMORY_MIB = 512;
const VCPUS = 1;
/**
 * The transfers on each pair of guests; the best is the figure. One of ours takes 20-40
 * minutes (busybox nc copies a few KiB per system call, and our CPU is ~50 times slower than
 * TCG), so our pair does one.
 */
const QEMU_RUNS = 3;
const OUR_RUNS = 1;
/** The crypto self-tests take half of a boot and nothing from the network path. */
const EXTRA_KERNEL_OPTIONS = 'cryptomgr.notests';
const BOOT_TIMEOUT_MS = 40 * 60_000;
const COMMAND_TIMEOUT_MS = 2 * 60 * 60_000;
const LISTEN_TIMEOUT_MS = 5 * 60_000;
/** Machine memory for our two guests and Dom0. */
const MACHINE_MIB = 2 * MEMORY_MIB + 256;
/** The guests' addresses on their own /24. */
const RECEIVER_IP = '10.0.2.1';
const SENDER_IP = '10.0.2.2';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Gives the guest's eth0 `address`/24 and brings it up. */
async function configureNetwork(shell: GuestShell, address: string): Promise<void> {
  await shell.check(
    `ip addr add ${address}/24 dev eth0 && ip link set eth0 up && ip link set lo up`,
    COMMAND_TIMEOUT_MS,
  );
}

/** The receiver's eth0 rx_bytes counter. */
async function rxBytes(shell: GuestShell): Promise<number> {
  const result = await shell.check(
    'cat /sys/class/net/eth0/statistics/rx_bytes',
    COMMAND_TIMEOUT_MS,
  );
  return Number(result.output.trim());
}

/** One transfer of TRANSFER_MIB from `sender` to `receiver`; its MB/s by the host's clock. */
async function transfer(receiver: GuestShell, sender: GuestShell): Promise<number> {
  const before = await rxBytes(receiver);
  await receiver.check(
    `rm -f /tmp/hold; mkfifo /tmp/hold; nc -l -p ${PORT} </tmp/hold >/dev/null & exec 3>/tmp/hold`,
    COMMAND_TIMEOUT_MS,
  );
  const listening = Date.now();
  while (
    (await receiver.run(`netstat -ltn | grep -q ':${PORT} '`, COMMAND_TIMEOUT_MS)).status !== 0
  ) {
    if (Date.now() - listening > LISTEN_TIMEOUT_MS) {
      throw new Error(`${receiver.name}: nc is not listening on port ${PORT}`);
    }
    await delay(200);
  }

  const start = process.hrtime.bigint();
  const sent = sender.check(
    `dd if=/dev/zero bs=1M count=${TRANSFER_MIB} | nc ${RECEIVER_IP} ${PORT}`,
    COMMAND_TIMEOUT_MS,
  );
  const received = receiver
    .check('wait; exec 3>&-', COMMAND_TIMEOUT_MS)
    .then(() => Number(process.hrtime.bigint() - start) / 1e9);
  const [sender_, seconds] = await Promise.all([sent, received]);
  if (!sender_.output.includes(`${TRANSFER_MIB}+0 records out`)) {
    throw new Error(`${sender.name}: dd did not send ${TRANSFER_MIB} MiB:\n${sender_.output}`);
  }
  const bytes = TRANSFER_MIB * 1024 * 1024;
  const arrived = (await rxBytes(receiver)) - before;
  if (arrived < bytes) {
    throw new Error(`${receiver.name}: eth0 received ${arrived} bytes, not ${bytes} or more`);
  }
  const MBps = bytes / 1e6 / seconds;
  console.error(
    `${sender.name} → ${receiver.name}: ${seconds.toFixed(2)} s on the host (${MBps.toPrecision(3)} MB/s)`,
  );
  return MBps;
}

/** Addresses both guests, checks they reach each other, and returns the best of `runs`. */
async function measure(receiver: GuestShell, sender: GuestShell, runs: number): Promise<number> {
  await configureNetwork(receiver, RECEIVER_IP);
  await configureNetwork(sender, SENDER_IP);
  await sender.check(`ping -c 1 -W 10 ${RECEIVER_IP}`, COMMAND_TIMEOUT_MS);
  let best = 0;
  for (let run = 0; run < runs; run++) best = Math.max(best, await transfer(receiver, sender));
  return best;
}

/** A TCP port on localhost that was free a moment ago, for QEMU's socket netdev. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/** The QEMU half: two TCG guests joined by a socket netdev on localhost. */
export async function netQemu(images: GuestImages, initramfs: string): Promise<number> {
  const port = await freePort();
  const command = (name: string, socket: string, mac: string) =>
    qemuBootCommand(
      { vmlinux: images.vmlinux, initramfs },
      {
        memoryMiB: MEMORY_MIB,
        vcpus: VCPUS,
        timeoutMs: BOOT_TIMEOUT_MS,
        append: EXTRA_KERNEL_OPTIONS,
        extraArgs: [
          '-name',
          name,
          '-netdev',
          `socket,id=net0,${socket}=127.0.0.1:${port}`,
          '-device',
          `virtio-net-pci,netdev=net0,mac=${mac}`,
        ],
      },
    );
  const guests: QemuGuest[] = [];
  try {
    // The connecting QEMU needs the listening one's socket: it is bound before the guest runs.
    const receiver = new QemuGuest(
      'qemu-receiver',
      command('receiver', 'listen', '52:54:00:00:02:01'),
    );
    guests.push(receiver);
    await receiver.shell.waitForShell(BOOT_TIMEOUT_MS);
    const sender = new QemuGuest('qemu-sender', command('sender', 'connect', '52:54:00:00:02:02'));
    guests.push(sender);
    await sender.shell.waitForShell(BOOT_TIMEOUT_MS);
    return await measure(receiver.shell, sender.shell, QEMU_RUNS);
  } finally {
    await Promise.all(guests.map((guest) => guest.stop()));
  }
}

/** Our half: two Xenotype guests on xenbr0 (`vif=` in xl.cfg, Dom0's network backend). */
export async function netXenotype(): Promise<number> {
  const config = (name: string) =>
    guestConfig([
      `name = "${name}"`,
      `cmdline = "console=hvc0 ${EXTRA_KERNEL_OPTIONS}"`,
      `memory = ${MEMORY_MIB}`,
      `vcpus = ${VCPUS}`,
      "vif = [ 'bridge=xenbr0' ]",
    ]);
  const receiverConfig = await config('bench-receiver');
  const senderConfig = await config('bench-sender');
  const host = await XenotypeHost.start(MACHINE_MIB);
  try {
    const receiver = await host.createGuest(receiverConfig);
    const sender = await host.createGuest(senderConfig);
    await receiver.shell.waitForShell(BOOT_TIMEOUT_MS);
    await sender.shell.waitForShell(BOOT_TIMEOUT_MS);
    return await measure(receiver.shell, sender.shell, OUR_RUNS);
  } finally {
    await host.stop();
  }
}

export async function benchNet(report: Report): Promise<void> {
  const images = await ensureImages({ log: (line) => console.error(line) });
  await linkDefaultImages(images, join(CHECKOUT, 'images'));
  const work = await mkdtemp(join(tmpdir(), 'xenotype-bench-net-'));
  try {
    let ours: number | undefined;
    if (OURS_ENABLED) {
      ours = await netXenotype();
      report('net.guest_to_guest.MBps', ours, 'MB/s');
    }
    const initramfs = join(work, 'initramfs-virtio.cpio.gz');
    await buildVirtioInitramfs(images, initramfs);
    const qemu = await netQemu(images, initramfs);
    report('net.guest_to_guest.qemu.MBps', qemu, 'MB/s');
    if (ours !== undefined) report('net.guest_to_guest.ratio_to_qemu_tcg', qemu / ours, 'x');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (isMain(import.meta.url)) await benchNet(report);
