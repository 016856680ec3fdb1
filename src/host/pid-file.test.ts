// The pid file as the single-host lock: taken exclusively, refused while its host lives,
// reclaimed from a dead one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { HostAlreadyRunning, isAlive, PidFile, readPidFile } from './pid-file.js';

const dir = mkdtempSync(join(tmpdir(), 'xenotype-pid-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A pid that was just in use and is no more. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

test('taken, refused to a second taker, released', () => {
  const path = join(dir, 'a.pid');
  const held = PidFile.acquire(path);
  assert.equal(readPidFile(path)?.pid, process.pid);
  assert.ok(held.held());
  assert.throws(() => PidFile.acquire(path), HostAlreadyRunning);
  held.release();
  assert.equal(existsSync(path), false);
  // No private files left behind.
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.startsWith('a.pid')),
    [],
  );
});

test("a dead host's file, or a garbled one, is stale and taken over", () => {
  const path = join(dir, 'b.pid');
  writeFileSync(path, `${deadPid()}\n`);
  const held = PidFile.acquire(path);
  assert.equal(readPidFile(path)?.pid, process.pid);
  held.release();
  writeFileSync(path, 'garbage');
  PidFile.acquire(path).release();
});

test('a live pid with another start time is a reused pid: stale', () => {
  const held = PidFile.acquire(join(dir, 'c.pid'));
  const mine = held.record;
  held.release();
  if (mine.startTime === undefined) return; // no /proc here: nothing to compare
  assert.ok(isAlive(mine));
  const reused = { pid: process.pid, startTime: mine.startTime + 1 };
  assert.equal(isAlive(reused), false);
  const path = join(dir, 'd.pid');
  writeFileSync(path, `${reused.pid} ${reused.startTime}\n`);
  PidFile.acquire(path).release();
});

test('a lock someone else took is not released by us', () => {
  const path = join(dir, 'e.pid');
  const held = PidFile.acquire(path);
  writeFileSync(path, '1\n');
  assert.equal(held.held(), false);
  held.release();
  assert.equal(readFileSync(path, 'utf8'), '1\n');
});
