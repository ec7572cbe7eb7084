/*
 * C halves of bench/death-split.ts: where does a death-detection tail sit, in
 * the dying process or in the waiter? Both programs work on a RobustMutex's
 * lock word (the Linux robust-futex word, src/locks/mutex-layout.ts) in a
 * region file, so either side can be C while the other is Node.
 *
 *   death-split victim <file> <byte offset> [threads [MiB]]
 *     Optionally first starts `threads` extra threads that sleep in pause()
 *     and touches `MiB` of private memory (a Node process has about 10
 *     threads and 40-60 MiB resident: this gives a C victim that shape).
 *     Takes the word (0 -> TID) the way RobustMutex.acquire() does:
 *     list_op_pending, compare-and-swap, then links the node (word + 32) into
 *     this thread's robust list. A C program with no glibc robust mutex of its
 *     own, so it registers its own one-element list with set_robust_list.
 *     Prints "ready" and sleeps in pause() until SIGKILLed.
 *
 *   death-split waiter <file> <byte offset>
 *     Sleeps on the word like a blocked acquire(): sets FUTEX_WAITERS, prints
 *     "waiting", FUTEX_WAIT (shared, no timeout). Exits when the word has no
 *     TID and FUTEX_OWNER_DIED (the kernel's robust-list walk at the owner's
 *     exit), printing "at <CLOCK_MONOTONIC ns>" taken right after its wait
 *     returned. Never takes the word.
 *
 *   death-split spinner <file> <byte offset>
 *     The waiter without the sleep: prints "waiting", then reads the word in
 *     a busy loop (at most 10 s) until FUTEX_OWNER_DIED appears, and prints
 *     "at <ns>". kill() -> this is the dying process's share alone (how long
 *     until the kernel walked its robust list), with no futex wake in it.
 *
 *   death-split killer <file> <byte offset> <pid>
 *     Does the kill itself: SIGKILL to <pid> (the victim, which must hold the
 *     word), then busy-reads both the word and a pidfd of the victim, and
 *     prints "walk <ns> exited <ns>": from just before kill() to the word's
 *     FUTEX_OWNER_DIED (the robust-list walk) and to the pidfd becoming
 *     readable (the whole process has exited: zombie). A walk close to the exit
 *     means the walk waited for the process's teardown.
 *
 * Exit 1 with a message on stderr on any failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define TID_MASK 0x3fffffffu
#define OWNER_DIED 0x40000000u
#define WAITERS 0x80000000u
#define NODE_NEXT 32 /* the kernel's list element, as glibc's pthread_mutex_t.__list.__next */

static void die(const char *what) {
  fprintf(stderr, "death-split: %s: %s\n", what, strerror(errno));
  exit(1);
}

static _Atomic uint32_t *map_word(const char *path, const char *offset_text) {
  char *end;
  errno = 0;
  unsigned long long offset = strtoull(offset_text, &end, 10);
  if (errno || *end || offset % 8) {
    fprintf(stderr, "death-split: byte offset must be a multiple of 8, got '%s'\n", offset_text);
    exit(1);
  }
  int fd = open(path, O_RDWR);
  if (fd < 0) die(path);
  struct stat st;
  if (fstat(fd, &st)) die("fstat");
  if (offset + 128 > (unsigned long long)st.st_size) {
    fprintf(stderr, "death-split: offset %llu + 128 is past the end of %s (%lld bytes)\n", offset, path, (long long)st.st_size);
    exit(1);
  }
  char *base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) die("mmap");
  close(fd);
  return (_Atomic uint32_t *)(base + offset);
}

static long futex(_Atomic uint32_t *word, int op, uint32_t value) {
  return syscall(SYS_futex, word, op, value, NULL, NULL, 0);
}

/* struct robust_list / robust_list_head: <linux/futex.h>. */
static struct robust_list_head head;

static void *sleeper(void *arg) {
  (void)arg;
  for (;;) pause();
  return NULL;
}

static long count_arg(const char *text, const char *what) {
  char *end;
  errno = 0;
  long n = strtol(text, &end, 10);
  if (errno || *end || n < 0 || n > 4096) {
    fprintf(stderr, "death-split: %s must be an integer in 0..4096, got '%s'\n", what, text);
    exit(1);
  }
  return n;
}

static int victim(_Atomic uint32_t *word, long threads, long mib) {
  for (long i = 0; i < threads; i++) {
    pthread_t t;
    if (pthread_create(&t, NULL, sleeper, NULL)) die("pthread_create");
  }
  if (mib > 0) {
    size_t bytes = (size_t)mib << 20;
    char *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) die("mmap private memory");
    for (size_t i = 0; i < bytes; i += 4096) memory[i] = 1;
  }
  struct robust_list *element = (struct robust_list *)((char *)word + NODE_NEXT);
  head.list.next = &head.list;
  head.futex_offset = -NODE_NEXT;
  head.list_op_pending = NULL;
  if (syscall(SYS_set_robust_list, &head, sizeof head)) die("set_robust_list");
  uint32_t tid = (uint32_t)syscall(SYS_gettid);
  head.list_op_pending = element;
  uint32_t expected = 0;
  if (!atomic_compare_exchange_strong(word, &expected, tid)) {
    fprintf(stderr, "death-split: the word is not free (0x%x)\n", expected);
    return 1;
  }
  element->next = &head.list;
  head.list.next = element;
  head.list_op_pending = NULL;
  printf("ready\n");
  fflush(stdout);
  for (;;) pause();
}

static uint64_t now_ns(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static int spinner(_Atomic uint32_t *word) {
  printf("waiting\n");
  fflush(stdout);
  uint64_t deadline = now_ns() + 10000000000u;
  for (;;) {
    uint32_t value = atomic_load_explicit(word, memory_order_acquire);
    if ((value & TID_MASK) == 0 && (value & OWNER_DIED)) break;
    if (now_ns() > deadline) {
      fprintf(stderr, "death-split: no FUTEX_OWNER_DIED within 10 s (0x%x)\n", value);
      return 1;
    }
  }
  printf("at %llu\n", (unsigned long long)now_ns());
  return 0;
}

static int killer(_Atomic uint32_t *word, pid_t pid) {
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (pidfd < 0) die("pidfd_open");
  uint64_t start = now_ns(), walk = 0, exited = 0;
  if (kill(pid, SIGKILL)) die("kill");
  uint64_t deadline = start + 10000000000u;
  while (!walk || !exited) {
    uint64_t now = now_ns();
    if (!walk) {
      uint32_t value = atomic_load_explicit(word, memory_order_acquire);
      if ((value & TID_MASK) == 0 && (value & OWNER_DIED)) walk = now;
    }
    if (!exited) {
      struct pollfd p = { .fd = pidfd, .events = POLLIN };
      if (poll(&p, 1, 0) > 0) exited = now;
    }
    if (now > deadline) {
      fprintf(stderr, "death-split: victim %d not dead and walked within 10 s\n", (int)pid);
      return 1;
    }
  }
  printf("walk %llu exited %llu\n", (unsigned long long)(walk - start), (unsigned long long)(exited - start));
  return 0;
}

static int waiter(_Atomic uint32_t *word) {
  int announced = 0;
  for (;;) {
    uint32_t value = atomic_load(word);
    if ((value & TID_MASK) == 0) {
      if (value & OWNER_DIED) break;
      fprintf(stderr, "death-split: the word was released (0x%x), not abandoned\n", value);
      return 1;
    }
    if (!(value & WAITERS)) {
      if (!atomic_compare_exchange_strong(word, &value, value | WAITERS)) continue;
      value |= WAITERS;
    }
    if (!announced) {
      printf("waiting\n");
      fflush(stdout);
      announced = 1;
    }
    if (futex(word, FUTEX_WAIT, value) && errno != EAGAIN && errno != EINTR) die("futex wait");
  }
  printf("at %llu\n", (unsigned long long)now_ns());
  return 0;
}

int main(int argc, char **argv) {
  int is_victim = argc >= 2 && strcmp(argv[1], "victim") == 0;
  int is_killer = argc >= 2 && strcmp(argv[1], "killer") == 0;
  if (argc < 4 || argc > (is_victim ? 6 : is_killer ? 5 : 4) || (is_killer && argc != 5) ||
      (!is_victim && !is_killer && strcmp(argv[1], "waiter") && strcmp(argv[1], "spinner"))) {
    fprintf(stderr, "usage: death-split victim <file> <byte offset> [threads [MiB]]\n"
                    "       death-split waiter|spinner <file> <byte offset>\n"
                    "       death-split killer <file> <byte offset> <pid>\n");
    return 2;
  }
  _Atomic uint32_t *word = map_word(argv[2], argv[3]);
  if (is_killer) {
    char *end;
    errno = 0;
    long pid = strtol(argv[4], &end, 10);
    if (errno || *end || pid <= 1 || pid > 0x3fffffff) {
      fprintf(stderr, "death-split: pid must be a process id > 1, got '%s'\n", argv[4]);
      return 2;
    }
    return killer(word, (pid_t)pid);
  }
  if (is_victim) return victim(word, argc > 4 ? count_arg(argv[4], "threads") : 0, argc > 5 ? count_arg(argv[5], "MiB") : 0);
  return strcmp(argv[1], "waiter") == 0 ? waiter(word) : spinner(word);
}
