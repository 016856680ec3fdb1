/**
 * The KVM runner itself (kvm.ts). The KVM differential tests proper are in paging.test.ts,
 * exceptions.test.ts, interrupts.test.ts and modes.test.ts, built from spec.ts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CR0, longModeImages, runKvm } from './kvm.js';
import { unavailable } from './spec.js';

describe('KVM runner', () => {
  test('an inconsistent state (EFER.LMA without paging) is rejected by KVM, not run', (t) => {
    if (unavailable) {
      t.skip(`skipped: ${unavailable}`);
      return;
    }
    const c = longModeImages([['inconsistent', { code: 'hlt', cr0: CR0.PE | CR0.ET }]])[0]!;
    const [result] = runKvm([c]);
    assert.equal(result?.exit, 'rejected');
    assert.match(result?.detail ?? '', /KVM_SET_SREGS failed: errno 22/);
  });

  test('no cases: no runner', () => {
    assert.deepEqual(runKvm([]), []);
  });
});
