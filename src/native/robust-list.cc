// The calling thread's kernel robust-futex list, shared with glibc.
//
// set_robust_list(2) keeps ONE head per thread, and glibc registers one for
// every thread it creates (futex_offset -32: the lock word sits 32 bytes
// before the list element, which is pthread_mutex_t.__list.__next). Replacing
// that head would leave every PTHREAD_MUTEX_ROBUST mutex locked afterwards on
// the thread unrobust, so robust-shm links its words into glibc's list, in
// glibc's node format:
//
//   node + 0   32-bit robust-futex word (TID | FUTEX_WAITERS | FUTEX_OWNER_DIED)
//   node + 24  __prev: the previous element (a node's &__next, or the head)
//   node + 32  __next: the next element (the kernel's `struct robust_list`)
//
// glibc writes a neighbour's __prev on enqueue and dequeue (descr.h,
// ENQUEUE_MUTEX_BOTH / DEQUEUE_MUTEX), and the head's own "__prev" is the
// `robust_prev` word just before `robust_head` in struct pthread. Only a
// thread with no head at all gets one of ours, with the same shape.
//
// TypeScript links and unlinks its nodes (policy, and the fast path). This
// file: finds or registers the head (checking glibc's layout at first use),
// patches a foreign (glibc) neighbour on the rare slow path, and marks the
// dying thread's robust-shm words OWNER_DIED from an environment cleanup hook.
#include "common.h"

#include <pthread.h>
#include <stddef.h>
#include <sys/uio.h>

namespace robust_shm {

// The node format is glibc's pthread_mutex_t for the target CPU: checked at build time. The
// offsets robust-list.ts relies on (__prev 24, __next 32) are the same on x86-64 and aarch64;
// only the size differs (aarch64's __SIZEOF_PTHREAD_MUTEX_T is 48: 8 bytes of padding at the end).
static_assert(offsetof(pthread_mutex_t, __data.__lock) == 0, "glibc mutex: __lock at 0");
static_assert(offsetof(pthread_mutex_t, __data.__list.__prev) == 24, "glibc mutex: __prev at 24");
static_assert(offsetof(pthread_mutex_t, __data.__list.__next) == 32, "glibc mutex: __next at 32");
#if defined(__x86_64__)
static_assert(sizeof(pthread_mutex_t) == 40, "glibc mutex: 40 bytes on x86-64");
#elif defined(__aarch64__)
static_assert(sizeof(pthread_mutex_t) == 48, "glibc mutex: 48 bytes on aarch64");
#else
#error "robust-shm's robust-list node layout is checked for x86-64 and aarch64 only"
#endif

namespace {

constexpr long kFutexOffset = -32;
constexpr uintptr_t kPrevDelta = 8;      // an element's __prev lies 8 bytes before it (QUEUE_PTR_ADJUST)
constexpr int kListLimit = 2048;         // the kernel's ROBUST_LIST_LIMIT
constexpr uint32_t kNodeTag = 0x4d485352;  // 'RSHM' at node + 8: a robust-shm node (see robust-list.ts)
constexpr uint32_t kTidMask = 0x3fffffff;
constexpr uint32_t kWaiters = 0x80000000u;
constexpr uint32_t kOwnerDied = 0x40000000u;

struct RobustHead {
  void* list;
  long futex_offset;
  void* list_op_pending;
};

// Our own head, for a thread that has none (not a glibc thread): glibc's
// shape, a __prev slot right before the head. Thread-local storage of this
// (-z nodelete) object lives until the thread exits, after the kernel's walk.
struct alignas(16) OwnHead {
  void* prev;
  RobustHead head;
};
thread_local OwnHead t_own;
thread_local bool t_hook_registered = false;

// Reads and writes that cannot fault: node pointers live in shared memory
// any participant may scribble on, so a wild one must give an error, not SIGSEGV.
bool SafeRead(uintptr_t address, void* out, size_t length) {
  struct iovec local = {out, length};
  struct iovec remote = {reinterpret_cast<void*>(address), length};
  return process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(length);
}

bool SafeWrite(uintptr_t address, const void* in, size_t length) {
  struct iovec local = {const_cast<void*>(in), length};
  struct iovec remote = {reinterpret_cast<void*>(address), length};
  return process_vm_writev(getpid(), &local, 1, &remote, 1, 0) == static_cast<ssize_t>(length);
}

// nullptr when the thread has no head, or when the kernel refuses the call (then *error is set).
RobustHead* CurrentHead(int* error = nullptr) {
  RobustHead* head = nullptr;
  size_t length = 0;
  if (syscall(SYS_get_robust_list, 0, &head, &length) != 0) {
    if (error != nullptr) *error = errno;
    return nullptr;
  }
  return head;
}

// Lock and unlock a robust glibc mutex on this thread and check that glibc
// linked it where we think (the assumption the whole sharing rests on).
// Returns an explanation when it does not hold.
const char* CheckGlibcLayout(RobustHead* head) {
  if (head->futex_offset != kFutexOffset) return "the thread's robust-list head has a futex_offset other than -32";
  pthread_mutexattr_t attr;
  pthread_mutex_t probe;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&probe, &attr);
  pthread_mutexattr_destroy(&attr);
  void* before = head->list;
  void** before_prev = reinterpret_cast<void**>(reinterpret_cast<uintptr_t>(before) - kPrevDelta);
  const char* problem = nullptr;
  if (pthread_mutex_lock(&probe) != 0) return "could not lock a probe robust mutex";
  void* element = &probe.__data.__list.__next;
  if (head->list != element) problem = "glibc did not make the probe mutex's __next (+32) the list head";
  else if (probe.__data.__list.__next != before) problem = "glibc's __next does not hold the old first element";
  else if (probe.__data.__list.__prev != static_cast<void*>(head)) problem = "glibc's __prev (+24) does not point at the head";
  else if (*before_prev != element) problem = "glibc did not write the old first element's __prev (8 bytes before it)";
  pthread_mutex_unlock(&probe);
  if (!problem && head->list != before) problem = "glibc did not restore the list head on unlock";
  pthread_mutex_destroy(&probe);
  return problem;
}

// Whether `element` (a list element: a node's &__next, or the head) is on the
// calling thread's list, walking it as the kernel does.
bool OnList(RobustHead* head, uintptr_t element) {
  uintptr_t at = reinterpret_cast<uintptr_t>(head);
  if (element == at) return true;
  uintptr_t next;
  if (!SafeRead(at, &next, sizeof next)) return false;
  for (int hops = 0; hops < kListLimit; hops++) {
    next &= ~uintptr_t{1};  // bit 0 flags a PI mutex
    if (next == reinterpret_cast<uintptr_t>(head)) return false;
    if (next == element) return true;
    at = next;
    if (!SafeRead(at, &next, sizeof next)) return false;
  }
  return false;
}

void WakeOne(uint32_t* word) {
  syscall(SYS_futex, word, FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

// What the kernel's handle_futex_death does for a word whose owner exits:
// still ours -> clear the TID, set OWNER_DIED (keep WAITERS), wake one waiter.
void MarkOwnerDied(uint32_t* word, uint32_t tid) {
  uint32_t value = __atomic_load_n(word, __ATOMIC_SEQ_CST);
  for (;;) {
    if ((value & kTidMask) != tid) return;
    uint32_t died = (value & kWaiters) | kOwnerDied;
    if (__atomic_compare_exchange_n(word, &value, died, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) break;
  }
  if (value & kWaiters) WakeOne(word);
}

bool IsOurNode(uintptr_t element) {
  uint32_t tag;
  return SafeRead(element + kFutexOffset + 8, &tag, sizeof tag) && tag == kNodeTag;
}

// Environment cleanup hook: runs on the environment's own thread while it is
// torn down (worker.terminate(), a worker's end, the main thread's exit).
// Node spends milliseconds more before the OS thread exits and the kernel
// walks the list; doing the walk's work for robust-shm's nodes now is the
// same mechanism, earlier. glibc mutexes on the list are left alone: native
// code of this thread may still hold them legitimately until it exits, and
// the kernel marks them then. Our nodes are also unlinked, because the
// mappings they live in may be unmapped when the isolate goes, before the
// kernel's walk (a fault there would end the walk and skip glibc's mutexes).
// JS no longer runs on this thread, but it may have been stopped anywhere,
// e.g. between taking a word and linking it: list_op_pending names that node.
void OnEnvironmentCleanup(void*) {
  RobustHead* head = CurrentHead();
  if (head == nullptr || head->futex_offset != kFutexOffset) return;
  uint32_t tid = static_cast<uint32_t>(syscall(SYS_gettid));
  uintptr_t head_at = reinterpret_cast<uintptr_t>(head);
  // Unlink first, mark after: once a word is marked, a waiter may take it and
  // link the node into its own list, and the node is no longer ours to touch.
  uintptr_t ours[kListLimit];
  int count = 0;
  uintptr_t prev = head_at;
  uintptr_t element = reinterpret_cast<uintptr_t>(head->list) & ~uintptr_t{1};
  for (int hops = 0; hops < kListLimit && element != head_at; hops++) {
    uintptr_t next;
    if (!SafeRead(element, &next, sizeof next)) break;
    next &= ~uintptr_t{1};
    if (IsOurNode(element)) {
      // prev->__next = next; next->__prev = prev (glibc's DEQUEUE_MUTEX).
      if (!SafeWrite(prev, &next, sizeof next) || !SafeWrite(next - kPrevDelta, &prev, sizeof prev)) break;
      ours[count++] = element;
    } else {
      prev = element;
    }
    element = next;
  }
  uintptr_t pending = reinterpret_cast<uintptr_t>(head->list_op_pending);
  if (pending != 0 && IsOurNode(pending)) {
    head->list_op_pending = nullptr;
    bool listed = false;
    for (int i = 0; i < count && !listed; i++) listed = ours[i] == pending;
    if (!listed && count < kListLimit) ours[count++] = pending;
  }
  for (int i = 0; i < count; i++) MarkOwnerDied(reinterpret_cast<uint32_t*>(ours[i] + kFutexOffset), tid);
}

Local<Value> HeadView(Isolate* isolate, RobustHead* head, bool shared) {
  Local<Context> context = isolate->GetCurrentContext();
  // [head - 8, head + 24): the __prev slot, list, futex_offset, list_op_pending.
  // The memory is glibc's thread descriptor (or our thread-local head): it
  // lives as long as the thread, so the backing store never frees it. V8's
  // own EmptyDeleter, not a lambda of ours: a deleter that lives in the addon
  // would be called at the isolate's teardown, and must not depend on the
  // addon still being mapped then.
  void* start = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(head) - kPrevDelta);
  std::unique_ptr<BackingStore> store = ArrayBuffer::NewBackingStore(start, 32, BackingStore::EmptyDeleter, nullptr);
  Local<Object> result = Object::New(isolate);
  result->Set(context, String::NewFromUtf8(isolate, "head").ToLocalChecked(), ArrayBuffer::New(isolate, std::move(store))).Check();
  result->Set(context, String::NewFromUtf8(isolate, "address").ToLocalChecked(),
              Number::New(isolate, static_cast<double>(reinterpret_cast<uintptr_t>(head)))).Check();
  result->Set(context, String::NewFromUtf8(isolate, "shared").ToLocalChecked(), v8::Boolean::New(isolate, shared)).Check();
  return result;
}

// robustListHead(futexOffset) -> { head: ArrayBuffer (32 bytes from head - 8), address, shared }
// futexOffset must be -32 (glibc's): one head serves every robust word of the thread.
void RobustListHeadJs(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsInt32()) return ThrowType(isolate, "futexOffset must be a 32-bit integer");
  if (args[0].As<v8::Int32>()->Value() != kFutexOffset) return ThrowRange(isolate, "futexOffset must be -32 (glibc's robust-list node format)");
  int refused = 0;
  RobustHead* head = CurrentHead(&refused);
  // qemu-user and seccomp sandboxes refuse get_robust_list (ENOSYS, EPERM). Then nothing says whether
  // glibc registered a head, and registering ours might replace it: report it, and the TypeScript
  // side takes its documented fallback (robust-list.ts).
  if (refused != 0) return ThrowErrno(isolate, refused, "get_robust_list");
  bool shared = head != nullptr && head != &t_own.head;
  if (head == nullptr) {
    t_own.prev = nullptr;
    t_own.head.list = &t_own.head;  // empty list: points at itself
    t_own.head.futex_offset = kFutexOffset;
    t_own.head.list_op_pending = nullptr;
    if (syscall(SYS_set_robust_list, &t_own.head, sizeof(RobustHead)) != 0) return ThrowErrno(isolate, errno, "set_robust_list");
    head = &t_own.head;
  } else if (shared) {
    const char* problem = CheckGlibcLayout(head);
    if (problem != nullptr) {
      std::string message = std::string("cannot share this thread's robust list with glibc: ") + problem;
      return ThrowRange(isolate, message.c_str());
    }
  }
  if (!t_hook_registered) {
    node::AddEnvironmentCleanupHook(isolate, OnEnvironmentCleanup, nullptr);
    t_hook_registered = true;
  }
  args.GetReturnValue().Set(HeadView(isolate, head, shared));
}

// robustListPatch(element, slot, value): the slow path of link/unlink when a
// neighbour is not one of robust-shm's nodes (a glibc mutex). Writes `value`
// into the neighbour's __next (slot 0) or __prev (slot 1), after checking
// that `element` is the head or an element of the calling thread's list.
void RobustListPatch(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  size_t element, slot, value;
  if (!ToSize(isolate, args[0], &element, "element") || !ToSize(isolate, args[1], &slot, "slot") ||
      !ToSize(isolate, args[2], &value, "value"))
    return;
  if (slot > 1) return ThrowRange(isolate, "slot must be 0 (__next) or 1 (__prev)");
  if (element % 8 != 0 || value % 8 != 0) return ThrowRange(isolate, "element and value must be 8-byte aligned addresses");
  RobustHead* head = CurrentHead();
  if (head == nullptr) return ThrowRange(isolate, "this thread has no robust list");
  if (!OnList(head, element)) return ThrowRange(isolate, "element is not on the calling thread's robust list");
  uintptr_t target = slot == 0 ? element : element - kPrevDelta;
  uintptr_t v = value;
  if (!SafeWrite(target, &v, sizeof v)) return ThrowRange(isolate, "the list element is not writable");
}

}  // namespace

void RegisterRobustList(Local<Context> context, Local<Object> exports) {
  SetFunction(context, exports, "robustListHead", RobustListHeadJs);
  SetFunction(context, exports, "robustListPatch", RobustListPatch);
}

}  // namespace robust_shm
