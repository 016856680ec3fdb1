/**
 * The host's real services: the hypervisor in its worker thread, Dom0 on this thread with
 * xenstored's socket in the run directory, and the toolstack over them.
 */

import { startDom0 } from '../dom0/index.js';
import { createLibxl } from '../dom0/toolstack/libxl.js';
import type { HostServices, ServiceContext } from './host.js';
import { Machine } from './machine.js';

export interface MachineSettings {
  /** Machine memory in MiB: what guests and Dom0 share. */
  readonly memoryMiB: number;
  /** Whether network bridges get a TAP uplink to the host. */
  readonly uplink: boolean;
}

/** Dom0's RAM in frames (16 MiB): hypercall buffers and its mapping hole's page tables. */
const DOM0_FRAMES = 4096;
/** Xen's command line, as `xl info` and `xl dmesg` show it. */
const XEN_COMMAND_LINE = 'console=com1 dom0_mem=16M';

export async function startMachineServices(
  context: ServiceContext,
  settings: MachineSettings,
): Promise<HostServices> {
  const { log, paths } = context;
  log(`starting the machine: ${settings.memoryMiB} MiB`);
  const machine = await Machine.start({
    memoryBytes: settings.memoryMiB * 1024 * 1024,
    dom0Frames: DOM0_FRAMES,
    commandLine: XEN_COMMAND_LINE,
  });
  let failed = false;
  machine.onConsole = (text) => context.hypervisorConsole(text);
  machine.onFailure = (message) => {
    failed = true;
    context.fail(message);
  };
  try {
    const dom0 = await startDom0(machine, {
      ramFrames: DOM0_FRAMES,
      log,
      consoleLogDir: paths.consoleLogDir,
      uplink: settings.uplink,
    });
    await dom0.xenstored.listen(paths.xenstoredSocket);
    log(`xenstored listening on ${paths.xenstoredSocket}`);
    const toolstack = createLibxl(dom0, { log });
    return {
      toolstack,
      close: async (machineFailed) => {
        // After a failure every hypercall would wait forever: leave it all to the exit.
        if (machineFailed || failed) return;
        await toolstack.close();
        await dom0.netback.close();
        await dom0.blkback.close();
        await dom0.consoled.close();
        await dom0.xenstored.close();
        await machine.stop();
      },
    };
  } catch (e) {
    if (!failed) await machine.stop();
    throw e;
  }
}
