/**
 * A host without a machine, for tests (XENOTYPE_FAKE_TOOLSTACK=1): the in-memory toolstack of
 * xl's own tests stands in for the hypervisor, Dom0 and libxl.
 */
import { FakeToolstack } from '../dom0/toolstack/testing.js';
import type { HostServices, ServiceContext } from './host.js';

export async function startFakeServices(
  context: ServiceContext,
  toolstack = new FakeToolstack(),
): Promise<HostServices> {
  context.log('test hook: an in-memory toolstack stands in for the machine');
  context.hypervisorConsole(toolstack.hypervisorConsole);
  return { toolstack, close: async () => {} };
}
