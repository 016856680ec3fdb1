// The toolstack's own failures, as libxl reports them: a refused hypercall is ERROR_FAIL,
// logged with its errno's text (libxl's LOGED).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Dom0 } from '../index.js';
import { HypercallError } from '../libs/kernel.js';
import { createLibxl } from './libxl.js';
import { LibxlError, ToolstackError } from './types.js';

test('pausing or unpausing a domain Xen refuses fails as libxl logs it', async () => {
  // Xen refuses XEN_DOMCTL_pausedomain on the caller's own domain with EINVAL.
  const refuse = (what: string) => () => Promise.reject(new HypercallError(what, 22));
  const ctrl = {
    domainInfo: async () => ({}),
    pauseDomain: refuse('XEN_DOMCTL_pausedomain'),
    unpauseDomain: refuse('XEN_DOMCTL_unpausedomain'),
  };
  const ts = createLibxl({ ctrl } as unknown as Dom0, { log: () => {} });
  for (const [call, what] of [
    [() => ts.pause(0), 'Pausing domain'],
    [() => ts.unpause(0), 'Unpausing domain'],
  ] as const) {
    await assert.rejects(call(), (error: unknown) => {
      assert.ok(error instanceof ToolstackError, String(error));
      assert.equal(error.code, LibxlError.FAIL);
      assert.equal(error.message, `Domain 0:${what}: Invalid argument`);
      return true;
    });
  }
});
