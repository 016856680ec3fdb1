// The vif layout against a real xenstored: libxl 4.17's keys, values and permissions for both
// ends, the refusal of a devid in use, the cleanup on destroy, and the toolstack's NIC calls
// (attach, list as libxl_device_nic_getinfo reads it, the safe remove) over the same store.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { Dom0 } from '../index.js';
import { type LocalClient, Xenstored } from '../xenstored/index.js';
import { FakeDomains } from '../xenstored/testkit.js';
import { createLibxl } from './libxl.js';
import {
  addNicStore,
  type NicDevice,
  NicExistsError,
  nextNicDevid,
  nicBackendPath,
  nicFrontendPath,
  nicFrontends,
  removeNicStores,
} from './nic-store.js';
import { LibxlError, ToolstackError } from './types.js';

const DOMID = 3;

let xs: Xenstored;
let store: LocalClient;

beforeEach(async () => {
  const domains = new FakeDomains();
  domains.create(DOMID);
  xs = new Xenstored({ log: () => {}, domains });
  store = xs.connectLocal();
  // libxl__domain_make's device directory: Dom0's, readable by the guest.
  await store.mkdir(`/local/domain/${DOMID}/device`);
  await store.setPerms(`/local/domain/${DOMID}`, ['n0', `r${DOMID}`]);
  await store.setPerms(`/local/domain/${DOMID}/device`, ['n0', `r${DOMID}`]);
});

afterEach(async () => {
  await xs.close();
});

const NIC: NicDevice = {
  devid: 0,
  mac: '00:16:3e:12:34:56',
  bridge: 'xenbr0',
  mtu: 1500,
  script: '/etc/xen/scripts/vif-bridge',
};

/** Every node under `dir`: its value and permissions as xenstore-ls -p shows them. */
async function dump(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const key of await store.directory(dir)) {
    const path = `${dir}/${key}`;
    const perms = (await store.getPerms(path)).map((p) => {
      const letter = ['n', 'r', 'w', 'b'][p.perms & 3];
      return `${letter}${p.id}`;
    });
    out[key] = `${await store.read(path)} (${perms.join(',')})`;
  }
  return out;
}

describe("a vif's directories", () => {
  test('a default NIC: the nodes libxl writes for a PVH guest, owned as libxl owns them', async () => {
    const backend = await addNicStore(store, DOMID, NIC);
    assert.equal(backend, '/local/domain/0/backend/vif/3/0');
    assert.equal(nicBackendPath(DOMID, 0), backend);
    const be = 'n0,r3';
    assert.deepEqual(await dump(backend), {
      frontend: `/local/domain/3/device/vif/0 (${be})`,
      'frontend-id': `3 (${be})`,
      online: `1 (${be})`,
      state: `1 (${be})`,
      script: `/etc/xen/scripts/vif-bridge (${be})`,
      mac: `00:16:3e:12:34:56 (${be})`,
      bridge: `xenbr0 (${be})`,
      handle: `0 (${be})`,
      type: `vif (${be})`,
    });
    assert.deepEqual(await store.getPerms(backend), [
      { id: 0, perms: 0 },
      { id: 3, perms: 1 },
    ]);
    const frontend = nicFrontendPath(DOMID, 0);
    const fe = 'n3,r0';
    assert.deepEqual(await dump(frontend), {
      backend: `/local/domain/0/backend/vif/3/0 (${fe})`,
      'backend-id': `0 (${fe})`,
      state: `1 (${fe})`,
      handle: `0 (${fe})`,
      mac: `00:16:3e:12:34:56 (${fe})`,
      trusted: `1 (${fe})`,
      // The guest reads its MTU but may not change it.
      mtu: '1500 (n0,r3)',
    });
    assert.deepEqual(await store.getPerms(frontend), [
      { id: 3, perms: 0 },
      { id: 0, perms: 1 },
    ]);
  });

  test('every optional setting: its node, in the backend, in libxl’s formats', async () => {
    await addNicStore(store, DOMID, {
      devid: 2,
      mac: '00:16:3e:00:00:02',
      bridge: 'br-lan',
      ip: '10.0.0.2 10.0.0.3',
      vifname: 'web0',
      gatewaydev: 'eth1',
      rate: { bytesPerInterval: 62500, intervalUsecs: 50000 },
      mtu: 9000,
      script: 'vif-route',
      trusted: false,
      colo: { forwarddev: 'eth9' },
    });
    const be = await dump(nicBackendPath(DOMID, 2));
    const values = Object.fromEntries(Object.entries(be).map(([k, v]) => [k, v.split(' (')[0]]));
    assert.deepEqual(values, {
      frontend: '/local/domain/3/device/vif/2',
      'frontend-id': '3',
      online: '1',
      state: '1',
      // libxl__abs_path: a bare name is one of Xen's scripts.
      script: '/etc/xen/scripts/vif-route',
      vifname: 'web0',
      forwarddev: 'eth9',
      mac: '00:16:3e:00:00:02',
      ip: '10.0.0.2 10.0.0.3',
      gatewaydev: 'eth1',
      rate: '62500,50000',
      mtu: '9000',
      bridge: 'br-lan',
      handle: '2',
      type: 'vif',
    });
    const fe = nicFrontendPath(DOMID, 2);
    assert.equal(await store.read(`${fe}/trusted`), '0');
    assert.equal(await store.read(`${fe}/mtu`), '9000');
    assert.equal(await store.read(`${fe}/handle`), '2');
  });

  test('a devid in use is refused and nothing is changed', async () => {
    await addNicStore(store, DOMID, NIC);
    await assert.rejects(
      addNicStore(store, DOMID, { ...NIC, mac: '00:16:3e:00:00:09', bridge: 'other' }),
      (e: unknown) =>
        e instanceof NicExistsError && e.message === 'device already exists in xenstore',
    );
    assert.equal(await store.read(`${nicBackendPath(DOMID, 0)}/bridge`), 'xenbr0');
    assert.equal(await store.read(`${nicFrontendPath(DOMID, 0)}/mac`), NIC.mac);
  });

  test('frontends in creation order, the next devid after the newest, and cleanup', async () => {
    assert.deepEqual(await nicFrontends(store, DOMID), []);
    assert.equal(await nextNicDevid(store, DOMID), 0);
    await addNicStore(store, DOMID, { ...NIC, devid: 5 });
    await addNicStore(store, DOMID, { ...NIC, devid: 1 });
    assert.deepEqual(await nicFrontends(store, DOMID), [
      '/local/domain/3/device/vif/5',
      '/local/domain/3/device/vif/1',
    ]);
    // libxl__device_nextid takes the last one listed, not the highest.
    assert.equal(await nextNicDevid(store, DOMID), 2);
    await removeNicStores(store, DOMID);
    assert.equal(await store.tryRead('/local/domain/0/backend/vif/3'), undefined);
    assert.equal(await store.tryRead('/local/domain/0/backend/vif'), '');
    assert.equal(await nextNicDevid(store, DOMID), 0);
  });
});

describe("the toolstack's NIC calls", () => {
  /** The toolstack over this store, with a hypervisor in which domain 3 exists. */
  function toolstack() {
    const ctrl = { domainInfo: async (domid: number) => (domid === DOMID ? {} : undefined) };
    return createLibxl({ store, ctrl } as unknown as Dom0, { log: () => {} });
  }

  test('addNic numbers the NIC, writes it and lists it as libxl_device_nic_getinfo does', async () => {
    const ts = toolstack();
    const first = await ts.addNic(DOMID, { ...NIC, devid: undefined });
    assert.deepEqual(first, {
      backend: '/local/domain/0/backend/vif/3/0',
      backendId: 0,
      frontend: '/local/domain/3/device/vif/0',
      frontendId: 3,
      devid: 0,
      mac: NIC.mac,
      state: 1,
      evtch: -1,
      rrefTx: -1,
      rrefRx: -1,
    });
    const second = await ts.addNic(DOMID, { ...NIC, devid: undefined, mac: '00:16:3e:00:00:01' });
    assert.equal(second.devid, 1);
    // What a connected netfront leaves in its directory.
    const fe = nicFrontendPath(DOMID, 1);
    await store.write(`${fe}/state`, '4');
    await store.write(`${fe}/event-channel`, '17');
    await store.write(`${fe}/tx-ring-ref`, '768');
    await store.write(`${fe}/rx-ring-ref`, '769');
    const list = await ts.listNics(DOMID);
    assert.deepEqual(
      list.map((n) => [n.devid, n.mac, n.state, n.evtch, n.rrefTx, n.rrefRx]),
      [
        [0, NIC.mac, 1, -1, -1, -1],
        [1, '00:16:3e:00:00:01', 4, 17, 768, 769],
      ],
    );
    await assert.rejects(
      ts.addNic(DOMID, { ...NIC, devid: 1 }),
      (e: unknown) =>
        e instanceof ToolstackError &&
        e.code === LibxlError.DEVICE_EXISTS &&
        e.message === 'Domain 3:device already exists in xenstore',
    );
    await assert.rejects(
      ts.addNic(9, NIC),
      (e: unknown) => e instanceof ToolstackError && e.code === LibxlError.DOMAIN_NOTFOUND,
    );
  });

  test('removeNic: offline and Closing, then gone once the backend reports Closed', async () => {
    const ts = toolstack();
    await ts.addNic(DOMID, NIC);
    const backend = nicBackendPath(DOMID, 0);
    const seen: string[] = [];
    // A backend that closes when asked, as netback does once the frontend has.
    await store.watch(`${backend}/state`, 'fake-netback', () => {
      void (async () => {
        const state = await store.tryRead(`${backend}/state`);
        if (state === '5') {
          seen.push(`online=${await store.read(`${backend}/online`)}`);
          await store.write(`${backend}/state`, '6');
        }
      })();
    });
    await ts.removeNic(DOMID, 0, { force: false });
    assert.deepEqual(seen, ['online=0']);
    assert.equal(await store.tryRead(backend), undefined);
    assert.equal(await store.tryRead(nicFrontendPath(DOMID, 0)), undefined);
    assert.deepEqual(await ts.listNics(DOMID), []);
    await assert.rejects(ts.removeNic(DOMID, 0, { force: false }), ToolstackError);
  });

  test('removeNic with force takes the directories away at once', async () => {
    const ts = toolstack();
    await ts.addNic(DOMID, { ...NIC, devid: 4 });
    await ts.removeNic(DOMID, 4, { force: true });
    assert.equal(await store.tryRead(nicBackendPath(DOMID, 4)), undefined);
    assert.equal(await store.tryRead(nicFrontendPath(DOMID, 4)), undefined);
  });
});
