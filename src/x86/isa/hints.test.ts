/** The do-nothing instructions (hints.ts) against the host CPU. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { LAYOUT } from '../testing/native/native.js';
import { hostDifferences } from '../testing/user-mode.js';

describe('hint instructions against the host CPU', () => {
  test('hint NOPs, prefetches, fences, CLFLUSH, PAUSE, ENDBR64', () => {
    const failures = hostDifferences([
      {
        name: 'hint NOPs, prefetches, fences, CLFLUSH, PAUSE, ENDBR64',
        source: `mov $${LAYOUT.data}, %esi
          nopw 0x0(%rax,%rax,1)
          nopl 0x12345678(%rsi,%rdi,4)
          .byte 0x0f, 0x1f, 0xc8
          .byte 0x0f, 0x19, 0x06
          .byte 0x0f, 0x1e, 0xfa
          prefetcht0 (%rsi)
          prefetchnta 8(%rsi)
          prefetchw (%rsi)
          prefetch (%rsi)
          lfence
          mfence
          sfence
          .byte 0x0f, 0xae, 0xe9
          clflush (%rsi)
          pause
          endbr64
          mov $1, %eax`,
      },
    ]);
    assert.deepEqual(failures, []);
  });
});
