// `npm run bench`: one `name: value unit` line per figure, each beside its peer where one
// exists. See BENCHMARKS.md for the figures and how they were taken.
import { spawnSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decompress } from '../src/images/decompress/index.js';
import { parseBzImage } from '../src/images/kernel/bzimage.js';
import { ensureImages } from '../src/images/store.js';
import { benchBlk } from './blk.js';
import { benchBoot } from './boot.js';
import { benchCpu } from './cpu.js';
import { benchNet } from './net.js';
import { report } from './report.js';

/** The best of `runs` timings, in seconds: the least disturbed by the rest of the machine. */
async function best(runs: number, work: () => Promise<unknown> | unknown): Promise<number> {
  let fastest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await work();
    fastest = Math.min(fastest, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return fastest;
}

/** Decompression of the real kernel payload: ours against the native tool, same input. */
async function benchDecompress(): Promise<void> {
  const images = await ensureImages({ log: (line) => console.error(line) });
  const bz = parseBzImage(await readFile(images.vmlinuz));
  const payload = bz.payload.subarray(0, bz.payload.length - 4);
  const megabytes = bz.vmlinuxSize / 1e6;
  report(
    'images.lz4.kernel.MBps',
    megabytes / (await best(5, () => decompress(payload, 'lz4'))),
    'MB/s',
  );
  const file = join(tmpdir(), `xenotype-bench-${process.pid}.lz4`);
  await writeFile(file, payload);
  const native = await best(5, () =>
    spawnSync('lz4', ['-d', '-c', file], { stdio: ['ignore', 'ignore', 'ignore'] }),
  );
  report('images.lz4.kernel.native.MBps', megabytes / native, 'MB/s');

  const vmlinux = await readFile(images.vmlinux);
  const xz = spawnSync('xz', ['--check=crc32', '--x86', '--lzma2=dict=32MiB', '-c'], {
    input: vmlinux,
    maxBuffer: 1 << 30,
  }).stdout;
  await writeFile(file, xz);
  report('images.xz.kernel.MBps', megabytes / (await best(3, () => decompress(xz, 'xz'))), 'MB/s');
  const nativeXz = await best(3, () =>
    spawnSync('xz', ['-d', '-c', file], { stdio: ['ignore', 'ignore', 'ignore'] }),
  );
  report('images.xz.kernel.native.MBps', megabytes / nativeXz, 'MB/s');
  await rm(file, { force: true });
}

await benchDecompress();
benchCpu(report);
await benchBoot(report);
await benchBlk(report);
await benchNet(report);
