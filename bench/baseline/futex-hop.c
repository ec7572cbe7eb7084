// The C floor under acquireAsync's wake path (bench/lib/async-handover.ts):
// how long a cross-process FUTEX_WAKE takes to reach
//   direct: a thread of the other process blocked in FUTEX_WAIT (acquire()'s path);
//   hop:    a helper thread of the other process in futex_waitv, which then
//           writes an eventfd that the process's main thread sleeps on in
//           epoll_wait (the path of the native waiter thread -> uv_async_send ->
//           the event loop), i.e. one more thread wake-up;
//   uring:  an io_uring IORING_OP_FUTEX_WAIT (Linux >= 6.7) submitted by the
//           main thread, whose registered eventfd the main thread sleeps on in
//           epoll_wait: no helper thread (the alternative weighed in waiter.cc).
// Rounds alternate the three. Prints one JSON line: medians and p90 in ms.
// Usage: futex-hop <rounds> [settle-ms]  (settle: how long the waiter sleeps before each wake,
// default 2; bench/async-trace.ts's JS harness lets it sleep 20 ms)
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/io_uring.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX_32
#define FUTEX_32 2
#endif

struct waitv { uint64_t val, uaddr; uint32_t flags, reserved; };

#define OP_FUTEX_WAIT 51  // IORING_OP_FUTEX_WAIT (Linux 6.7; this machine's uapi header predates it)

// A minimal io_uring without liburing: one ring, one request in flight.
struct ring {
  int fd;
  unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe* sqes;
  struct io_uring_cqe* cqes;
};
static int ring_init(struct ring* r, int efd) {
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  r->fd = (int)syscall(SYS_io_uring_setup, 4, &p);
  if (r->fd < 0) return -1;
  size_t sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  size_t cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  size_t len = sq_len > cq_len ? sq_len : cq_len;  // IORING_FEAT_SINGLE_MMAP (5.4+)
  uint8_t* sq = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  if (sq == MAP_FAILED) return -1;
  r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (r->sqes == MAP_FAILED) return -1;
  r->sq_tail = (unsigned*)(sq + p.sq_off.tail);
  r->sq_mask = (unsigned*)(sq + p.sq_off.ring_mask);
  r->sq_array = (unsigned*)(sq + p.sq_off.array);
  r->cq_head = (unsigned*)(sq + p.cq_off.head);
  r->cq_tail = (unsigned*)(sq + p.cq_off.tail);
  r->cq_mask = (unsigned*)(sq + p.cq_off.ring_mask);
  r->cqes = (struct io_uring_cqe*)(sq + p.cq_off.cqes);
  return (int)syscall(SYS_io_uring_register, r->fd, IORING_REGISTER_EVENTFD, &efd, 1);
}
static int ring_futex_wait(struct ring* r, volatile uint32_t* word, uint32_t val) {
  unsigned tail = *r->sq_tail;
  unsigned idx = tail & *r->sq_mask;
  struct io_uring_sqe* sqe = &r->sqes[idx];
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = OP_FUTEX_WAIT;
  sqe->fd = FUTEX_32;                      // futex2 flags: 32-bit, shared
  sqe->addr = (uint64_t)(uintptr_t)word;
  sqe->off = val;                          // addr2: the expected value
  sqe->addr3 = 0xffffffffu;                // FUTEX_BITSET_MATCH_ANY
  sqe->user_data = 1;
  r->sq_array[idx] = idx;
  __atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
  return (int)syscall(SYS_io_uring_enter, r->fd, 1, 0, 0, NULL, 0);
}
static int ring_reap(struct ring* r) {
  unsigned head = *r->cq_head;
  if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) return 1;  // nothing yet
  int res = r->cqes[head & *r->cq_mask].res;
  __atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
  return res;
}

struct shared {
  volatile uint32_t word;     // the "lock word" the waker wakes (direct)
  volatile uint32_t word2;    // the same for the hop path (its own word: the helper must not wake on direct rounds)
  volatile uint32_t word3;    // the same for the io_uring path
  volatile uint32_t uring_ok; // the child could set up io_uring
  volatile uint32_t ready;    // waiter -> waker: asleep (1), done (2)
  volatile int64_t woke_ns;   // waiter's CLOCK_MONOTONIC after it woke
  volatile uint32_t mode;     // 0 direct, 1 hop, 2 uring, 3 quit
  volatile uint32_t go;       // waker -> waiter: next round
};

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
static long futex(volatile uint32_t* addr, int op, uint32_t val) {
  return syscall(SYS_futex, addr, op, val, NULL, NULL, 0);
}
static void wait_until(volatile uint32_t* addr, uint32_t want) {
  for (uint32_t v; (v = __atomic_load_n(addr, __ATOMIC_SEQ_CST)) != want;) futex(addr, FUTEX_WAIT, v);
}
static void store_wake(volatile uint32_t* addr, uint32_t v) {
  __atomic_store_n(addr, v, __ATOMIC_SEQ_CST);
  futex(addr, FUTEX_WAKE, 1 << 30);
}

static struct shared* s;
static int efd;

static void* helper(void* arg) {
  (void)arg;
  for (;;) {
    struct waitv w = {0, (uint64_t)(uintptr_t)&s->word2, FUTEX_32, 0};
    // waits while word2 == 0
    long rc = syscall(SYS_futex_waitv, &w, 1, 0, NULL, 0);
    if (rc < 0 && errno != EAGAIN) continue;
    if (__atomic_load_n(&s->word2, __ATOMIC_SEQ_CST) == 0) continue;
    uint64_t one = 1;
    if (write(efd, &one, 8) != 8) abort();
    // wait for the round to be reset before sleeping again
    wait_until(&s->word2, 0);
  }
  return NULL;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}
static double pct(double* v, int n, double p) {
  double r = p * (n - 1);
  int lo = (int)r, hi = lo + (r > lo);
  return v[lo] + (v[hi] - v[lo]) * (r - lo);
}

int main(int argc, char** argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 200;
  long settle_ms = argc > 2 ? atol(argv[2]) : 2;
  if (settle_ms < 1 || settle_ms > 999) {
    fprintf(stderr, "futex-hop: settle-ms must be 1..999\n");
    return 2;
  }
  s = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (s == MAP_FAILED) return 1;
  memset((void*)s, 0, sizeof *s);
  if (syscall(SYS_futex_waitv, NULL, 0, 0, NULL, 0) != -1 || errno != EINVAL) {
    printf("{\"available\":false,\"reason\":\"futex_waitv: %s\"}\n", strerror(errno));
    return 0;
  }
  pid_t child = fork();
  if (child == 0) {
    efd = eventfd(0, EFD_NONBLOCK);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = efd};
    epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev);
    pthread_t t;
    pthread_create(&t, NULL, helper, NULL);
    int uefd = eventfd(0, EFD_NONBLOCK);
    struct ring ring;
    memset(&ring, 0, sizeof ring);
    int uring_ok = ring_init(&ring, uefd) == 0;
    int uep = epoll_create1(0);
    struct epoll_event uev = {.events = EPOLLIN, .data.fd = uefd};
    epoll_ctl(uep, EPOLL_CTL_ADD, uefd, &uev);
    s->uring_ok = uring_ok;
    for (uint32_t round = 1;; round++) {
      wait_until(&s->go, round);
      uint32_t mode = s->mode;
      if (mode == 3) _exit(0);
      if (mode == 2) {
        if (ring_futex_wait(&ring, &s->word3, 0) != 1) abort();
        store_wake(&s->ready, 1);
        for (;;) {
          struct epoll_event out;
          if (epoll_wait(uep, &out, 1, -1) != 1) continue;
          uint64_t n;
          if (read(uefd, &n, 8) != 8) continue;
          if (ring_reap(&ring) != 1) break;  // res 0: woken; -EAGAIN: the value had changed
        }
      } else if (mode == 0) {
        store_wake(&s->ready, 1);
        while (__atomic_load_n(&s->word, __ATOMIC_SEQ_CST) == 0) futex(&s->word, FUTEX_WAIT, 0);
      } else {
        store_wake(&s->ready, 1);
        struct epoll_event out;
        while (epoll_wait(ep, &out, 1, -1) != 1) {}
        uint64_t n;
        if (read(efd, &n, 8) != 8) abort();
      }
      s->woke_ns = now_ns();
      store_wake(&s->ready, 2);
    }
  }
  double* direct = calloc(rounds, sizeof(double));
  double* hop = calloc(rounds, sizeof(double));
  double* uring = calloc(rounds, sizeof(double));
  // the child reports whether io_uring works once it runs a round; wait for its set-up
  struct timespec boot = {0, 50 * 1000 * 1000};
  nanosleep(&boot, NULL);
  uint32_t go = 0;
  struct timespec settle = {0, settle_ms * 1000 * 1000};
  for (int i = 0; i < rounds; i++) {
    for (uint32_t mode = 0; mode < (s->uring_ok ? 3u : 2u); mode++) {
      s->word = 0;
      s->word3 = 0;
      store_wake(&s->word2, 0);  // lets the helper re-arm
      s->ready = 0;
      s->mode = mode;
      store_wake(&s->go, ++go);
      wait_until(&s->ready, 1);
      nanosleep(&settle, NULL);  // let it fall asleep
      int64_t t0 = now_ns();
      store_wake(mode == 0 ? &s->word : mode == 1 ? &s->word2 : &s->word3, 1);
      wait_until(&s->ready, 2);
      double ms = (double)(s->woke_ns - t0) / 1e6;
      (mode == 0 ? direct : mode == 1 ? hop : uring)[i] = ms;
    }
  }
  s->mode = 3;
  store_wake(&s->go, ++go);
  waitpid(child, NULL, 0);
  qsort(direct, rounds, sizeof(double), cmp);
  qsort(hop, rounds, sizeof(double), cmp);
  qsort(uring, rounds, sizeof(double), cmp);
  printf("{\"available\":true,\"rounds\":%d,\"directMsMedian\":%.5f,\"directMsP90\":%.5f,\"hopMsMedian\":%.5f,\"hopMsP90\":%.5f", rounds,
         pct(direct, rounds, 0.5), pct(direct, rounds, 0.9), pct(hop, rounds, 0.5), pct(hop, rounds, 0.9));
  if (s->uring_ok) printf(",\"uringMsMedian\":%.5f,\"uringMsP90\":%.5f}\n", pct(uring, rounds, 0.5), pct(uring, rounds, 0.9));
  else printf(",\"uring\":\"unavailable\"}\n");
  return 0;
}
