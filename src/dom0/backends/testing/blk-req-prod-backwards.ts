/**
 * blkback against a frontend that moves req_prod back behind requests in flight. The case
 * could hang Dom0, so it runs in a worker thread (this module) with a deadline.
 */
import { isMainThread, parentPort, Worker } from 'node:worker_threads';
import { BLKIF_OP_READ } from '../../../abi/io/blkif.js';
import { XenbusStateClosing } from '../../../abi/io/xenbus.js';
import { BlkFront } from './blkfront.js';
import { diskWorks, goodDisk, image, removeImages } from './hostile.js';
import { BackendRig } from './rig.js';
import { settle, until } from './wait.js';

export interface WorkerResult {
  state: number;
  hotplugError: string | undefined;
  goodWorks: boolean;
  logs: string[];
}

/** Runs the case in a worker thread; fails if it does not answer within `ms`. */
export function reqProdBackwardsInWorker(ms: number): Promise<WorkerResult> {
  const scenario = 'blk-req-prod-backwards';
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL(import.meta.url), {
      resourceLimits: { maxOldGenerationSizeMb: 256 },
    });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`Dom0 hung: ${scenario} gave no answer in ${ms} ms`));
    }, ms);
    worker.once('message', (result: WorkerResult) => {
      clearTimeout(timer);
      void worker.terminate();
      resolve(result);
    });
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`Dom0 died in ${scenario}: ${error.message}`));
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${scenario}: worker exited with ${code} before answering`));
    });
  });
}

/**
 * Every slot of the ring holds a valid read; four are published and consumed, and held in
 * flight (the hypervisor's thread busy); then the frontend moves req_prod back by two and
 * notifies. ring.h's overflow check alone cannot see this (req_prod is still within a ring
 * of rsp_prod); a backend that takes req_prod - req_cons unchecked sees four thousand
 * million requests, and the slots it reads are all valid.
 */
async function reqProdBackwards(): Promise<WorkerResult> {
  const rig = await BackendRig.start({ threaded: true });
  try {
    const good = await goodDisk(await rig.guest());
    const h = await rig.guest();
    const bad = await BlkFront.attach(h, { image: await image('bad') });
    const ring = bad.rings[0]!;
    const gref = h.grant(h.page());
    for (let i = 0; i < ring.size; i++) {
      ring.writeSlot(
        i,
        BlkFront.readWrite(BLKIF_OP_READ, bad.id(), i * 8, [{ gref, first: 0, last: 7 }]),
      );
    }
    const release = rig.holdHypercalls();
    ring.reqProdPvt = 4;
    ring.push();
    h.notify(bad.ports[0]!);
    await until(
      'the backend to take the four requests',
      () => ring.reqEvent === ring.reqProdPvt + 1,
    );
    ring.reqProd = ring.reqProdPvt - 2;
    h.notify(bad.ports[0]!);
    await settle(20);
    release();
    await until(
      'the device to close',
      async () => (await bad.backendState()) === XenbusStateClosing,
    );
    let goodWorks = false;
    try {
      await diskWorks(good);
      goodWorks = true;
    } catch {}
    return {
      state: await bad.backendState(),
      hotplugError: await bad.hotplugError(),
      goodWorks,
      logs: rig.logs,
    };
  } finally {
    await rig.close();
    await removeImages();
  }
}

// In the worker thread: run the case and answer.
if (!isMainThread) parentPort?.postMessage(await reqProdBackwards());
