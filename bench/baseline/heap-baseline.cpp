// Native baseline for bench/heap.ts: free+allocate pairs over 1,024 live blocks,
// sizes 16..512 bytes, random replacement — exactly the stream defined in
// bench/lib/heap-pattern.ts (xorshift32, fill then slot-before-size pairs).
//
// Contenders:
//   boostSingle     Boost.Interprocess managed_shared_memory allocate/deallocate, one process.
//   boostTwoProcess two forked processes allocating from the same segment at once,
//                   each with its own live set and stream (participant seeds 0 and 1).
//   mallocSingle    glibc malloc/free, one thread (a process-private heap: the floor).
//
// The whole stream is precomputed into arrays, so timed loops pay only for the
// allocator. Blocks are not written; an empty asm statement makes each pointer
// escape so the compiler cannot elide a malloc/free pair.
//
// Build with -DHEAP_BASELINE_NO_BOOST when Boost is unavailable: then only malloc runs.
// Usage: heap-baseline [--pairs N] [--warmup N] [--slices K] [--seed S] [--no-boost]
// Prints one JSON object on stdout. `checksums` lets the caller prove that the
// TypeScript generator produces the identical stream (warmup + pairs).
#ifndef HEAP_BASELINE_NO_BOOST
#include <boost/interprocess/managed_shared_memory.hpp>
namespace bip = boost::interprocess;
#endif

#include <sys/mman.h>
#include <sys/prctl.h>
#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

static constexpr uint32_t kLiveBlocks = 1024;
static constexpr uint32_t kMinSize = 16;
static constexpr uint32_t kMaxSize = 512;
static constexpr uint32_t kChecksumStart = 2166136261u;

static inline uint32_t xorshift32(uint32_t x) {
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

static uint32_t participant_seed(uint32_t base, uint32_t k) {
  uint32_t s = base + k * 0x9e3779b9u;
  return s == 0 ? 1 : s;
}

struct Pattern {
  std::vector<uint16_t> fill, slots, sizes;
  uint32_t checksum = kChecksumStart;
};

static inline uint32_t fold(uint32_t h, uint32_t v) { return (h ^ v) * 16777619u; }

static Pattern precompute(uint32_t seed, size_t pairs) {
  Pattern p;
  uint32_t s = seed;
  auto next = [&s] { s = xorshift32(s); return s; };
  auto next_size = [&] { return kMinSize + next() % (kMaxSize - kMinSize + 1); };
  p.fill.resize(kLiveBlocks);
  for (uint32_t i = 0; i < kLiveBlocks; i++) {
    p.fill[i] = (uint16_t)next_size();
    p.checksum = fold(p.checksum, p.fill[i]);
  }
  p.slots.resize(pairs);
  p.sizes.resize(pairs);
  for (size_t i = 0; i < pairs; i++) {
    p.slots[i] = (uint16_t)(next() % kLiveBlocks);  // slot before size, as in heap-pattern.ts
    p.sizes[i] = (uint16_t)next_size();
    p.checksum = fold(p.checksum, p.slots[i]);
    p.checksum = fold(p.checksum, p.sizes[i]);
  }
  return p;
}

static inline uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void escape(void *p) { asm volatile("" : : "g"(p) : "memory"); }

struct Options {
  size_t pairs = 1000000, warmup = 100000, slices = 10;
  uint32_t seed = 0x2545f491u;
  bool boost = true;
};

struct Result {
  double ns_per_pair;               // all timed pairs / total timed time
  std::vector<double> slice_ns;     // ns per pair of each slice
};

// Runs fill + warmup untimed, then `slices` equal timed slices of the pairs.
template <typename Alloc, typename Free>
static Result run_pattern(const Pattern &p, const Options &o, Alloc alloc, Free release) {
  std::vector<void *> live(kLiveBlocks);
  for (uint32_t i = 0; i < kLiveBlocks; i++) { live[i] = alloc(p.fill[i]); escape(live[i]); }
  size_t i = 0;
  for (; i < o.warmup; i++) {
    release(live[p.slots[i]]);
    live[p.slots[i]] = alloc(p.sizes[i]);
    escape(live[p.slots[i]]);
  }
  Result r;
  size_t per_slice = o.pairs / o.slices;
  uint64_t total = 0;
  for (size_t s = 0; s < o.slices; s++) {
    size_t end = i + per_slice;
    uint64_t t0 = now_ns();
    for (; i < end; i++) {
      release(live[p.slots[i]]);
      live[p.slots[i]] = alloc(p.sizes[i]);
      escape(live[p.slots[i]]);
    }
    uint64_t dt = now_ns() - t0;
    total += dt;
    r.slice_ns.push_back((double)dt / per_slice);
  }
  r.ns_per_pair = (double)total / (per_slice * o.slices);
  for (void *b : live) release(b);
  return r;
}

static std::string json_result(const Result &r) {
  std::string s = "{\"nsPerPair\": " + std::to_string(r.ns_per_pair);
  std::vector<double> sorted = r.slice_ns;
  std::sort(sorted.begin(), sorted.end());
  size_t n = sorted.size();
  double median = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  s += ", \"nsPerPairMedianSlice\": " + std::to_string(median) + ", \"sliceNsPerPair\": [";
  for (size_t i = 0; i < r.slice_ns.size(); i++) s += (i ? ", " : "") + std::to_string(r.slice_ns[i]);
  return s + "]}";
}

#ifndef HEAP_BASELINE_NO_BOOST
static const size_t kSegmentBytes = 16u << 20;

struct TwoProcSync {
  std::atomic<int> ready;
  std::atomic<int> go;
  std::atomic<int> done;
  double ns_per_pair[2];
  int failed[2];
};

// The children use the segment they inherit through fork(): MAP_SHARED, same
// address, so Boost's in-segment mutex and offset pointers work as after open_only,
// and the segment's name can be removed right after creation (nothing is left in
// /dev/shm even if this run is killed).
static std::string bench_boost_two_process(bip::managed_shared_memory &seg, const Options &o, const Pattern *pats) {
  auto *sync = static_cast<TwoProcSync *>(
      mmap(nullptr, sizeof(TwoProcSync), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (sync == MAP_FAILED) { perror("mmap"); exit(1); }
  new (sync) TwoProcSync{};
  pid_t kids[2];
  pid_t parent = getpid();
  for (int k = 0; k < 2; k++) {
    kids[k] = fork();
    if (kids[k] < 0) { perror("fork"); exit(1); }
    if (kids[k] == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a killed run
      if (getppid() != parent) _exit(1);
      try {
        Options mine = o;
        // The start barrier sits after fill + warmup so both processes time the same phase together.
        std::vector<void *> live(kLiveBlocks);
        const Pattern &p = pats[k];
        for (uint32_t i = 0; i < kLiveBlocks; i++) live[i] = seg.allocate(p.fill[i]);
        size_t i = 0;
        for (; i < mine.warmup; i++) { seg.deallocate(live[p.slots[i]]); live[p.slots[i]] = seg.allocate(p.sizes[i]); }
        sync->ready.fetch_add(1);
        while (!sync->go.load()) {}
        uint64_t t0 = now_ns();
        size_t end = mine.warmup + mine.pairs;
        for (; i < end; i++) {
          seg.deallocate(live[p.slots[i]]);
          live[p.slots[i]] = seg.allocate(p.sizes[i]);
          escape(live[p.slots[i]]);
        }
        sync->ns_per_pair[k] = (double)(now_ns() - t0) / mine.pairs;
        for (void *b : live) seg.deallocate(b);
      } catch (const std::exception &e) {
        fprintf(stderr, "heap-baseline: process %d: %s\n", k, e.what());
        sync->failed[k] = 1;
        sync->ready.fetch_add(1);
      }
      _exit(0);
    }
  }
  while (sync->ready.load() < 2) {}
  uint64_t t0 = now_ns();
  sync->go.store(1);
  for (int k = 0; k < 2; k++) waitpid(kids[k], nullptr, 0);
  uint64_t wall = now_ns() - t0;
  if (sync->failed[0] || sync->failed[1]) { fprintf(stderr, "heap-baseline: two-process run failed\n"); exit(1); }
  char buf[256];
  snprintf(buf, sizeof buf,
           "{\"nsPerPairWall\": %.3f, \"nsPerPairProcess\": [%.3f, %.3f], \"pairsEach\": %zu}",
           (double)wall / (2.0 * o.pairs), sync->ns_per_pair[0], sync->ns_per_pair[1], o.pairs);
  munmap(sync, sizeof(TwoProcSync));
  return buf;
}

#endif  // HEAP_BASELINE_NO_BOOST

static size_t parse_count(const char *flag, const char *v) {
  char *end;
  unsigned long long n = v ? strtoull(v, &end, 0) : 0;
  if (!v || *end || n == 0) { fprintf(stderr, "heap-baseline: %s needs a positive integer\n", flag); exit(2); }
  return (size_t)n;
}

int main(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--pairs") o.pairs = parse_count(argv[i], v), i++;
    else if (a == "--warmup") o.warmup = parse_count(argv[i], v), i++;
    else if (a == "--slices") o.slices = parse_count(argv[i], v), i++;
    else if (a == "--seed") { size_t s = parse_count(argv[i], v); i++; if (s > 0xffffffffull) { fprintf(stderr, "heap-baseline: --seed must fit in 32 bits\n"); return 2; } o.seed = (uint32_t)s; }
    else if (a == "--no-boost") o.boost = false;
    else if (a == "--help") {
      printf("usage: heap-baseline [--pairs N] [--warmup N] [--slices K] [--seed S] [--no-boost]\n");
      return 0;
    } else { fprintf(stderr, "heap-baseline: unknown argument %s (try --help)\n", argv[i]); return 2; }
  }
  if (o.pairs < o.slices) o.slices = 1;
  o.pairs -= o.pairs % o.slices;

  Pattern pats[2] = {precompute(participant_seed(o.seed, 0), o.warmup + o.pairs),
                     precompute(participant_seed(o.seed, 1), o.warmup + o.pairs)};

  Result m = run_pattern(pats[0], o, [](size_t n) { return malloc(n); }, [](void *b) { free(b); });

  std::string boost_single = "null", boost_two = "null";
#ifdef HEAP_BASELINE_NO_BOOST
  o.boost = false;  // built without Boost headers: malloc only
#endif
#ifndef HEAP_BASELINE_NO_BOOST
  if (o.boost) {
    std::string name = "robust-shm-bench-boost-" + std::to_string(getpid());
    bip::shared_memory_object::remove(name.c_str());
    try {
      bip::managed_shared_memory seg(bip::create_only, name.c_str(), kSegmentBytes);
      bip::shared_memory_object::remove(name.c_str());
      Result b = run_pattern(pats[0], o, [&seg](size_t n) { return seg.allocate(n); },
                             [&seg](void *p) { seg.deallocate(p); });
      boost_single = json_result(b);
      boost_two = bench_boost_two_process(seg, o, pats);
    } catch (const std::exception &e) {
      bip::shared_memory_object::remove(name.c_str());
      fprintf(stderr, "heap-baseline: boost: %s\n", e.what());
      return 1;
    }
  }
#endif

  printf("{\n");
  printf("  \"pattern\": {\"liveBlocks\": %u, \"minSize\": %u, \"maxSize\": %u, \"seed\": %u, \"warmupPairs\": %zu, \"timedPairs\": %zu, \"slices\": %zu},\n",
         kLiveBlocks, kMinSize, kMaxSize, o.seed, o.warmup, o.pairs, o.slices);
  printf("  \"checksums\": [%u, %u],\n", pats[0].checksum, pats[1].checksum);
#ifdef HEAP_BASELINE_NO_BOOST
  printf("  \"boostVersion\": null,\n");
#else
  printf("  \"boostVersion\": \"%d.%d.%d\",\n", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100);
#endif
  printf("  \"boostSingle\": %s,\n", boost_single.c_str());
  printf("  \"boostTwoProcess\": %s,\n", boost_two.c_str());
  printf("  \"mallocSingle\": %s\n", json_result(m).c_str());
  printf("}\n");
  return 0;
}
