import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RwLock } from './lock.js';

/** A task that records its start and end and finishes when told to. */
function task(log: string[], name: string) {
  let finish = () => {};
  const done = new Promise<void>((resolve) => {
    finish = resolve;
  });
  return {
    run: async () => {
      log.push(`+${name}`);
      await done;
      log.push(`-${name}`);
    },
    finish: () => finish(),
  };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('RwLock: readers share, a writer waits for them and later readers wait for it', async () => {
  const lock = new RwLock();
  const log: string[] = [];
  const r1 = task(log, 'r1');
  const r2 = task(log, 'r2');
  const w = task(log, 'w');
  const r3 = task(log, 'r3');
  const all = [
    lock.shared(r1.run),
    lock.shared(r2.run),
    lock.exclusive(w.run),
    lock.shared(r3.run), // queued behind the writer: no starvation
  ];
  await tick();
  assert.deepEqual(log, ['+r1', '+r2']);
  r1.finish();
  await tick();
  assert.deepEqual(log, ['+r1', '+r2', '-r1']);
  r2.finish();
  await tick();
  assert.deepEqual(log.slice(3), ['-r2', '+w']);
  w.finish();
  r3.finish();
  await Promise.all(all);
  assert.deepEqual(log.slice(5), ['-w', '+r3', '-r3']);
});

test('RwLock: a failing task releases the lock', async () => {
  const lock = new RwLock();
  await assert.rejects(
    lock.exclusive(async () => {
      throw new Error('boom');
    }),
    /boom/,
  );
  assert.equal(await lock.exclusive(async () => 7), 7);
});
