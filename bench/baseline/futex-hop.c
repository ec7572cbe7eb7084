// The C floor under acquireAsync's wake path (bench/lib/async-handover.ts):
// how long a cross-process FUTEX_WAKE takes to reach
//   direct: a thread of the other process blocked in FUTEX_WAIT (acquire()'s path);
//   hop:    a helper thread of the other process in futex_waitv, which then
//           writes an eventfd that the process's main thread sleeps on in
//           epoll_wait (the path of the native waiter thread -> uv_async_send ->
//           the event loop), i.e. one more thread wake-up.
// Rounds alternate the two. Prints one JSON line: medians and p90 in ms.
// Usage: futex-hop <rounds>
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

struct shared {
  volatile uint32_t word;     // the "lock word" the waker wakes (direct)
  volatile uint32_t word2;    // the same for the hop path (its own word: the helper must not wake on direct rounds)
  volatile uint32_t ready;    // waiter -> waker: asleep (1), done (2)
  volatile int64_t woke_ns;   // waiter's CLOCK_MONOTONIC after it woke
  volatile uint32_t mode;     // 0 direct, 1 hop, 2 quit
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
    for (uint32_t round = 1;; round++) {
      wait_until(&s->go, round);
      uint32_t mode = s->mode;
      if (mode == 2) _exit(0);
      if (mode == 0) {
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
  uint32_t go = 0;
  struct timespec settle = {0, 2 * 1000 * 1000};
  for (int i = 0; i < rounds; i++) {
    for (uint32_t mode = 0; mode < 2; mode++) {
      s->word = 0;
      store_wake(&s->word2, 0);  // lets the helper re-arm
      s->ready = 0;
      s->mode = mode;
      store_wake(&s->go, ++go);
      wait_until(&s->ready, 1);
      nanosleep(&settle, NULL);  // let it fall asleep
      int64_t t0 = now_ns();
      store_wake(mode == 0 ? &s->word : &s->word2, 1);
      wait_until(&s->ready, 2);
      double ms = (double)(s->woke_ns - t0) / 1e6;
      (mode == 0 ? direct : hop)[i] = ms;
    }
  }
  s->mode = 2;
  store_wake(&s->go, ++go);
  waitpid(child, NULL, 0);
  qsort(direct, rounds, sizeof(double), cmp);
  qsort(hop, rounds, sizeof(double), cmp);
  printf("{\"available\":true,\"rounds\":%d,\"directMsMedian\":%.5f,\"directMsP90\":%.5f,\"hopMsMedian\":%.5f,\"hopMsP90\":%.5f}\n", rounds,
         pct(direct, rounds, 0.5), pct(direct, rounds, 0.9), pct(hop, rounds, 0.5), pct(hop, rounds, 0.9));
  return 0;
}
