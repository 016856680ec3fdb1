/**
 * What every frontend of the kit does on xenstore: write its keys (with a test's changes),
 * set its xenbus state, follow the backend's, and close.
 */
import { XenbusStateClosed, XenbusStateClosing } from '../../../abi/io/xenbus.js';
import type { FakeGuest } from './guest.js';
import { until } from './wait.js';

/** Keys a test changes from what the frontend driver writes: undefined leaves a key out. */
export type KeyOverrides = Readonly<Record<string, string | undefined>>;

export abstract class Frontend {
  constructor(
    readonly guest: FakeGuest,
    /** /local/domain/0/backend/<kind>/<domid>/<devid> */
    readonly backend: string,
    /** /local/domain/<domid>/device/<kind>/<devid> */
    readonly frontend: string,
  ) {}

  /** The backend's xenbus state (0 if it wrote none). */
  async backendState(): Promise<number> {
    return Number((await this.guest.store.tryRead(`${this.backend}/state`)) ?? 0);
  }

  /** Waits until the backend is in `state`. */
  async waitBackend(state: number): Promise<void> {
    let last = 0;
    await until(
      () => `${this.backend} state ${state} (it is ${last})`,
      async () => {
        last = await this.backendState();
        if (last === state) return true;
        if (last === XenbusStateClosing && state < XenbusStateClosing) {
          const why = await this.hotplugError();
          throw new Error(`${this.backend} closed instead of reaching ${state}: ${why}`);
        }
        return false;
      },
    );
  }

  /** What the backend wrote to hotplug-error, if anything. */
  hotplugError(): Promise<string | undefined> {
    return this.guest.store.tryRead(`${this.backend}/hotplug-error`);
  }

  /** Sets the frontend's xenbus state. */
  setState(state: number): Promise<void> {
    return this.guest.store.write(`${this.frontend}/state`, String(state));
  }

  /**
   * Closes the device as a frontend being removed does (Closing, then Closed once the backend
   * has let go of the rings) and gives its grants and pages back.
   */
  async close(): Promise<void> {
    await this.setState(XenbusStateClosing);
    await until(
      `${this.backend} Closing`,
      async () => (await this.backendState()) >= XenbusStateClosing,
    );
    await this.setState(XenbusStateClosed);
    await this.waitBackend(XenbusStateClosed);
    this.release();
  }

  /** Ends the grants of the rings and buffers and frees their pages. */
  protected abstract release(): void;

  /** Ends a page's grant and frees it. */
  protected drop(page: { gfn: number; gref: number }): void {
    this.guest.endGrant(page.gref);
    this.guest.freePage(page.gfn);
  }

  /** Writes the frontend's keys, with a test's changes applied. */
  protected async writeKeys(keys: Map<string, string>, overrides: KeyOverrides): Promise<void> {
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) keys.delete(key);
      else keys.set(key, value);
    }
    for (const [key, value] of keys) {
      await this.guest.store.write(`${this.frontend}/${key}`, value);
    }
  }
}
