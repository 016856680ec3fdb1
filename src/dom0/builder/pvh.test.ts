import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { ElfWorkshop, kernelLinkerScript, xenKernelSource } from '../../images/elf/testing.js';
import type { XenCtrl } from '../libs/ctrl.js';
import type { EventChannelDevice } from '../libs/evtchn.js';
import { BuildError, buildPvh } from './pvh.js';

const workshop = new ElfWorkshop();
after(() => workshop.remove());
// A kernel-shaped ELF loaded at 16 MiB, with a PVH entry.
const kernel = workshop.build(xenKernelSource(64), kernelLinkerScript(64), 64).data;

test('a kernel and initramfs that do not fit in memory fail before anything is built', async () => {
  let hypercalls = 0;
  const ctrl = new Proxy({} as XenCtrl, {
    get: () => () => {
      hypercalls++;
      return Promise.resolve();
    },
  });
  const spec = { kernel, ramdisk: new Uint8Array(1 << 20), cmdline: '', vcpus: 1, maxVcpus: 1 };
  await assert.rejects(
    buildPvh({ ctrl, events: {} as EventChannelDevice }, 1, { ...spec, memoryMiB: 17 }),
    (error: unknown) => {
      assert.ok(error instanceof BuildError, String(error));
      assert.equal(
        error.message,
        '17 MiB is too little for this kernel and initramfs (they need 18 MiB)',
      );
      return true;
    },
  );
  assert.equal(hypercalls, 0);
});
