/**
 * The xenbus side of one backend device, shared by blkback and netback: the state machine
 * towards the frontend (InitWait, Connected, Closing, Closed, and back to InitWait when a
 * closed frontend starts over), one frontend state change handled at a time, and the fatal
 * path: a frontend that breaks the protocol loses this device, nothing else.
 */
import {
  XenbusStateClosed,
  XenbusStateClosing,
  XenbusStateConnected,
  XenbusStateInitialised,
  XenbusStateInitialising,
  XenbusStateInitWait,
} from '../../abi/io/xenbus.js';
import type { LocalClient } from '../xenstored/index.js';
import type { BackendDevice } from './driver.js';

export abstract class XenbusDevice implements BackendDevice {
  protected frontendPath = '';
  protected state = 0;
  private closed = false;
  private changes = Promise.resolve();

  constructor(
    protected readonly xenbus: { store: LocalClient; log(line: string): void },
    /** /local/domain/0/backend/<kind>/<domid>/<devid> */
    readonly path: string,
    readonly domid: number,
    readonly devid: number,
  ) {}

  abstract start(): Promise<void>;
  /** Who the device is in log lines ("blkback: d1 device 51712"). */
  protected abstract get label(): string;
  /** Whether the rings are up. */
  protected abstract get connected(): boolean;
  /** Maps the frontend's rings and binds its event channels (Connected follows). */
  protected abstract connect(): Promise<void>;
  /** Lets go of the rings and event channels. */
  protected abstract disconnect(): Promise<void>;

  /** Writes the features, says InitWait and follows the frontend's state from then on. */
  protected async waitForFrontend(features: Record<string, string>): Promise<void> {
    const { store } = this.xenbus;
    this.frontendPath = await store.read(`${this.path}/frontend`);
    for (const [key, value] of Object.entries(features)) {
      await store.write(`${this.path}/${key}`, value);
    }
    await this.switchState(XenbusStateInitWait);
    await store.watch(`${this.frontendPath}/state`, this.token, () => {
      this.changes = this.changes
        .then(() => this.frontendChanged())
        .catch((error) => this.xenbus.log(`${this.label}: ${String(error)}`));
    });
  }

  /** The toolstack takes the device away (online=0): Closing tells the frontend. */
  async remove(): Promise<void> {
    if (this.state !== XenbusStateClosed) await this.switchState(XenbusStateClosing);
  }

  async destroy(): Promise<void> {
    this.closed = true;
    if (this.frontendPath !== '') {
      await this.xenbus.store.unwatch(`${this.frontendPath}/state`, this.token).catch(() => {});
    }
    await this.disconnect();
  }

  /** The device cannot go on: say why, release it, and close towards the frontend. */
  protected async fatal(why: string): Promise<void> {
    this.xenbus.log(`${this.label}: ${why}; device closed`);
    await this.xenbus.store.write(`${this.path}/hotplug-error`, why).catch(() => {});
    await this.disconnect().catch(() => {});
    await this.switchState(XenbusStateClosing).catch(() => {});
  }

  protected async switchState(state: number): Promise<void> {
    if (this.state === state) return;
    this.state = state;
    await this.xenbus.store.write(`${this.path}/state`, String(state));
  }

  private get token(): string {
    return `backend:${this.path}`;
  }

  private async frontendChanged(): Promise<void> {
    if (this.closed) return;
    const raw = await this.xenbus.store.tryRead(`${this.frontendPath}/state`);
    const state = Number(raw ?? XenbusStateClosed);
    try {
      switch (state) {
        case XenbusStateInitialising:
          // A frontend starting over (a driver reloaded) after it had closed.
          if (this.state === XenbusStateClosed) await this.switchState(XenbusStateInitWait);
          break;
        case XenbusStateInitialised:
        case XenbusStateConnected:
          if (!this.connected && this.state === XenbusStateInitWait) {
            await this.connect();
            await this.switchState(XenbusStateConnected);
          }
          break;
        case XenbusStateClosing:
          await this.disconnect();
          await this.switchState(XenbusStateClosing);
          break;
        case XenbusStateClosed:
          await this.disconnect();
          await this.switchState(XenbusStateClosed);
          break;
      }
    } catch (error) {
      await this.fatal(error instanceof Error ? error.message : String(error));
    }
  }
}

/** A number the frontend wrote in the store. */
export function readNumber(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n)) {
    throw new Error(`not a number: ${JSON.stringify(text)}`);
  }
  return n;
}
