/*
 * Xenotype native runner: runs x86-64 snippets on the host CPU, for the CPU differential
 * tests. Driven by native.ts; entry/exit trampolines are in trampoline.S.
 *
 * Layout (the emulator side reproduces it):
 *   0x10000000  64 KiB RWX  code: the snippet, then the runner's exit stub
 *                           `jmp *pad(%rip); .zero pad; .quad xr_snippet_exit` (pad 0..7
 *                           puts the pointer on an 8-byte boundary, so AC cannot fault it),
 *                           then zeros. Reaching the stub is the snippet's normal end.
 *   0x20000000  64 KiB RW   data: the case's bytes, then zeros
 *   0x30000000  64 KiB RW   stack: zeros; RSP is whatever the case says (default 0x30008000)
 *   FS and GS bases are 0 while the snippet runs (when the host has FSGSBASE).
 *   Any system call made from the code region (syscall, int $0x80) is refused by a seccomp
 *   filter and ends the case with SIGSYS, so a snippet cannot touch the runner's pipes.
 *
 * All integers below are little-endian.
 *
 * Input on stdin: a 20-byte header, then `count` cases.
 *   header: u32 magic 0x31524e58 ("XNR1"), u32 count, u32 timeout_us (user CPU time per case,
 *           0 = 250 ms), u32 first (the number of the first case, for messages), u32 crash_at
 *           (test hook: fault on purpose, outside any snippet, before running case number
 *           crash_at; 0xffffffff = never)
 *   case:   u32 code_len (<= 61440), u32 data_len (<= 65536), u64 rflags,
 *           u64 gpr[16] (rax rcx rdx rbx rsp rbp rsi rdi r8 .. r15), u8 fxsave[512],
 *           u8 code[code_len], u8 data[data_len]
 *
 * Output on stdout: one record per case, in order.
 *   off   0  u32 magic 0x53455258 ("XRES")
 *   off   4  u32 record length in bytes (header + chunks)
 *   off   8  u32 status: 0 = reached the end of the snippet, 1 = signal, 2 = timeout,
 *                       3 = invalid input (err: 1 = MXCSR has bits outside MXCSR_MASK)
 *   off  12  u32 signal number (0 if none)
 *   off  16  i32 hardware vector (ucontext REG_TRAPNO; -1 for SIGSYS / timeout / none)
 *   off  20  u32 error code (REG_ERR)
 *   off  24  u64 address: CR2 for a page fault (vector 14), else siginfo si_addr
 *   off  32  i32 si_code
 *   off  36  u32 reserved (0)
 *   off  40  u64 gpr[16]       at the end of the snippet or at the fault
 *   off 168  u64 rip           the exit stub's address, or the fault's RIP from the ucontext
 *   off 176  u64 rflags
 *   off 184  u8 fxsave[512]    FXSAVE64 image (from the ucontext's fpstate after a signal)
 *   off 696  u32 data chunk count, u32 stack chunk count
 *   off 704  chunks, data first then stack: u32 offset, u32 length, u8 bytes[length]
 *            -- the 32-byte-granular ranges of the region that differ from its initial
 *            contents (the case's data / zeros); everything else is unchanged.
 *
 * A fault outside a snippet is a runner bug: it prints the case number on stderr and dies
 * with the signal, so the driver can report it.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE_BASE 0x10000000UL
#define DATA_BASE 0x20000000UL
#define STACK_BASE 0x30000000UL
#define REGION_SIZE 0x10000UL
#define MAX_CODE 61440U
#define BLOCK 32U
#define IN_MAGIC 0x31524e58U
#define OUT_MAGIC 0x53455258U
#define CASE_HEADER_LEN (4 + 4 + 8 + 16 * 8 + 512)
#define RECORD_HEADER_LEN 704U

enum { ST_OK = 0, ST_SIGNAL = 1, ST_TIMEOUT = 2, ST_INVALID = 3 };

/* Shared with trampoline.S. */
uint64_t xr_case_gpr[16];
uint64_t xr_case_rflags;
uint8_t xr_case_fxsave[512] __attribute__((aligned(64)));
uint64_t xr_out_gpr[16];
uint64_t xr_out_rflags;
uint8_t xr_out_fxsave[512] __attribute__((aligned(64)));
uint64_t xr_host_rsp;
uint64_t xr_code_entry = CODE_BASE;
uint64_t xr_host_fsbase, xr_host_gsbase;
uint16_t xr_host_ds, xr_host_es, xr_host_fs, xr_host_gs;
uint32_t xr_default_mxcsr = 0x1f80;
volatile uint32_t xr_in_snippet;
uint8_t xr_have_avx, xr_have_fsgsbase;

extern int xr_run_snippet(void);
extern char xr_snippet_exit[], xr_snippet_exit_end[], xr_fault_resume[];
extern void xr_signal_entry(int, siginfo_t *, void *);
void xr_on_signal(int sig, siginfo_t *si, void *ctx);

/* What the signal handler saw. */
static struct {
  uint32_t status, signo, err;
  int32_t vector, si_code;
  uint64_t addr, gpr[16], rip, rflags;
  uint8_t fxsave[512];
} fault;

static uint32_t current_case;
static uint64_t exit_rip; /* RIP after a normal exit: the exit stub */
static uint8_t *const code_region = (uint8_t *)CODE_BASE;
static uint8_t *const data_region = (uint8_t *)DATA_BASE;
static uint8_t *const stack_region = (uint8_t *)STACK_BASE;
static uint8_t data_init[REGION_SIZE] __attribute__((aligned(64)));
static const uint8_t zeros[REGION_SIZE] __attribute__((aligned(64)));
static uint32_t mxcsr_mask = 0xffbf;

/* ---- async-signal-safe diagnostics ---- */

static void put_str(char *buf, size_t *n, const char *s) {
  while (*s && *n < 255) buf[(*n)++] = *s++;
}

static void put_hex(char *buf, size_t *n, uint64_t v) {
  char tmp[19];
  int i = 18;
  tmp[i] = 0;
  do {
    tmp[--i] = "0123456789abcdef"[v & 15];
    v >>= 4;
  } while (v && i > 2);
  tmp[--i] = 'x';
  tmp[--i] = '0';
  put_str(buf, n, tmp + i);
}

static void put_dec(char *buf, size_t *n, uint64_t v) {
  char tmp[21];
  int i = 20;
  tmp[i] = 0;
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  put_str(buf, n, tmp + i);
}

/* ---- signals ---- */

static int is_async(int sig) { return sig == SIGVTALRM; }

void xr_on_signal(int sig, siginfo_t *si, void *ctx) {
  ucontext_t *uc = ctx;
  greg_t *g = uc->uc_mcontext.gregs;
  uint64_t rip = (uint64_t)g[REG_RIP];
  int in_exit_stub = rip >= (uint64_t)xr_snippet_exit && rip < (uint64_t)xr_snippet_exit_end;
  if (!xr_in_snippet || in_exit_stub) {
    if (is_async(sig)) return; /* the timer fired just as the snippet ended */
    char buf[256];
    size_t n = 0;
    put_str(buf, &n, "runner: fault outside a snippet: signal ");
    put_dec(buf, &n, (uint64_t)sig);
    put_str(buf, &n, " at rip ");
    put_hex(buf, &n, rip);
    put_str(buf, &n, ", address ");
    put_hex(buf, &n, (uint64_t)si->si_addr);
    put_str(buf, &n, ", while on case ");
    put_dec(buf, &n, current_case);
    put_str(buf, &n, "\n");
    (void)!write(2, buf, n);
    signal(sig, SIG_DFL); /* returning re-executes the fault, which now kills the process */
    return;
  }
  xr_in_snippet = 0;

  fault.status = is_async(sig) ? ST_TIMEOUT : ST_SIGNAL;
  fault.signo = (uint32_t)sig;
  fault.si_code = si->si_code;
  if (is_async(sig) || sig == SIGSYS) {
    fault.vector = -1;
    fault.err = 0;
    fault.addr = sig == SIGSYS ? (uint64_t)si->si_call_addr : 0;
  } else {
    fault.vector = (int32_t)g[REG_TRAPNO];
    fault.err = (uint32_t)g[REG_ERR];
    fault.addr = fault.vector == 14 ? (uint64_t)g[REG_CR2] : (uint64_t)si->si_addr;
  }
  static const int order[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
                                REG_RSI, REG_RDI, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                REG_R12, REG_R13, REG_R14, REG_R15};
  for (int i = 0; i < 16; i++) fault.gpr[i] = (uint64_t)g[order[i]];
  fault.rip = rip;
  fault.rflags = (uint64_t)g[REG_EFL];
  if (uc->uc_mcontext.fpregs)
    memcpy(fault.fxsave, uc->uc_mcontext.fpregs, 512);
  else
    memset(fault.fxsave, 0, 512);

  /* Return into xr_fault_resume on the host stack, in 64-bit mode, with sane flags. */
  g[REG_RIP] = (greg_t)(uint64_t)xr_fault_resume;
  g[REG_RSP] = (greg_t)xr_host_rsp;
  g[REG_EFL] = 0x202;
  uint64_t csgsfs = (uint64_t)g[REG_CSGSFS];
  csgsfs = (csgsfs & ~0xffffULL) | 0x33;                         /* __USER_CS */
  csgsfs = (csgsfs & ~(0xffffULL << 48)) | (0x2bULL << 48);      /* __USER_DS as SS */
  g[REG_CSGSFS] = (greg_t)csgsfs;
}

static void install_handlers(void) {
  static uint8_t altstack[256 * 1024] __attribute__((aligned(64)));
  stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
  if (sigaltstack(&ss, NULL) != 0) {
    perror("runner: sigaltstack");
    exit(2);
  }
  const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGVTALRM};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = xr_signal_entry;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigfillset(&sa.sa_mask);
    if (sigaction(sigs[i], &sa, NULL) != 0) {
      perror("runner: sigaction");
      exit(2);
    }
  }
}

/* Refuse (SIGSYS) every system call whose instruction pointer is in the code region. */
static void install_seccomp(void) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer) + 4),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 4),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)CODE_BASE, 0, 2),
      BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)(CODE_BASE + REGION_SIZE), 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {.len = sizeof filter / sizeof filter[0], .filter = filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    perror("runner: seccomp");
    exit(2);
  }
}

/* ---- host state ---- */

static void map_region(uint64_t base, int prot) {
  void *p = mmap((void *)base, REGION_SIZE, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                 -1, 0);
  if (p != (void *)base) {
    fprintf(stderr, "runner: cannot map 64 KiB at %#lx (%s)\n", (unsigned long)base,
            p == MAP_FAILED ? strerror(errno) : "kernel ignored MAP_FIXED_NOREPLACE");
    exit(2);
  }
}

static void probe_host(void) {
  unsigned a, b, c, d;
  if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE) && (c & bit_AVX)) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xr_have_avx = (lo & 6) == 6;
  }
#ifndef HWCAP2_FSGSBASE
#define HWCAP2_FSGSBASE (1 << 1)
#endif
  xr_have_fsgsbase = (getauxval(AT_HWCAP2) & HWCAP2_FSGSBASE) != 0;
  if (xr_have_fsgsbase) {
    __asm__ volatile("rdfsbase %0" : "=r"(xr_host_fsbase));
    __asm__ volatile("rdgsbase %0" : "=r"(xr_host_gsbase));
  } else {
    syscall(SYS_arch_prctl, 0x1003 /* ARCH_GET_FS */, &xr_host_fsbase);
    syscall(SYS_arch_prctl, 0x1004 /* ARCH_GET_GS */, &xr_host_gsbase);
  }
  __asm__ volatile("mov %%ds, %0" : "=r"(xr_host_ds));
  __asm__ volatile("mov %%es, %0" : "=r"(xr_host_es));
  __asm__ volatile("mov %%fs, %0" : "=r"(xr_host_fs));
  __asm__ volatile("mov %%gs, %0" : "=r"(xr_host_gs));
  static uint8_t image[512] __attribute__((aligned(64)));
  __asm__ volatile("fxsave64 %0" : "=m"(image));
  uint32_t mask;
  memcpy(&mask, image + 28, 4);
  if (mask) mxcsr_mask = mask;
}

/* ---- buffered I/O ---- */

static uint8_t in_buf[1 << 20];
static size_t in_len, in_pos;

static void read_exact(void *dst, size_t n) {
  uint8_t *d = dst;
  while (n) {
    if (in_pos == in_len) {
      ssize_t r = read(0, in_buf, sizeof in_buf);
      if (r <= 0) {
        fprintf(stderr, "runner: input ends early (case %u)\n", current_case);
        exit(2);
      }
      in_len = (size_t)r;
      in_pos = 0;
    }
    size_t k = in_len - in_pos < n ? in_len - in_pos : n;
    memcpy(d, in_buf + in_pos, k);
    in_pos += k;
    d += k;
    n -= k;
  }
}

static uint8_t *out_buf;
static size_t out_len, out_cap;

static void flush_out(void) {
  size_t done = 0;
  while (done < out_len) {
    ssize_t w = write(1, out_buf + done, out_len - done);
    if (w <= 0) {
      perror("runner: write");
      exit(2);
    }
    done += (size_t)w;
  }
  out_len = 0;
}

static uint8_t *reserve(size_t n) {
  if (out_len + n > out_cap) {
    flush_out();
    if (n > out_cap) {
      out_cap = n;
      out_buf = realloc(out_buf, out_cap);
      if (!out_buf) {
        perror("runner: realloc");
        exit(2);
      }
    }
  }
  uint8_t *p = out_buf + out_len;
  out_len += n;
  return p;
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* ---- region diffs ---- */

typedef struct {
  uint32_t offset, length;
} chunk_t;

static int block_differs(const uint8_t *a, const uint8_t *b) {
  uint64_t x[4], y[4];
  memcpy(x, a, BLOCK);
  memcpy(y, b, BLOCK);
  return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3])) != 0;
}

/* Ranges (multiples of BLOCK) where now differs from init; returns their count. */
static uint32_t diff_region(const uint8_t *now, const uint8_t *init, chunk_t *out) {
  uint32_t count = 0;
  if (memcmp(now, init, REGION_SIZE) == 0) return 0;
  for (uint32_t i = 0; i < REGION_SIZE;) {
    if (!block_differs(now + i, init + i)) {
      i += BLOCK;
      continue;
    }
    uint32_t start = i;
    while (i < REGION_SIZE && block_differs(now + i, init + i)) i += BLOCK;
    out[count++] = (chunk_t){start, i - start};
  }
  return count;
}

static chunk_t data_chunks[REGION_SIZE / BLOCK], stack_chunks[REGION_SIZE / BLOCK];
/* The previous case's data length and diffs: what the next case must undo. */
static uint32_t prev_data_len, prev_data_n, prev_stack_n;

/* ---- one case ---- */

static void emit_record(uint32_t status, uint32_t data_n, uint32_t stack_n) {
  size_t len = RECORD_HEADER_LEN + 8 * ((size_t)data_n + stack_n);
  for (uint32_t i = 0; i < data_n; i++) len += data_chunks[i].length;
  for (uint32_t i = 0; i < stack_n; i++) len += stack_chunks[i].length;
  uint8_t *r = reserve(len);
  memset(r, 0, RECORD_HEADER_LEN);
  put32(r + 0, OUT_MAGIC);
  put32(r + 4, (uint32_t)len);
  put32(r + 8, status);
  if (status == ST_OK) {
    put32(r + 16, (uint32_t)-1);
    for (int i = 0; i < 16; i++) put64(r + 40 + 8 * i, xr_out_gpr[i]);
    put64(r + 168, exit_rip);
    put64(r + 176, xr_out_rflags);
    memcpy(r + 184, xr_out_fxsave, 512);
  } else if (status == ST_INVALID) {
    put32(r + 16, (uint32_t)-1);
    put32(r + 20, fault.err);
  } else {
    put32(r + 12, fault.signo);
    put32(r + 16, (uint32_t)fault.vector);
    put32(r + 20, fault.err);
    put64(r + 24, fault.addr);
    put32(r + 32, (uint32_t)fault.si_code);
    for (int i = 0; i < 16; i++) put64(r + 40 + 8 * i, fault.gpr[i]);
    put64(r + 168, fault.rip);
    put64(r + 176, fault.rflags);
    memcpy(r + 184, fault.fxsave, 512);
  }
  put32(r + 696, data_n);
  put32(r + 700, stack_n);
  uint8_t *p = r + RECORD_HEADER_LEN;
  for (uint32_t i = 0; i < data_n; i++) {
    put32(p, data_chunks[i].offset);
    put32(p + 4, data_chunks[i].length);
    memcpy(p + 8, data_region + data_chunks[i].offset, data_chunks[i].length);
    p += 8 + data_chunks[i].length;
  }
  for (uint32_t i = 0; i < stack_n; i++) {
    put32(p, stack_chunks[i].offset);
    put32(p + 4, stack_chunks[i].length);
    memcpy(p + 8, stack_region + stack_chunks[i].offset, stack_chunks[i].length);
    p += 8 + stack_chunks[i].length;
  }
}

static void run_case(uint32_t timeout_us) {
  uint8_t head[CASE_HEADER_LEN];
  read_exact(head, sizeof head);
  uint32_t code_len, data_len;
  memcpy(&code_len, head, 4);
  memcpy(&data_len, head + 4, 4);
  memcpy(&xr_case_rflags, head + 8, 8);
  memcpy(xr_case_gpr, head + 16, 128);
  memcpy(xr_case_fxsave, head + 144, 512);
  if (code_len > MAX_CODE || data_len > REGION_SIZE) {
    fprintf(stderr, "runner: case %u: code %u / data %u bytes is too long\n", current_case,
            code_len, data_len);
    exit(2);
  }

  /* A fresh code region every time (a snippet may write anywhere in it): code, stub, zeros. */
  memset(code_region, 0, REGION_SIZE);
  read_exact(code_region, code_len);
  /* jmp *disp(%rip) to an 8-byte aligned pointer, so that it cannot raise #AC. */
  uint32_t pad = (8 - (code_len + 6) % 8) % 8;
  static const uint8_t jmp_rip[2] = {0xff, 0x25};
  memcpy(code_region + code_len, jmp_rip, 2);
  memcpy(code_region + code_len + 2, &pad, 4);
  uint64_t exit_addr = (uint64_t)xr_snippet_exit;
  memcpy(code_region + code_len + 6 + pad, &exit_addr, 8);
  /*
   * Data and stack: only what the last case's data covered or its run changed (its diff)
   * can differ from the fresh state, so only that is rewritten.
   */
  read_exact(data_init, data_len);
  if (prev_data_len > data_len) memset(data_init + data_len, 0, prev_data_len - data_len);
  memcpy(data_region, data_init, data_len > prev_data_len ? data_len : prev_data_len);
  for (uint32_t i = 0; i < prev_data_n; i++)
    memcpy(data_region + data_chunks[i].offset, data_init + data_chunks[i].offset,
           data_chunks[i].length);
  for (uint32_t i = 0; i < prev_stack_n; i++)
    memset(stack_region + stack_chunks[i].offset, 0, stack_chunks[i].length);
  prev_data_len = data_len;
  prev_data_n = prev_stack_n = 0;

  uint32_t mxcsr;
  memcpy(&mxcsr, xr_case_fxsave + 24, 4);
  if (mxcsr & ~mxcsr_mask) {
    fault.err = 1;
    emit_record(ST_INVALID, 0, 0);
    return;
  }

  struct itimerval timer = {.it_interval = {0, 0},
                            .it_value = {timeout_us / 1000000, timeout_us % 1000000}};
  setitimer(ITIMER_VIRTUAL, &timer, NULL);
  int faulted = xr_run_snippet();
  timer.it_value = (struct timeval){0, 0};
  setitimer(ITIMER_VIRTUAL, &timer, NULL);

  uint32_t data_n = prev_data_n = diff_region(data_region, data_init, data_chunks);
  uint32_t stack_n = prev_stack_n = diff_region(stack_region, zeros, stack_chunks);
  if (faulted) {
    emit_record(fault.status, data_n, stack_n);
  } else {
    exit_rip = CODE_BASE + code_len;
    emit_record(ST_OK, data_n, stack_n);
  }
}

int main(int argc, char **argv) {
  (void)argc;
  /* The kernel places the brk heap of a static program anywhere in the first GiB when it
   * randomizes the address space, sometimes over the fixed regions below. Run once more
   * without randomization, so the layout is the same every time. */
  int persona = personality(0xffffffff);
  if (persona != -1 && !(persona & ADDR_NO_RANDOMIZE)) {
    personality(persona | ADDR_NO_RANDOMIZE);
    execv("/proc/self/exe", argv); /* on failure, carry on randomized */
  }
  map_region(CODE_BASE, PROT_READ | PROT_WRITE | PROT_EXEC);
  map_region(DATA_BASE, PROT_READ | PROT_WRITE);
  map_region(STACK_BASE, PROT_READ | PROT_WRITE);
  out_cap = 8u << 20;
  out_buf = malloc(out_cap);
  if (!out_buf) return 2;
  probe_host();
  install_handlers();

  uint32_t header[5];
  read_exact(header, sizeof header);
  if (header[0] != IN_MAGIC) {
    fprintf(stderr, "runner: bad input magic %#x\n", header[0]);
    return 2;
  }
  uint32_t count = header[1];
  uint32_t timeout_us = header[2] ? header[2] : 250000;
  uint32_t first = header[3], crash_at = header[4];

  install_seccomp();
  for (current_case = first; current_case - first < count; current_case++) {
    if (current_case == crash_at) {
      static volatile uint32_t *volatile bad_pointer = (volatile uint32_t *)8;
      *bad_pointer = 0; /* the test hook: a runner bug */
    }
    run_case(timeout_us);
  }
  flush_out();
  return 0;
}
