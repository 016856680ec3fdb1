// The CPUID a domain's vCPUs see: Xen's leaves and the guest topology.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { domainCpuPolicy } from './cpuid.js';

describe('domain CPUID', () => {
  const policy = domainCpuPolicy(7);
  const leaf = (n: number, sub = 0, vcpu = 0) => {
    const r = policy.cpuid(n, sub, vcpu);
    assert.ok(r !== undefined);
    return { eax: r.eax >>> 0, ebx: r.ebx >>> 0, ecx: r.ecx >>> 0, edx: r.edx >>> 0 };
  };

  test("Xen's leaves name the hypervisor, the vCPU and the domain", () => {
    const signature = leaf(0x40000000);
    assert.equal(signature.ebx, 0x566e6558);
    assert.deepEqual([leaf(0x40000004, 0, 3).ebx, leaf(0x40000004).ecx], [3, 7]);
  });

  test('the vCPUs are cores of one package, without SMT, as Xen lays them out', () => {
    const one = leaf(1, 0, 5);
    assert.ok(one.edx & (1 << 28), 'HTT: leaf 1 counts logical processors');
    const logical = (one.ebx >> 16) & 0xff;
    assert.equal(one.ebx >>> 24, 5, 'initial APIC ID');
    // Linux's detect_ht: the package is the APIC ID above the logical-processor bits, and
    // threads per core are logical processors over leaf 4's cores per package.
    const caches = [0, 1, 2, 3, 4].map((sub) => leaf(4, sub));
    const cores = (caches[0]!.eax >>> 26) + 1;
    assert.equal(logical / cores, 1, 'one thread per core');
    for (const apicId of [0, 1, 5, 63]) {
      assert.equal(apicId >> Math.ceil(Math.log2(logical)), 0, `APIC ID ${apicId}: package 0`);
    }
    // The caches: L1 data and instruction, L2, L3, then the null type that ends the list.
    assert.deepEqual(
      caches.map((c) => [c.eax & 0x1f, (c.eax >> 5) & 7]),
      [
        [1, 1],
        [2, 1],
        [3, 2],
        [3, 3],
        [0, 0],
      ],
    );
    for (const c of caches.slice(0, 4)) {
      assert.equal(c.eax >>> 26, cores - 1, 'every cache level gives the same core count');
      const bytes =
        ((c.ebx >>> 22) + 1) * (((c.ebx >> 12) & 0x3ff) + 1) * ((c.ebx & 0xfff) + 1) * (c.ecx + 1);
      assert.ok(bytes >= 32 * 1024, `${bytes} bytes`);
    }
  });
});
