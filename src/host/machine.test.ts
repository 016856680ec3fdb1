// The hypervisor in its worker thread, driven from the main thread through privcmd only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { XEN_DOMCTL_CDF_hap, XEN_DOMCTL_CDF_hvm } from '../abi/domctl.js';
import { XENVER_version } from '../abi/version.js';
import { XEN_X86_EMU_LAPIC } from '../abi/xen.js';
import { XenCtrl } from '../dom0/libs/ctrl.js';
import { mapForeign } from '../dom0/libs/foreign.js';
import { Dom0Kernel } from '../dom0/libs/kernel.js';
import { Machine } from './machine.js';

test('Dom0 on the main thread controls the hypervisor in its worker', async () => {
  const machine = await Machine.start({
    memoryBytes: 64 << 20,
    dom0Frames: 1024,
    commandLine: 'console=com1',
  });
  try {
    const kernel = new Dom0Kernel(machine, { ramFrames: 1024 });
    await kernel.start();
    const ctrl = new XenCtrl(kernel);
    assert.equal((await ctrl.xenVersion(XENVER_version)).rc, (4 << 16) | 17);
    const domid = await ctrl.createDomain({
      flags: XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
      max_vcpus: 1,
      max_evtchn_port: 1023,
      max_grant_frames: 32,
      max_maptrack_frames: -1,
      grant_opts: 2,
      arch: { emulation_flags: XEN_X86_EMU_LAPIC, misc_flags: 0 },
    });
    await ctrl.setMaxMem(domid, 64);
    await ctrl.populatePhysmap(domid, [0]);
    const page = await mapForeign(kernel, domid, [0]);
    page.write(0, Uint8Array.of(0xf4)); // hlt
    await page.unmap();
    assert.deepEqual(
      (await ctrl.listDomains()).map((d) => d.domain),
      [0, domid],
    );
    await ctrl.destroyDomain(domid);
    assert.match(await ctrl.readConsole(false), /Created domain 1/);
  } finally {
    await machine.stop();
  }
  await assert.rejects(machine.hypercall(17, [0, 0]), /stopped/);
});
