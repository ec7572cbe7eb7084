/*
 * Native baseline for bench/mutex.ts: a glibc robust, process-shared mutex
 * (PTHREAD_MUTEX_ROBUST + PTHREAD_PROCESS_SHARED) living in a MAP_SHARED
 * mapping of a file in /dev/shm — the same placement as RobustMutex in a region.
 *
 * Figures (all clock_gettime(CLOCK_MONOTONIC)):
 * The file is unlinked right after mmap (children inherit the mapping through fork).
 *
 *   uncontended        lock+unlock ns/op, one thread.
 *   contendedProcesses two forked processes, each N x (lock; counter++; unlock);
 *                      ns per op = wall time / (2N); the counter must be exactly 2N;
 *                      `handoffs` = how often the lock passed between the two.
 *   contendedThreads   the same with two threads of one process.
 *   deathProcess       a child takes the lock and parks; the parent's waiter thread
 *                      is blocked in pthread_mutex_lock (checked: FUTEX_WAITERS set in
 *                      the lock word and the thread in state S); the parent SIGKILLs
 *                      the child; time from kill() to the waiter's EOWNERDEAD.
 *   deathThreadCancel  the same with a holder *thread* parked in pause() and
 *                      pthread_cancel()ed (the analogue of worker.terminate()).
 *   deathThreadExit    a holder thread calls pthread_exit() holding the lock; time from
 *                      just before pthread_exit to EOWNERDEAD.
 * The kernel's robust-list walk at task exit sets FUTEX_OWNER_DIED and wakes one
 * waiter, so all three death figures are "task exit + futex wake + reschedule".
 *
 * Usage: pthread-robust [--uncontended N] [--contended N] [--rounds N] [--dir DIR]
 * Prints one JSON object on stdout; diagnostics on stderr; exit 1 on any failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FUTEX_WAITERS_BIT 0x80000000u

struct shared {
  pthread_mutex_t mutex;
  uint64_t counter;         /* protected by mutex */
  uint64_t handoffs;        /* protected by mutex: times the lock changed hands between contenders */
  int last_owner;           /* protected by mutex: contender id of the last critical section */
  atomic_int ready;         /* holder has the lock / contender is ready */
  atomic_int go;            /* start signal for contended runs */
  atomic_int holder_release;/* thread-exit round: holder may now exit */
};

static struct shared *shm;
static char shm_path[512];

static void die(const char *what) {
  fprintf(stderr, "pthread-robust: %s: %s\n", what, strerror(errno));
  if (shm_path[0]) unlink(shm_path);
  exit(1);
}

static void fail(const char *what) {
  fprintf(stderr, "pthread-robust: %s\n", what);
  if (shm_path[0]) unlink(shm_path);
  exit(1);
}

/* A forked child must not outlive this program (e.g. when the harness kills a hung
 * run): the death-round holder would otherwise sit in pause() forever. */
static void die_with_parent(pid_t parent) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1); /* parent already gone before prctl */
}

static inline uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void init_mutex(void) {
  pthread_mutexattr_t attr;
  if (pthread_mutexattr_init(&attr)) fail("mutexattr_init");
  if (pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED)) fail("setpshared");
  if (pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST)) fail("setrobust");
  if (pthread_mutex_init(&shm->mutex, &attr)) fail("mutex_init");
  pthread_mutexattr_destroy(&attr);
}

/* Lock, treating EOWNERDEAD as success after repair (never expected outside death rounds). */
static void lock_or_die(void) {
  int rc = pthread_mutex_lock(&shm->mutex);
  if (rc == EOWNERDEAD) {
    pthread_mutex_consistent(&shm->mutex);
  } else if (rc != 0) {
    errno = rc;
    die("pthread_mutex_lock");
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* Percentile by nearest rank on a sorted array. */
static double pct_ms(const uint64_t *sorted, int n, double p) {
  int idx = (int)(p * (n - 1) + 0.5);
  return sorted[idx] / 1e6;
}

static void print_death(const char *name, uint64_t *samples, int n, int last) {
  qsort(samples, n, sizeof samples[0], cmp_u64);
  double median = n % 2 ? samples[n / 2] / 1e6 : (samples[n / 2 - 1] + samples[n / 2]) / 2e6;
  printf("  \"%s\": {\"rounds\": %d, \"msMedian\": %.4f, \"msP10\": %.4f, \"msP90\": %.4f, \"msMin\": %.4f, \"msMax\": %.4f, \"samplesMs\": [",
         name, n, median, pct_ms(samples, n, 0.10), pct_ms(samples, n, 0.90), samples[0] / 1e6, samples[n - 1] / 1e6);
  for (int i = 0; i < n; i++) printf("%s%.4f", i ? ", " : "", samples[i] / 1e6);
  printf("]}%s\n", last ? "" : ",");
}

/* ---------- (a) uncontended ---------- */
static double bench_uncontended(long n) {
  for (long i = 0; i < n / 10; i++) { lock_or_die(); pthread_mutex_unlock(&shm->mutex); }
  uint64_t t0 = now_ns();
  for (long i = 0; i < n; i++) { lock_or_die(); pthread_mutex_unlock(&shm->mutex); }
  return (double)(now_ns() - t0) / n;
}

/* ---------- (b) contended ---------- */
/* One critical section of contender `me`. Counting handoffs shows how the
 * ns/op figure was earned: glibc mutexes are not fair, so a contender often
 * re-takes the lock many times before the other one gets it. */
static inline void critical_section(int me) {
  lock_or_die();
  shm->counter++;
  if (shm->last_owner != me) { shm->handoffs++; shm->last_owner = me; }
  pthread_mutex_unlock(&shm->mutex);
}

static void contend_loop(long n) {
  atomic_fetch_add(&shm->ready, 1);
  while (!atomic_load(&shm->go)) { /* spin: both sides start together */ }
  for (long i = 0; i < n; i++) critical_section(2);
}

static void *contend_thread(void *arg) {
  contend_loop((long)(intptr_t)arg);
  return NULL;
}

static double bench_contended(long n, int use_processes, uint64_t *counter_out, uint64_t *handoffs_out) {
  shm->counter = 0;
  shm->handoffs = 0;
  shm->last_owner = 0;
  atomic_store(&shm->ready, 0);
  atomic_store(&shm->go, 0);
  pid_t child = -1, parent = getpid();
  pthread_t th;
  if (use_processes) {
    child = fork();
    if (child < 0) die("fork");
    if (child == 0) { die_with_parent(parent); contend_loop(n); _exit(0); }
  } else {
    if (pthread_create(&th, NULL, contend_thread, (void *)(intptr_t)n)) fail("pthread_create");
  }
  atomic_fetch_add(&shm->ready, 1);
  while (atomic_load(&shm->ready) < 2) { }
  uint64_t t0 = now_ns();
  atomic_store(&shm->go, 1);
  for (long i = 0; i < n; i++) critical_section(1);
  if (use_processes) {
    int status;
    if (waitpid(child, &status, 0) < 0) die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fail("contender child failed");
  } else {
    pthread_join(th, NULL);
  }
  uint64_t elapsed = now_ns() - t0;
  *counter_out = shm->counter;
  *handoffs_out = shm->handoffs;
  return (double)elapsed / (2.0 * n);
}

/* ---------- (c) death detection ---------- */
struct waiter {
  pid_t tid;
  atomic_int entering;
  int rc;
  uint64_t t_returned;
};

static void *waiter_main(void *arg) {
  struct waiter *w = arg;
  w->tid = (pid_t)syscall(SYS_gettid);
  atomic_store(&w->entering, 1);
  w->rc = pthread_mutex_lock(&shm->mutex);
  w->t_returned = now_ns();
  if (w->rc == EOWNERDEAD) {
    pthread_mutex_consistent(&shm->mutex);
    pthread_mutex_unlock(&shm->mutex);
  } else if (w->rc == 0) {
    pthread_mutex_unlock(&shm->mutex);
  }
  return NULL;
}

/* Thread state letter from /proc/self/task/<tid>/stat (field 3). */
static char task_state(pid_t tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return '?';
  ssize_t len = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (len <= 0) return '?';
  buf[len] = 0;
  char *paren = strrchr(buf, ')');
  return paren && paren[1] == ' ' ? paren[2] : '?';
}

/* Wait until the waiter is really asleep on the futex: glibc sets FUTEX_WAITERS in
 * the lock word before FUTEX_WAIT, and the kernel shows the task as S while it sleeps.
 * Only then is the measured interval pure death detection. */
static void wait_until_blocked(struct waiter *w) {
  while (!atomic_load(&w->entering)) sched_yield();
  volatile int *word = (volatile int *)&shm->mutex.__data.__lock;
  for (;;) {
    if (((unsigned)*word & FUTEX_WAITERS_BIT) && task_state(w->tid) == 'S') return;
    sched_yield();
  }
}

static uint64_t death_round_process(void) {
  atomic_store(&shm->ready, 0);
  pid_t parent = getpid();
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    die_with_parent(parent);
    if (pthread_mutex_lock(&shm->mutex) == EOWNERDEAD) pthread_mutex_consistent(&shm->mutex);
    atomic_store(&shm->ready, 1);
    for (;;) pause();
  }
  while (!atomic_load(&shm->ready)) sched_yield();
  struct waiter w = {0};
  pthread_t th;
  if (pthread_create(&th, NULL, waiter_main, &w)) fail("pthread_create");
  wait_until_blocked(&w);
  uint64_t t0 = now_ns();
  if (kill(child, SIGKILL)) die("kill");
  pthread_join(th, NULL);
  int status;
  waitpid(child, &status, 0);
  if (w.rc != EOWNERDEAD) fail("process death round: waiter did not get EOWNERDEAD");
  return w.t_returned - t0;
}

static void *holder_pause(void *arg) {
  (void)arg;
  if (pthread_mutex_lock(&shm->mutex) == EOWNERDEAD) pthread_mutex_consistent(&shm->mutex);
  atomic_store(&shm->ready, 1);
  for (;;) pause(); /* pause() is a cancellation point */
  return NULL;
}

static uint64_t death_round_thread_cancel(void) {
  atomic_store(&shm->ready, 0);
  pthread_t holder, th;
  if (pthread_create(&holder, NULL, holder_pause, NULL)) fail("pthread_create");
  while (!atomic_load(&shm->ready)) sched_yield();
  struct waiter w = {0};
  if (pthread_create(&th, NULL, waiter_main, &w)) fail("pthread_create");
  wait_until_blocked(&w);
  uint64_t t0 = now_ns();
  pthread_cancel(holder);
  pthread_join(th, NULL);
  pthread_join(holder, NULL);
  if (w.rc != EOWNERDEAD) fail("thread cancel round: waiter did not get EOWNERDEAD");
  return w.t_returned - t0;
}

static uint64_t exit_t0;

static void *holder_exit(void *arg) {
  (void)arg;
  if (pthread_mutex_lock(&shm->mutex) == EOWNERDEAD) pthread_mutex_consistent(&shm->mutex);
  atomic_store(&shm->ready, 1);
  while (!atomic_load(&shm->holder_release)) sched_yield();
  exit_t0 = now_ns();
  pthread_exit(NULL);
}

static uint64_t death_round_thread_exit(void) {
  atomic_store(&shm->ready, 0);
  atomic_store(&shm->holder_release, 0);
  pthread_t holder, th;
  if (pthread_create(&holder, NULL, holder_exit, NULL)) fail("pthread_create");
  while (!atomic_load(&shm->ready)) sched_yield();
  struct waiter w = {0};
  if (pthread_create(&th, NULL, waiter_main, &w)) fail("pthread_create");
  wait_until_blocked(&w);
  atomic_store(&shm->holder_release, 1);
  pthread_join(th, NULL);
  pthread_join(holder, NULL);
  if (w.rc != EOWNERDEAD) fail("thread exit round: waiter did not get EOWNERDEAD");
  return w.t_returned - exit_t0;
}

static long parse_count(const char *flag, const char *value) {
  char *end;
  long v = value ? strtol(value, &end, 10) : 0;
  if (!value || *end || v <= 0) {
    fprintf(stderr, "pthread-robust: %s needs a positive integer\n", flag);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  long uncontended = 2000000, contended = 200000, rounds = 30;
  const char *dir = "/dev/shm";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--uncontended")) uncontended = parse_count(argv[i], argv[i + 1]), i++;
    else if (!strcmp(argv[i], "--contended")) contended = parse_count(argv[i], argv[i + 1]), i++;
    else if (!strcmp(argv[i], "--rounds")) rounds = parse_count(argv[i], argv[i + 1]), i++;
    else if (!strcmp(argv[i], "--dir") && i + 1 < argc) dir = argv[++i];
    else if (!strcmp(argv[i], "--help")) {
      printf("usage: pthread-robust [--uncontended N] [--contended N] [--rounds N] [--dir DIR]\n");
      return 0;
    } else {
      fprintf(stderr, "pthread-robust: unknown argument %s (try --help)\n", argv[i]);
      return 2;
    }
  }

  snprintf(shm_path, sizeof shm_path, "%s/robust-shm-bench-pthread-%d", dir, (int)getpid());
  int fd = open(shm_path, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) die("open shared file");
  if (ftruncate(fd, 4096)) die("ftruncate");
  shm = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (shm == MAP_FAILED) die("mmap");
  close(fd);
  /* Children inherit the mapping through fork(), so the name is not needed any more:
   * unlinking now leaves nothing behind in /dev/shm even if this run is killed. */
  unlink(shm_path);
  shm_path[0] = 0;
  init_mutex();

  double unc = bench_uncontended(uncontended);
  uint64_t cp_counter, ct_counter, cp_handoffs, ct_handoffs;
  double cp = bench_contended(contended, 1, &cp_counter, &cp_handoffs);
  double ct = bench_contended(contended, 0, &ct_counter, &ct_handoffs);

  uint64_t *s_proc = calloc(rounds, sizeof(uint64_t));
  uint64_t *s_cancel = calloc(rounds, sizeof(uint64_t));
  uint64_t *s_exit = calloc(rounds, sizeof(uint64_t));
  if (!s_proc || !s_cancel || !s_exit) fail("out of memory");
  for (long r = 0; r < rounds; r++) s_proc[r] = death_round_process();
  for (long r = 0; r < rounds; r++) s_cancel[r] = death_round_thread_cancel();
  for (long r = 0; r < rounds; r++) s_exit[r] = death_round_thread_exit();

  printf("{\n");
  printf("  \"mutex\": \"glibc pthread_mutex_t PTHREAD_MUTEX_ROBUST+PTHREAD_PROCESS_SHARED in a MAP_SHARED file under %s\",\n", dir);
  printf("  \"uncontended\": {\"iterations\": %ld, \"nsPerOp\": %.2f},\n", uncontended, unc);
  printf("  \"contendedProcesses\": {\"iterationsEach\": %ld, \"nsPerOp\": %.2f, \"counter\": %llu, \"expected\": %ld, \"exact\": %s, \"handoffs\": %llu},\n",
         contended, cp, (unsigned long long)cp_counter, 2 * contended, cp_counter == (uint64_t)(2 * contended) ? "true" : "false",
         (unsigned long long)cp_handoffs);
  printf("  \"contendedThreads\": {\"iterationsEach\": %ld, \"nsPerOp\": %.2f, \"counter\": %llu, \"expected\": %ld, \"exact\": %s, \"handoffs\": %llu},\n",
         contended, ct, (unsigned long long)ct_counter, 2 * contended, ct_counter == (uint64_t)(2 * contended) ? "true" : "false",
         (unsigned long long)ct_handoffs);
  print_death("deathProcess", s_proc, (int)rounds, 0);
  print_death("deathThreadCancel", s_cancel, (int)rounds, 0);
  print_death("deathThreadExit", s_exit, (int)rounds, 1);
  printf("}\n");
  return (cp_counter == (uint64_t)(2 * contended) && ct_counter == (uint64_t)(2 * contended)) ? 0 : 1;
}
