/*
 * Native baseline for bench/contended.ts: two contenders on one robust,
 * process-shared pthread_mutex_t, in rounds, so the bench can report a median
 * and p90 per operation beside ours, with the hand-offs and the fairness of
 * each round.
 *
 * Each contender does --ops times: lock, increment a shared counter, note a
 * hand-off when the previous holder was the other contender, unlock. A round
 * starts when the parent bumps a futex word (both contenders are already
 * waiting on it, warm); each contender stamps its finish time
 * (CLOCK_MONOTONIC). Per round:
 *   nsPerOp        (last finish - start) / (2 * ops)
 *   handoffs       how often the lock passed from one contender to the other
 *   overlap        the share of the round during which both contenders were
 *                  running their loops (from the later start to the earlier
 *                  finish): about 1 when they contended throughout, 0 when
 *                  one ran all its ops before the other began (no contention
 *                  at all: the figure is then an uncontended one)
 * Round 0 is a warm-up and is not reported.
 *
 * Usage: contended --mode process|thread [--rounds N] [--ops N]
 * Output: one JSON object {"mode", "rounds": [{nsPerOp, handoffs, overlap, exact}]}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
  pthread_mutex_t mutex;
  _Atomic int start;   /* the round number the contenders may run */
  _Atomic int done;    /* contenders finished, all rounds together */
  long counter;        /* under the mutex */
  int last;            /* under the mutex: the contender that held it last */
  long handoffs[2];
  double startNs[2];
  double finishNs[2];
};

static struct shared *S;
static long ops, rounds;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void futexWait(_Atomic int *word, int expected) {
  syscall(SYS_futex, word, FUTEX_WAIT, expected, NULL, NULL, 0);
}
static void futexWake(_Atomic int *word) {
  syscall(SYS_futex, word, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
}

static long count(const char *flag, const char *value) {
  char *end;
  long n = value ? strtol(value, &end, 10) : 0;
  if (!value || *end || n <= 0) {
    fprintf(stderr, "contended: %s needs a positive integer\n", flag);
    exit(2);
  }
  return n;
}

static void lockOrDie(void) {
  int rc = pthread_mutex_lock(&S->mutex);
  if (rc != 0) {
    fprintf(stderr, "contended: pthread_mutex_lock: %s\n", strerror(rc));
    exit(1);
  }
}

static void *contend(void *arg) {
  int me = (int)(long)arg;
  for (int r = 0; r <= rounds; r++) {
    int s;
    while ((s = atomic_load(&S->start)) < r) futexWait(&S->start, s);
    long handoffs = 0;
    S->startNs[me] = now();
    for (long i = 0; i < ops; i++) {
      lockOrDie();
      S->counter++;
      if (S->last != me) {
        S->last = me;
        handoffs++;
      }
      pthread_mutex_unlock(&S->mutex);
    }
    S->handoffs[me] = handoffs;
    S->finishNs[me] = now();
    atomic_fetch_add(&S->done, 1);
    futexWake(&S->done);
  }
  return NULL;
}

int main(int argc, char **argv) {
  const char *mode = NULL;
  rounds = 30;
  ops = 100000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--mode") && i + 1 < argc) mode = argv[++i];
    else if (!strcmp(argv[i], "--rounds")) rounds = count(argv[i], argv[i + 1]), i++;
    else if (!strcmp(argv[i], "--ops")) ops = count(argv[i], argv[i + 1]), i++;
    else if (!strcmp(argv[i], "--help")) {
      printf("usage: contended --mode process|thread [--rounds N] [--ops N]\n");
      return 0;
    } else {
      fprintf(stderr, "contended: unknown argument %s (try --help)\n", argv[i]);
      return 2;
    }
  }
  int processes = mode && !strcmp(mode, "process");
  if (!mode || (!processes && strcmp(mode, "thread"))) {
    fprintf(stderr, "contended: --mode process|thread is required\n");
    return 2;
  }
  S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (S == MAP_FAILED) return perror("mmap"), 1;
  memset(S, 0, sizeof *S);
  S->last = -1;
  atomic_store(&S->start, -1);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&S->mutex, &attr);

  pid_t pids[2] = {0, 0};
  pthread_t threads[2];
  for (long c = 0; c < 2; c++) {
    if (processes) {
      pids[c] = fork();
      if (pids[c] < 0) return perror("fork"), 1;
      if (pids[c] == 0) {
        contend((void *)c);
        _exit(0);
      }
    } else if (pthread_create(&threads[c], NULL, contend, (void *)c) != 0) {
      return perror("pthread_create"), 1;
    }
  }
  printf("{\"mode\":\"%s\",\"ops\":%ld,\"rounds\":[", mode, ops);
  for (int r = 0; r <= rounds; r++) {
    S->counter = 0;
    double t0 = now();
    atomic_store(&S->start, r);
    futexWake(&S->start);
    int d;
    while ((d = atomic_load(&S->done)) < 2 * (r + 1)) futexWait(&S->done, d);
    if (r == 0) continue; /* warm-up */
    double a = S->finishNs[0] - t0, b = S->finishNs[1] - t0;
    double last = a > b ? a : b, firstFinish = a > b ? b : a;
    double lastStart = S->startNs[0] > S->startNs[1] ? S->startNs[0] : S->startNs[1];
    double firstStart = S->startNs[0] > S->startNs[1] ? S->startNs[1] : S->startNs[0];
    double both = firstFinish - (lastStart - t0);
    double overlap = both > 0 ? both / (last - (firstStart - t0)) : 0;
    printf("%s{\"nsPerOp\":%.2f,\"handoffs\":%ld,\"overlap\":%.4f,\"exact\":%s}", r > 1 ? "," : "", last / (2.0 * ops),
           S->handoffs[0] + S->handoffs[1], overlap, S->counter == 2 * ops ? "true" : "false");
  }
  printf("]}\n");
  for (int c = 0; c < 2; c++) {
    if (processes) waitpid(pids[c], NULL, 0);
    else pthread_join(threads[c], NULL);
  }
  return 0;
}
