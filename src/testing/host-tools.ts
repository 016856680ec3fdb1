import { spawnSync } from 'node:child_process';

/**
 * Tests compare our code against the host's own tools. A missing tool fails the test with
 * the way to install it, rather than skipping and hiding that nothing was compared.
 */
export function requireTool(command: string, debianPackage: string): void {
  const probe = spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
  if (probe.status !== 0) {
    throw new Error(
      `the reference tool "${command}" is not installed: run scripts/install-host-tools (or apt-get install ${debianPackage})`,
    );
  }
}
