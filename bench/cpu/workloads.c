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

/*
 * 5: cold code: 4096 distinct small functions called in turn, each once a round, as a kernel
 * runs its timer tick between other work. A round's code and data are too large to stay in
 * an emulator's caches, and below the compile threshold every block is interpreted.
 */
static u64 cold_state[4096];
#define COLD(a, b, c)                                                  \
  static __attribute__((noipa)) u64 cold_##a##_##b##_##c(u64 x) {      \
    u64 *slot = &cold_state[((a) * 256 + (b) * 16 + (c)) * 7 % 4096]; \
    *slot += x ^ ((a) * 256 + (b) * 16 + (c));                         \
    return (*slot >> 3) + (x << 1);                                    \
  }
#define COLD16(a, b) COLD(a, b, 0) COLD(a, b, 1) COLD(a, b, 2) COLD(a, b, 3) COLD(a, b, 4) COLD(a, b, 5) COLD(a, b, 6) COLD(a, b, 7) COLD(a, b, 8) COLD(a, b, 9) COLD(a, b, 10) COLD(a, b, 11) COLD(a, b, 12) COLD(a, b, 13) COLD(a, b, 14) COLD(a, b, 15)
#define COLD256(a) COLD16(a, 0) COLD16(a, 1) COLD16(a, 2) COLD16(a, 3) COLD16(a, 4) COLD16(a, 5) COLD16(a, 6) COLD16(a, 7) COLD16(a, 8) COLD16(a, 9) COLD16(a, 10) COLD16(a, 11) COLD16(a, 12) COLD16(a, 13) COLD16(a, 14) COLD16(a, 15)
COLD256(0) COLD256(1) COLD256(2) COLD256(3) COLD256(4) COLD256(5) COLD256(6) COLD256(7)
COLD256(8) COLD256(9) COLD256(10) COLD256(11) COLD256(12) COLD256(13) COLD256(14) COLD256(15)
#define CALL(a, b, c) x = cold_##a##_##b##_##c(x);
#define CALL16(a, b) CALL(a, b, 0) CALL(a, b, 1) CALL(a, b, 2) CALL(a, b, 3) CALL(a, b, 4) CALL(a, b, 5) CALL(a, b, 6) CALL(a, b, 7) CALL(a, b, 8) CALL(a, b, 9) CALL(a, b, 10) CALL(a, b, 11) CALL(a, b, 12) CALL(a, b, 13) CALL(a, b, 14) CALL(a, b, 15)
#define CALL256(a) CALL16(a, 0) CALL16(a, 1) CALL16(a, 2) CALL16(a, 3) CALL16(a, 4) CALL16(a, 5) CALL16(a, 6) CALL16(a, 7) CALL16(a, 8) CALL16(a, 9) CALL16(a, 10) CALL16(a, 11) CALL16(a, 12) CALL16(a, 13) CALL16(a, 14) CALL16(a, 15)

static u64 cold_loop(u64 rounds) {
  u64 x = 1;
  for (u64 r = 0; r < rounds; r++) {
    CALL256(0) CALL256(1) CALL256(2) CALL256(3) CALL256(4) CALL256(5) CALL256(6) CALL256(7)
    CALL256(8) CALL256(9) CALL256(10) CALL256(11) CALL256(12) CALL256(13) CALL256(14) CALL256(15)
  }
  return x;
}

static u64 run(void) {
#if WORKLOAD == 1
  return integer_loop(ITERATIONS);
#elif WORKLOAD == 2
  return memory_loop(ITERATIONS);
#elif WORKLOAD == 3
  return compress_loop(ITERATIONS);
#elif WORKLOAD == 5
  return cold_loop(ITERATIONS);
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
