/** ENTER and LEAVE (frame.ts) against the host CPU, at every nesting level. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LAYOUT } from '../testing/native/native.js';
import { type HostCase, hostDifferences } from '../testing/user-mode.js';

describe('ENTER and LEAVE against the host CPU', () => {
  test('ENTER/LEAVE at every nesting level, 64- and 16-bit', () => {
    const cases: HostCase[] = [];
    for (const level of [0, 1, 2, 3, 5, 31, 32, 33]) {
      for (const size of ['q', 'w']) {
        cases.push({
          name: `enter${size} $0x24, $${level}`,
          source: `mov $${LAYOUT.stack + 0x8000}, %ebp\n mov %rsp, %rbx\n movq $0x1111, -8(%rbp)\n movq $0x2222, -16(%rbp)\n enter${size} $0x24, $${level}\n mov %rsp, %rcx\n mov %rbp, %rdx\n leave${size}`,
        });
      }
    }
    assert.deepEqual(hostDifferences(cases), []);
  });
});
