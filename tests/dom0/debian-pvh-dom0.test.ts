// Debian's cloud kernel built as a PVH domain by Dom0's builder — through hypercalls only —
// with Dom0's xenstored answering on its store ring and the console daemon draining its
// console: it boots past xenbus initialisation, unpacks its initramfs, and writes its
// control/feature-* nodes into our store.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DomainState } from '../../src/xen/common/domain.js';
import { bootDebian, runUntil } from './boot-harness.js';

test("the Debian kernel boots on Dom0's builder, xenstored and console daemon", async () => {
  const booted = await bootDebian({ memoryMiB: 256, vcpus: 1, cmdline: 'console=hvc0' });
  const feature = '/local/domain/1/control/feature-poweroff';
  let written: string | undefined;
  const ran = await runUntil(
    booted,
    () => {
      void booted.dom0.store.tryRead(feature).then((v) => {
        written = v;
      });
      return written === '1' || booted.domain.state !== DomainState.Running;
    },
    2_000_000_000,
  );
  const text = booted.console();
  console.log(`# ${ran} instructions`);
  assert.equal(booted.domain.state, DomainState.Running, text.slice(-3000));
  assert.doesNotMatch(text, /Kernel panic|BUG:|Oops|Error -\d+ writing/, text.slice(-3000));
  assert.match(text, /Linux version 6\.1/, 'the console daemon has every kernel message');
  assert.match(text, /Freeing initrd memory/, 'the initramfs (module 0) was found');
  assert.equal(written, '1', 'the guest wrote its feature-poweroff through xenstore');
});
