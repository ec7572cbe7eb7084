/*
 * Native baseline for bench/fast-paths.ts: glibc's uncontended fast paths,
 * timed in rounds so the bench can report a median and p90 beside ours.
 *
 *   mutex   a robust, process-shared pthread_mutex_t: lock+unlock
 *   rwlock  a process-shared pthread_rwlock_t: rdlock+unlock
 *
 * Both live in a MAP_SHARED anonymous mapping (process-shared placement, as
 * RobustMutex and RobustRwLock in a region). Each round times --pairs pairs
 * with CLOCK_MONOTONIC (wall) and CLOCK_THREAD_CPUTIME_ID (CPU): on a loaded
 * machine the CPU time moves far less than the wall time.
 *
 * Usage: fast-paths --what mutex|rwlock [--rounds N] [--pairs N]
 * Output: one JSON object {"what", "wallNs": [...], "cpuNs": [...]} (ns per pair).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static long count(const char *flag, const char *value) {
  char *end;
  long n = value ? strtol(value, &end, 10) : 0;
  if (!value || *end || n <= 0) {
    fprintf(stderr, "fast-paths: %s needs a positive integer\n", flag);
    exit(2);
  }
  return n;
}

int main(int argc, char **argv) {
  const char *what = NULL;
  long rounds = 30, pairs = 1000000;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--what") && i + 1 < argc) what = argv[++i];
    else if (!strcmp(argv[i], "--rounds")) rounds = count(argv[i], argv[i + 1]), i++;
    else if (!strcmp(argv[i], "--pairs")) pairs = count(argv[i], argv[i + 1]), i++;
    else if (!strcmp(argv[i], "--help")) {
      printf("usage: fast-paths --what mutex|rwlock [--rounds N] [--pairs N]\n");
      return 0;
    } else {
      fprintf(stderr, "fast-paths: unknown argument %s (try --help)\n", argv[i]);
      return 2;
    }
  }
  int isMutex = what && !strcmp(what, "mutex");
  if (!what || (!isMutex && strcmp(what, "rwlock"))) {
    fprintf(stderr, "fast-paths: --what mutex|rwlock is required\n");
    return 2;
  }
  void *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shared == MAP_FAILED) { perror("fast-paths: mmap"); return 1; }
  pthread_mutex_t *m = shared;
  pthread_rwlock_t *rw = (pthread_rwlock_t *)((char *)shared + 128);
  pthread_mutexattr_t ma;
  pthread_mutexattr_init(&ma);
  pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(m, &ma);
  pthread_rwlockattr_t ra;
  pthread_rwlockattr_init(&ra);
  pthread_rwlockattr_setpshared(&ra, PTHREAD_PROCESS_SHARED);
  pthread_rwlock_init(rw, &ra);
  double *wall = calloc(rounds, sizeof *wall), *cpu = calloc(rounds, sizeof *cpu);
  for (long r = -1; r < rounds; r++) { /* round -1 warms up, untimed */
    double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_THREAD_CPUTIME_ID);
    if (isMutex) {
      for (long i = 0; i < pairs; i++) {
        if (pthread_mutex_lock(m)) { fprintf(stderr, "fast-paths: lock failed\n"); return 1; }
        pthread_mutex_unlock(m);
      }
    } else {
      for (long i = 0; i < pairs; i++) {
        if (pthread_rwlock_rdlock(rw)) { fprintf(stderr, "fast-paths: rdlock failed\n"); return 1; }
        pthread_rwlock_unlock(rw);
      }
    }
    double c1 = now(CLOCK_THREAD_CPUTIME_ID), w1 = now(CLOCK_MONOTONIC);
    if (r >= 0) { wall[r] = (w1 - w0) / pairs; cpu[r] = (c1 - c0) / pairs; }
  }
  printf("{\"what\": \"%s\", \"wallNs\": [", what);
  for (long r = 0; r < rounds; r++) printf("%s%.3f", r ? ", " : "", wall[r]);
  printf("], \"cpuNs\": [");
  for (long r = 0; r < rounds; r++) printf("%s%.3f", r ? ", " : "", cpu[r]);
  printf("]}\n");
  return 0;
}
