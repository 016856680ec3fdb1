/*
 * Xenotype KVM runner: runs small system-level x86-64 guests in a KVM virtual machine, for
 * the CPU's system differential tests (paging, exceptions, interrupts, mode switches).
 * Driven by kvm.ts, which runs the same cases on the emulator.
 *
 * Every case gets a fresh VM: its own 64 MiB of zeroed guest-physical memory at address 0, one
 * vCPU with a CPUID that advertises what the emulator implements, no in-kernel irqchip (so HLT
 * exits to us). The case's memory chunks are copied in, the architectural state is set, and the
 * vCPU runs until HLT, port I/O, an MMIO access (above 64 MiB), a shutdown (triple fault), or
 * the case's wall-clock timeout. Then its state and the memory it asked for are written back.
 *
 * All integers are little-endian.
 *
 * The state block (STATE_LEN = 416 bytes), in the input and the output:
 *   off   0  u64 gpr[16]  rax rcx rdx rbx rsp rbp rsi rdi r8 .. r15
 *   off 128  u64 rip, rflags, cr0, cr2, cr3, cr4, cr8, efer
 *   off 192  8 segments ES CS SS DS FS GS LDTR TR, 24 bytes each:
 *            u64 base, u32 limit (byte granular), u32 selector, u32 attributes, u32 0
 *            attributes as VMX access rights (and Xenotype's Cpu.segAttr): type 0-3, S 4,
 *            DPL 5-6, P 7, AVL 12, L 13, D/B 14, G 15, unusable 16
 *   off 384  u64 gdt base, u64 gdt limit, u64 idt base, u64 idt limit
 *
 * Input on stdin: a 32-byte header, then `count` cases.
 *   header: u32 magic 0x31564b58 ("XKV1"), u32 count, u32 first (the number of the first
 *           case, for messages), u32 0, then the CPUID masks: u32 leaf 1 ECX, u32 leaf 1 EDX,
 *           u32 leaf 0x80000001 ECX, u32 leaf 0x80000001 EDX (the emulator's policy). The
 *           guest's CPUID is KVM_GET_SUPPORTED_CPUID with these leaves masked, leaves 7 and 0xd
 *           zeroed (no structured extended features, no XSAVE), KVM's own leaves removed.
 *   case:   u32 chunk_count, u32 dump_count, u32 msr_count, u32 timeout_ms (0 = 1000),
 *           u64 read_value (the data an IN or MMIO read gets), state block,
 *           msr_count × { u32 index, u32 0, u64 value },
 *           chunk_count × { u64 gpa, u32 length, u32 0, u8 bytes[length], zeros to 8 },
 *           dump_count × { u64 gpa, u32 length, u32 0 }
 *   Chunks and dumps must lie inside guest memory.
 *
 * Output on stdout: one record per case, in order.
 *   off   0  u32 magic 0x53524b58 ("XKRS")
 *   off   4  u32 record length in bytes
 *   off   8  u32 exit: 0 HLT, 1 port I/O, 2 MMIO, 3 shutdown, 4 timeout, 5 entry failure,
 *                     6 KVM internal error, 7 another KVM exit, 8 setup rejected by KVM
 *   off  12  u32 KVM's exit reason (exit 8: the setup step that failed, see `enum step`)
 *   off  16  u32 I/O port (exit 1)
 *   off  20  u32 access size in bytes (exits 1, 2)
 *   off  24  u32 1 for OUT / MMIO write, else 0
 *   off  28  u32 errno (exit 8), REP count (exit 1)
 *   off  32  u64 data written (OUT, MMIO write) or read (the case's read_value)
 *   off  40  u64 guest-physical address (MMIO), hardware entry failure reason (exit 5),
 *                KVM internal error suberror (exit 6)
 *   off  48  u64 0, u64 0
 *   off  64  state block at the end
 *   off 480  msr_count × { u32 index, u32 0, u64 value }   the case's MSRs read back
 *   then     the dumps' bytes in order, each padded with zeros to 8
 *
 * Port I/O and MMIO accesses are completed before the state is read (KVM_RUN again with
 * immediate_exit, as the KVM API documents), so RIP is past the instruction and an IN has its
 * data. After a shutdown the register state is whatever KVM left (SVM resets the vCPU): only
 * memory is meaningful.
 *
 * An unusable input or a KVM that cannot even create a VM is a runner error: a line on stderr
 * and exit status 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <unistd.h>

#define MEM_SIZE (64u << 20)
#define IN_MAGIC 0x31564b58u
#define OUT_MAGIC 0x53524b58u
#define STATE_LEN 416u
#define RECORD_HEADER_LEN 64u
#define MAX_MSRS 64u
#define MAX_DUMPS 256u

enum exit_kind {
  X_HLT = 0,
  X_IO = 1,
  X_MMIO = 2,
  X_SHUTDOWN = 3,
  X_TIMEOUT = 4,
  X_FAIL_ENTRY = 5,
  X_INTERNAL = 6,
  X_OTHER = 7,
  X_REJECTED = 8,
};

/* Setup steps, reported with X_REJECTED. */
enum step {
  S_CREATE_VM = 1,
  S_MEMORY = 2,
  S_CREATE_VCPU = 3,
  S_CPUID = 4,
  S_SREGS = 5,
  S_REGS = 6,
  S_MSRS = 7,
  S_RUN = 8,
  S_GET_STATE = 9,
};

struct seg {
  uint64_t base;
  uint32_t limit, selector, attr, zero;
};

struct state {
  uint64_t gpr[16];
  uint64_t rip, rflags, cr0, cr2, cr3, cr4, cr8, efer;
  struct seg seg[8];
  uint64_t gdt_base, gdt_limit, idt_base, idt_limit;
};
_Static_assert(sizeof(struct state) == STATE_LEN, "state block layout");

struct msr_entry_in {
  uint32_t index, zero;
  uint64_t value;
};

static int kvm_fd;
static int run_size;
static struct kvm_cpuid2 *cpuid;
static uint32_t current_case;
static struct kvm_run *volatile current_run;

static void die(const char *what) {
  fprintf(stderr, "kvm-runner: case %u: %s: %s\n", current_case, what, strerror(errno));
  exit(2);
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
        fprintf(stderr, "kvm-runner: input ends early (case %u)\n", current_case);
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

static void write_all(const void *src, size_t n) {
  const uint8_t *s = src;
  while (n) {
    ssize_t w = write(1, s, n);
    if (w <= 0) die("write");
    s += w;
    n -= (size_t)w;
  }
}

/* ---- CPUID ---- */

/* Leaf masks from the input header: the emulator's policy (src/x86/policy.ts). */
static uint32_t leaf1_ecx, leaf1_edx, ext1_ecx, ext1_edx;

static void setup_cpuid(void) {
  int n = 128;
  for (;;) {
    cpuid = calloc(1, sizeof *cpuid + (size_t)n * sizeof cpuid->entries[0]);
    if (!cpuid) die("calloc");
    cpuid->nent = (uint32_t)n;
    if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0) break;
    if (errno != E2BIG) die("KVM_GET_SUPPORTED_CPUID");
    free(cpuid);
    n *= 2;
  }
  uint32_t out = 0;
  for (uint32_t i = 0; i < cpuid->nent; i++) {
    struct kvm_cpuid_entry2 e = cpuid->entries[i];
    if (e.function >= 0x40000000u && e.function < 0x80000000u) continue; /* KVM's own leaves */
    switch (e.function) {
      case 1:
        e.ecx &= leaf1_ecx;
        e.edx &= leaf1_edx;
        break;
      case 7:
      case 0xd:
        e.eax = e.ebx = e.ecx = e.edx = 0; /* no structured extended features, no XSAVE */
        break;
      case 0x80000001:
        e.ecx &= ext1_ecx;
        e.edx &= ext1_edx;
        break;
    }
    cpuid->entries[out++] = e;
  }
  cpuid->nent = out;
}

/* ---- state conversion ---- */

static void to_kvm_segment(const struct seg *s, struct kvm_segment *k) {
  memset(k, 0, sizeof *k);
  k->base = s->base;
  k->limit = s->limit;
  k->selector = (uint16_t)s->selector;
  k->type = s->attr & 0xf;
  k->s = (s->attr >> 4) & 1;
  k->dpl = (s->attr >> 5) & 3;
  k->present = (s->attr >> 7) & 1;
  k->avl = (s->attr >> 12) & 1;
  k->l = (s->attr >> 13) & 1;
  k->db = (s->attr >> 14) & 1;
  k->g = (s->attr >> 15) & 1;
  k->unusable = (s->attr >> 16) & 1;
}

static void from_kvm_segment(const struct kvm_segment *k, struct seg *s) {
  s->base = k->base;
  s->limit = k->limit;
  s->selector = k->selector;
  s->attr = (uint32_t)(k->type & 0xf) | (uint32_t)(k->s & 1) << 4 | (uint32_t)(k->dpl & 3) << 5 |
            (uint32_t)(k->present & 1) << 7 | (uint32_t)(k->avl & 1) << 12 |
            (uint32_t)(k->l & 1) << 13 | (uint32_t)(k->db & 1) << 14 |
            (uint32_t)(k->g & 1) << 15 | (uint32_t)(k->unusable & 1) << 16;
  s->zero = 0;
}

static void to_kvm(const struct state *st, struct kvm_regs *r, struct kvm_sregs *sr) {
  memset(r, 0, sizeof *r);
  r->rax = st->gpr[0];
  r->rcx = st->gpr[1];
  r->rdx = st->gpr[2];
  r->rbx = st->gpr[3];
  r->rsp = st->gpr[4];
  r->rbp = st->gpr[5];
  r->rsi = st->gpr[6];
  r->rdi = st->gpr[7];
  r->r8 = st->gpr[8];
  r->r9 = st->gpr[9];
  r->r10 = st->gpr[10];
  r->r11 = st->gpr[11];
  r->r12 = st->gpr[12];
  r->r13 = st->gpr[13];
  r->r14 = st->gpr[14];
  r->r15 = st->gpr[15];
  r->rip = st->rip;
  r->rflags = st->rflags | 2;
  struct kvm_segment *segs[8] = {&sr->es, &sr->cs, &sr->ss, &sr->ds,
                                 &sr->fs, &sr->gs, &sr->ldt, &sr->tr};
  for (int i = 0; i < 8; i++) to_kvm_segment(&st->seg[i], segs[i]);
  sr->gdt.base = st->gdt_base;
  sr->gdt.limit = (uint16_t)st->gdt_limit;
  sr->idt.base = st->idt_base;
  sr->idt.limit = (uint16_t)st->idt_limit;
  sr->cr0 = st->cr0;
  sr->cr2 = st->cr2;
  sr->cr3 = st->cr3;
  sr->cr4 = st->cr4;
  sr->cr8 = st->cr8;
  sr->efer = st->efer;
}

static void from_kvm(const struct kvm_regs *r, const struct kvm_sregs *sr, struct state *st) {
  memset(st, 0, sizeof *st);
  const uint64_t gpr[16] = {r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi, r->rdi,
                            r->r8,  r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15};
  memcpy(st->gpr, gpr, sizeof gpr);
  st->rip = r->rip;
  st->rflags = r->rflags;
  const struct kvm_segment *segs[8] = {&sr->es, &sr->cs, &sr->ss, &sr->ds,
                                       &sr->fs, &sr->gs, &sr->ldt, &sr->tr};
  for (int i = 0; i < 8; i++) from_kvm_segment(segs[i], &st->seg[i]);
  st->gdt_base = sr->gdt.base;
  st->gdt_limit = sr->gdt.limit;
  st->idt_base = sr->idt.base;
  st->idt_limit = sr->idt.limit;
  st->cr0 = sr->cr0;
  st->cr2 = sr->cr2;
  st->cr3 = sr->cr3;
  st->cr4 = sr->cr4;
  st->cr8 = sr->cr8;
  st->efer = sr->efer;
}

/* ---- the timeout ---- */

static void on_alarm(int sig) {
  (void)sig;
  struct kvm_run *run = current_run;
  if (run) run->immediate_exit = 1;
}

static void arm(uint32_t ms) {
  struct itimerval t = {.it_interval = {0, 0}, .it_value = {ms / 1000, (ms % 1000) * 1000}};
  setitimer(ITIMER_REAL, &t, NULL);
}

/* ---- one case ---- */

struct result {
  uint32_t exit, reason, port, size, write, aux;
  uint64_t value, address;
};

struct vm {
  int fd, vcpu;
  uint8_t *mem;
  struct kvm_run *run;
};

static void destroy(struct vm *vm) {
  current_run = NULL;
  if (vm->run) munmap(vm->run, (size_t)run_size);
  if (vm->vcpu >= 0) close(vm->vcpu);
  if (vm->fd >= 0) close(vm->fd);
  if (vm->mem) munmap(vm->mem, MEM_SIZE);
}

/* Runs KVM_RUN once more without entering the guest, to complete a pending I/O or MMIO. */
static void complete_pending(struct vm *vm) {
  vm->run->immediate_exit = 1;
  if (ioctl(vm->vcpu, KVM_RUN, 0) == 0 || errno != EINTR) {
    fprintf(stderr, "kvm-runner: case %u: completing an exit did not return EINTR\n",
            current_case);
    exit(2);
  }
}

static void run_vcpu(struct vm *vm, uint32_t timeout_ms, uint64_t read_value, struct result *res) {
  struct kvm_run *run = vm->run;
  current_run = run;
  arm(timeout_ms);
  int r = ioctl(vm->vcpu, KVM_RUN, 0);
  int saved = errno;
  arm(0);
  if (r < 0) {
    if (saved == EINTR) {
      res->exit = X_TIMEOUT;
      return;
    }
    res->exit = X_REJECTED;
    res->reason = S_RUN;
    res->aux = (uint32_t)saved;
    return;
  }
  res->reason = run->exit_reason;
  switch (run->exit_reason) {
    case KVM_EXIT_HLT:
      res->exit = X_HLT;
      break;
    case KVM_EXIT_IO: {
      res->exit = X_IO;
      res->port = run->io.port;
      res->size = run->io.size;
      res->write = run->io.direction == KVM_EXIT_IO_OUT;
      res->aux = run->io.count;
      uint8_t *data = (uint8_t *)run + run->io.data_offset;
      if (res->write) {
        memcpy(&res->value, data, run->io.size <= 8 ? run->io.size : 8);
      } else {
        for (uint32_t i = 0; i < run->io.count; i++)
          memcpy(data + (size_t)i * run->io.size, &read_value, run->io.size);
        res->value = read_value;
      }
      complete_pending(vm);
      break;
    }
    case KVM_EXIT_MMIO:
      res->exit = X_MMIO;
      res->address = run->mmio.phys_addr;
      res->size = run->mmio.len;
      res->write = run->mmio.is_write;
      if (res->write) {
        memcpy(&res->value, run->mmio.data, run->mmio.len <= 8 ? run->mmio.len : 8);
      } else {
        memcpy(run->mmio.data, &read_value, 8);
        res->value = read_value;
      }
      complete_pending(vm);
      break;
    case KVM_EXIT_SHUTDOWN:
      res->exit = X_SHUTDOWN;
      break;
    case KVM_EXIT_FAIL_ENTRY:
      res->exit = X_FAIL_ENTRY;
      res->address = run->fail_entry.hardware_entry_failure_reason;
      break;
    case KVM_EXIT_INTERNAL_ERROR:
      res->exit = X_INTERNAL;
      res->address = run->internal.suberror;
      break;
    case KVM_EXIT_INTR:
      res->exit = X_TIMEOUT;
      break;
    default:
      res->exit = X_OTHER;
      break;
  }
}

static void run_case(void) {
  uint32_t head[4];
  uint64_t read_value;
  struct state st;
  read_exact(head, sizeof head);
  read_exact(&read_value, 8);
  read_exact(&st, sizeof st);
  uint32_t chunks = head[0], dumps = head[1], msr_count = head[2];
  uint32_t timeout_ms = head[3] ? head[3] : 1000;
  if (msr_count > MAX_MSRS || dumps > MAX_DUMPS) {
    fprintf(stderr, "kvm-runner: case %u: %u MSRs / %u dumps is too many\n", current_case,
            msr_count, dumps);
    exit(2);
  }
  static struct msr_entry_in msrs_in[MAX_MSRS];
  read_exact(msrs_in, msr_count * sizeof msrs_in[0]);

  struct vm vm = {.fd = -1, .vcpu = -1, .mem = NULL, .run = NULL};
  struct result res;
  memset(&res, 0, sizeof res);
  vm.mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (vm.mem == MAP_FAILED) die("mmap guest memory");
  for (uint32_t i = 0; i < chunks; i++) {
    uint64_t c[2];
    read_exact(c, sizeof c);
    uint64_t gpa = c[0];
    uint32_t len = (uint32_t)c[1];
    if (gpa > MEM_SIZE || len > MEM_SIZE - gpa) {
      fprintf(stderr, "kvm-runner: case %u: chunk at %#llx+%#x is outside guest memory\n",
              current_case, (unsigned long long)gpa, len);
      exit(2);
    }
    read_exact(vm.mem + gpa, len);
    uint8_t pad[8];
    read_exact(pad, (8 - len % 8) % 8);
  }
  static uint64_t dump_list[MAX_DUMPS][2];
  read_exact(dump_list, dumps * sizeof dump_list[0]);
  for (uint32_t i = 0; i < dumps; i++) {
    uint64_t gpa = dump_list[i][0];
    uint32_t len = (uint32_t)dump_list[i][1];
    if (gpa > MEM_SIZE || len > MEM_SIZE - gpa) {
      fprintf(stderr, "kvm-runner: case %u: dump at %#llx+%#x is outside guest memory\n",
              current_case, (unsigned long long)gpa, len);
      exit(2);
    }
  }

  struct kvm_regs regs;
  struct kvm_sregs sregs;
  static struct {
    struct kvm_msrs head;
    struct kvm_msr_entry entries[MAX_MSRS];
  } msrs;
  enum step failed = 0;

  vm.fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
  if (vm.fd < 0) die("KVM_CREATE_VM");
  (void)ioctl(vm.fd, KVM_SET_TSS_ADDR, 0xfffbd000ul); /* VMX real mode only; harmless elsewhere */
  struct kvm_userspace_memory_region region = {
      .slot = 0, .flags = 0, .guest_phys_addr = 0, .memory_size = MEM_SIZE,
      .userspace_addr = (uint64_t)vm.mem};
  if (ioctl(vm.fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  vm.vcpu = ioctl(vm.fd, KVM_CREATE_VCPU, 0);
  if (vm.vcpu < 0) die("KVM_CREATE_VCPU");
  vm.run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vm.vcpu, 0);
  if (vm.run == MAP_FAILED) {
    vm.run = NULL;
    die("mmap kvm_run");
  }

  if (ioctl(vm.vcpu, KVM_SET_CPUID2, cpuid) < 0) {
    failed = S_CPUID;
    goto rejected;
  }
  if (ioctl(vm.vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  to_kvm(&st, &regs, &sregs);
  memset(sregs.interrupt_bitmap, 0, sizeof sregs.interrupt_bitmap);
  if (ioctl(vm.vcpu, KVM_SET_SREGS, &sregs) < 0) {
    failed = S_SREGS;
    goto rejected;
  }
  if (ioctl(vm.vcpu, KVM_SET_REGS, &regs) < 0) {
    failed = S_REGS;
    goto rejected;
  }
  memset(&msrs, 0, sizeof msrs);
  msrs.head.nmsrs = msr_count;
  for (uint32_t i = 0; i < msr_count; i++) {
    msrs.entries[i].index = msrs_in[i].index;
    msrs.entries[i].data = msrs_in[i].value;
  }
  if (msr_count && ioctl(vm.vcpu, KVM_SET_MSRS, &msrs) != (int)msr_count) {
    failed = S_MSRS;
    goto rejected;
  }

  run_vcpu(&vm, timeout_ms, read_value, &res);

  if (ioctl(vm.vcpu, KVM_GET_REGS, &regs) < 0 || ioctl(vm.vcpu, KVM_GET_SREGS, &sregs) < 0) {
    failed = S_GET_STATE;
    goto rejected;
  }
  from_kvm(&regs, &sregs, &st);
  if (msr_count && ioctl(vm.vcpu, KVM_GET_MSRS, &msrs) != (int)msr_count) {
    failed = S_GET_STATE;
    goto rejected;
  }
  goto emit;

rejected:
  res.exit = X_REJECTED;
  res.reason = failed;
  res.aux = (uint32_t)errno;
  memset(&st, 0, sizeof st);
  for (uint32_t i = 0; i < msr_count; i++) msrs.entries[i].data = 0;

emit:;
  size_t dump_bytes = 0;
  for (uint32_t i = 0; i < dumps; i++) dump_bytes += (dump_list[i][1] + 7) & ~7ull;
  size_t len = RECORD_HEADER_LEN + STATE_LEN + 16 * (size_t)msr_count + dump_bytes;
  uint8_t *rec = calloc(1, len);
  if (!rec) die("calloc");
  uint32_t h32[8] = {OUT_MAGIC, (uint32_t)len, res.exit,  res.reason,
                     res.port,  res.size,      res.write, res.aux};
  memcpy(rec, h32, sizeof h32);
  memcpy(rec + 32, &res.value, 8);
  memcpy(rec + 40, &res.address, 8);
  memcpy(rec + RECORD_HEADER_LEN, &st, STATE_LEN);
  uint8_t *p = rec + RECORD_HEADER_LEN + STATE_LEN;
  for (uint32_t i = 0; i < msr_count; i++, p += 16) {
    memcpy(p, &msrs_in[i].index, 4);
    memcpy(p + 8, &msrs.entries[i].data, 8);
  }
  for (uint32_t i = 0; i < dumps; i++) {
    uint32_t n = (uint32_t)dump_list[i][1];
    memcpy(p, vm.mem + dump_list[i][0], n);
    p += (n + 7) & ~7u;
  }
  write_all(rec, len);
  free(rec);
  destroy(&vm);
}

int main(void) {
  kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm_fd < 0) die("open /dev/kvm");
  if (ioctl(kvm_fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
    fprintf(stderr, "kvm-runner: unexpected KVM API version\n");
    return 2;
  }
  run_size = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
  if (run_size <= 0) die("KVM_GET_VCPU_MMAP_SIZE");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm; /* no SA_RESTART: KVM_RUN returns EINTR */
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGALRM, &sa, NULL) != 0) die("sigaction");

  uint32_t header[8];
  read_exact(header, sizeof header);
  if (header[0] != IN_MAGIC) {
    fprintf(stderr, "kvm-runner: bad input magic %#x\n", header[0]);
    return 2;
  }
  uint32_t count = header[1], first = header[2];
  leaf1_ecx = header[4];
  leaf1_edx = header[5];
  ext1_ecx = header[6];
  ext1_edx = header[7];
  setup_cpuid();
  for (current_case = first; current_case - first < count; current_case++) run_case();
  return 0;
}
