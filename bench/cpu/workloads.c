/*
 * CPU benchmark workloads. Each is built as a static, freestanding x86-64 Linux program:
 * _start runs the workload and exits with the exit system call. The same bytes run natively,
 * under QEMU's TCG (qemu-x86_64) and in Xenotype's interpreter, so instruction counts agree.
 * General-purpose registers only (-mgeneral-regs-only), no library calls.
 */
typedef unsigned long u64;
typedef unsigned int u32;
typedef unsigned char u8;

#ifndef WORKLOAD
#error "define WORKLOAD"
#endif

static u8 buffer_a[1 << 16];
static u8 buffer_b[1 << 16];
#define PAGING_BYTES (64ul << 20)
static u8 paging_area[PAGING_BYTES];

volatile u64 result;

/* 1: integer arithmetic in registers. */
static u64 integer_loop(u64 n) {
  u64 a = 1, b = 2, c = 3;
  for (u64 i = 0; i < n; i++) {
    a += b ^ i;
    b = (b << 1) | (c >> 63);
    c -= a & 0xff;
    asm volatile("" : "+r"(a), "+r"(b), "+r"(c));
  }
  return a + b + c;
}

/* 2: copy and compare 64 KiB buffers, a word at a time. */
static u64 memory_loop(u64 rounds) {
  u64 *a = (u64 *)buffer_a, *b = (u64 *)buffer_b, differences = 0;
  for (u64 i = 0; i < sizeof buffer_a / 8; i++) a[i] = i * 0x9e3779b97f4a7c15ul;
  for (u64 r = 0; r < rounds; r++) {
    for (u64 i = 0; i < sizeof buffer_a / 8; i++) b[i] = a[i] + r;
    for (u64 i = 0; i < sizeof buffer_a / 8; i++) differences += b[i] != a[i];
    asm volatile("" ::: "memory");
  }
  return differences;
}

/* 3: a branchy kernel: LZ77-style compression with a hash table over generated text. */
static u32 table[4096];
static u64 compress_loop(u64 rounds) {
  u8 *in = buffer_a, *out = buffer_b;
  u32 seed = 12345;
  for (u32 i = 0; i < sizeof buffer_a; i++) {
    seed = seed * 1103515245 + 12345;
    in[i] = "the quick brown fox jumps over the lazy dog "[(seed >> 16) % 44];
  }
  u64 total = 0;
  for (u64 r = 0; r < rounds; r++) {
    for (u32 i = 0; i < 4096; i++) table[i] = 0;
    u32 ip = 0, op = 0;
    while (ip + 8 < sizeof buffer_a && op + 16 < sizeof buffer_b) {
      u32 sequence = in[ip] | in[ip + 1] << 8 | in[ip + 2] << 16 | (u32)in[ip + 3] << 24;
      u32 hash = (sequence * 2654435761u) >> 20;
      u32 candidate = table[hash];
      table[hash] = ip;
      u32 length = 0;
      if (candidate < ip && ip - candidate < 65535) {
        while (ip + length < sizeof buffer_a && length < 255 && in[candidate + length] == in[ip + length]) length++;
      }
      if (length >= 4) {
        out[op++] = 0x80 | (length & 0x7f);
        out[op++] = (ip - candidate) & 0xff;
        out[op++] = (ip - candidate) >> 8;
        ip += length;
      } else {
        out[op++] = in[ip++];
      }
    }
    total += op;
  }
  return total;
}

/* 4: paging: random reads across 64 MiB, a TLB miss nearly every access. */
static u64 paging_loop(u64 n) {
  u64 x = 88172645463325252ul, sum = 0;
  for (u64 i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    sum += paging_area[x % PAGING_BYTES];
    paging_area[(x >> 3) % PAGING_BYTES] = (u8)i;
  }
  return sum;
}

static u64 run(void) {
#if WORKLOAD == 1
  return integer_loop(ITERATIONS);
#elif WORKLOAD == 2
  return memory_loop(ITERATIONS);
#elif WORKLOAD == 3
  return compress_loop(ITERATIONS);
#else
  return paging_loop(ITERATIONS);
#endif
}

void _start(void) {
  result = run();
  asm volatile("mov $60, %%eax\n\txor %%edi, %%edi\n\tsyscall" ::: "memory");
  for (;;) {
  }
}
