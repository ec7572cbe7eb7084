/*
 * Native baseline for bench/rwlock.ts and demos/rwlock-reader-death.ts: a
 * glibc pthread_rwlock_t with PTHREAD_PROCESS_SHARED in a MAP_SHARED mapping
 * of a file in /dev/shm (unlinked at once; children inherit it through fork),
 * the same placement as RobustRwLock in a region. glibc has no robust rwlock.
 *
 *   --mode bench
 *     uncontended  rdlock+unlock ns/op, one thread.
 *     readMostly   --readers reader processes loop { rdlock; sum 8 words; unlock }
 *                  while one writer process loops { wrlock; bump 8 words; unlock;
 *                  busy gap of --writer-gap-us }, for --duration-ms after a common
 *                  start; reads/s and writes/s over the whole run; the readers
 *                  check that the 8 words are always equal (a torn read = broken lock).
 *     --prefer-writer: PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP instead of
 *     glibc's default kind, which prefers readers (a reader stream starves the writer).
 *   --mode reader-death
 *     a child takes a read lock and parks; the parent SIGKILLs it and reaps it;
 *     a writer then calls pthread_rwlock_timedwrlock with --wait-ms: glibc never
 *     learns that the reader died, so it times out (ETIMEDOUT).
 *
 * Output: one JSON object on stdout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

struct shared {
  pthread_rwlock_t lock;
  _Atomic int ready;
  _Atomic int go;
  _Atomic int stop;
  _Atomic int torn;
  _Atomic uint64_t reads;
  _Atomic uint64_t writes;
  volatile uint64_t words[8];
};

static struct shared *shm;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "pthread-rwlock: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void die_with_parent(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
}

static int prefer_writer;

static void map_shared(const char *dir) {
  char path[256];
  snprintf(path, sizeof path, "%s/robust-shm-pthread-rwlock-%d-%ld", dir, (int)getpid(), (long)(now_ns() % 1000000));
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) die("open shared file");
  if (ftruncate(fd, 4096)) die("ftruncate");
  shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (shm == MAP_FAILED) die("mmap");
  close(fd);
  unlink(path);
  pthread_rwlockattr_t attr;
  pthread_rwlockattr_init(&attr);
  pthread_rwlockattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  /* glibc's default kind prefers readers: a stream of readers starves a writer. */
  if (prefer_writer) pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  if (pthread_rwlock_init(&shm->lock, &attr)) die("pthread_rwlock_init");
}

static double bench_uncontended(long n) {
  for (long i = 0; i < n / 10; i++) { pthread_rwlock_rdlock(&shm->lock); pthread_rwlock_unlock(&shm->lock); }
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; i++) { pthread_rwlock_rdlock(&shm->lock); pthread_rwlock_unlock(&shm->lock); }
  return (double)(now_ns() - t0) / (double)n;
}

static void reader_loop(void) {
  uint64_t reads = 0;
  while (!atomic_load(&shm->go)) sched_yield();
  while (!atomic_load_explicit(&shm->stop, memory_order_relaxed)) {
    pthread_rwlock_rdlock(&shm->lock);
    uint64_t first = shm->words[0];
    for (int i = 1; i < 8; i++) if (shm->words[i] != first) atomic_store(&shm->torn, 1);
    pthread_rwlock_unlock(&shm->lock);
    reads++;
  }
  atomic_fetch_add(&shm->reads, reads);
}

static void writer_loop(long gap_ns) {
  uint64_t writes = 0;
  while (!atomic_load(&shm->go)) sched_yield();
  while (!atomic_load_explicit(&shm->stop, memory_order_relaxed)) {
    pthread_rwlock_wrlock(&shm->lock);
    for (int i = 0; i < 8; i++) shm->words[i]++;
    pthread_rwlock_unlock(&shm->lock);
    writes++;
    uint64_t until = now_ns() + (uint64_t)gap_ns;
    while (now_ns() < until) {}
  }
  atomic_fetch_add(&shm->writes, writes);
}

static void bench_read_mostly(int readers, long duration_ms, long gap_us, double *reads_per_s, double *writes_per_s) {
  pid_t parent = getpid();
  pid_t kids[65];
  int n = 0;
  for (int r = 0; r <= readers; r++) {
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
      die_with_parent(parent);
      if (r < readers) reader_loop();
      else writer_loop(gap_us * 1000);
      _exit(0);
    }
    kids[n++] = pid;
  }
  uint64_t t0 = now_ns();
  atomic_store(&shm->go, 1);
  struct timespec d = { duration_ms / 1000, (duration_ms % 1000) * 1000000 };
  nanosleep(&d, NULL);
  atomic_store(&shm->stop, 1);
  for (int i = 0; i < n; i++) waitpid(kids[i], NULL, 0);
  double secs = (double)(now_ns() - t0) / 1e9;
  *reads_per_s = (double)atomic_load(&shm->reads) / secs;
  *writes_per_s = (double)atomic_load(&shm->writes) / secs;
}

struct writer_arg { long wait_ms; int rc; double waited_ms; };

static void *timed_writer(void *p) {
  struct writer_arg *w = p;
  struct timespec deadline;
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += w->wait_ms / 1000;
  deadline.tv_nsec += (w->wait_ms % 1000) * 1000000;
  if (deadline.tv_nsec >= 1000000000) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000; }
  uint64_t t0 = now_ns();
  w->rc = pthread_rwlock_timedwrlock(&shm->lock, &deadline);
  w->waited_ms = (double)(now_ns() - t0) / 1e6;
  if (w->rc == 0) pthread_rwlock_unlock(&shm->lock);
  return NULL;
}

static long parse_count(const char *flag, const char *value) {
  char *end;
  long v = value ? strtol(value, &end, 10) : 0;
  if (!value || *end || v <= 0) {
    fprintf(stderr, "pthread-rwlock: %s needs a positive integer\n", flag);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  const char *mode = "bench", *dir = "/dev/shm";
  long uncontended = 2000000, duration_ms = 1000, readers = 4, gap_us = 20, wait_ms = 500;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--mode") && i + 1 < argc) mode = argv[++i];
    else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    else if (!strcmp(argv[i], "--prefer-writer")) prefer_writer = 1;
    else if (!strcmp(argv[i], "--uncontended")) uncontended = parse_count(argv[i], argv[i + 1]), i++;
    else if (!strcmp(argv[i], "--duration-ms")) duration_ms = parse_count(argv[i], argv[i + 1]), i++;
    else if (!strcmp(argv[i], "--readers")) readers = parse_count(argv[i], argv[i + 1]), i++;
    else if (!strcmp(argv[i], "--writer-gap-us")) gap_us = parse_count(argv[i], argv[i + 1]), i++;
    else if (!strcmp(argv[i], "--wait-ms")) wait_ms = parse_count(argv[i], argv[i + 1]), i++;
    else if (!strcmp(argv[i], "--help")) {
      printf("usage: pthread-rwlock [--mode bench|reader-death] [--uncontended N] [--duration-ms N] [--readers N]\n"
             "                      [--writer-gap-us N] [--wait-ms N] [--dir DIR] [--prefer-writer]\n");
      return 0;
    } else {
      fprintf(stderr, "pthread-rwlock: unknown argument %s (try --help)\n", argv[i]);
      return 2;
    }
  }
  if (readers > 64) readers = 64;
  map_shared(dir);

  if (!strcmp(mode, "reader-death")) {
    pid_t parent = getpid();
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
      die_with_parent(parent);
      pthread_rwlock_rdlock(&shm->lock);
      atomic_store(&shm->ready, 1);
      for (;;) pause();
    }
    while (!atomic_load(&shm->ready)) sched_yield();
    kill(child, SIGKILL);
    int status;
    waitpid(child, &status, 0);
    struct writer_arg w = { wait_ms, 0, 0 };
    pthread_t th;
    if (pthread_create(&th, NULL, timed_writer, &w)) die("pthread_create");
    pthread_join(th, NULL);
    printf("{\"lock\": \"glibc pthread_rwlock_t PTHREAD_PROCESS_SHARED in a MAP_SHARED file under %s\", "
           "\"readerKilledBy\": \"SIGKILL\", \"readerReaped\": %s, \"writerWaitMs\": %ld, \"writerRc\": \"%s\", "
           "\"writerBlocked\": %s, \"waitedMs\": %.1f}\n",
           dir, WIFSIGNALED(status) ? "true" : "false", wait_ms,
           w.rc == 0 ? "0" : w.rc == ETIMEDOUT ? "ETIMEDOUT" : strerror(w.rc), w.rc == ETIMEDOUT ? "true" : "false", w.waited_ms);
    return 0;
  }
  if (strcmp(mode, "bench")) {
    fprintf(stderr, "pthread-rwlock: unknown mode %s\n", mode);
    return 2;
  }
  double unc = bench_uncontended(uncontended);
  double rps, wps;
  bench_read_mostly((int)readers, duration_ms, gap_us, &rps, &wps);
  printf("{\"lock\": \"glibc pthread_rwlock_t PTHREAD_PROCESS_SHARED (%s) in a MAP_SHARED file under %s\",\n",
         prefer_writer ? "PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP" : "default kind: prefers readers", dir);
  printf(" \"uncontended\": {\"iterations\": %ld, \"nsPerOp\": %.2f},\n", uncontended, unc);
  printf(" \"readMostly\": {\"readers\": %ld, \"durationMs\": %ld, \"writerGapUs\": %ld, \"readsPerSec\": %.0f, \"writesPerSec\": %.0f, \"torn\": %s}}\n",
         readers, duration_ms, gap_us, rps, wps, atomic_load(&shm->torn) ? "true" : "false");
  return atomic_load(&shm->torn) ? 1 : 0;
}
