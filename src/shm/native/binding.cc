// robust-shm native layer: thin syscalls with bounds checks, nothing else.
//
// Every function that takes a SharedArrayBuffer and an offset checks that the
// bytes it will touch lie inside that buffer, so a participant that passes a
// bad offset gets a RangeError instead of making us read or write someone
// else's memory. All policy (what to map, how to lock, what an error means)
// lives in TypeScript.
//
// The raw V8 API is used (not N-API) because only V8 can wrap external memory
// in a SharedArrayBuffer. NODE_MODULE_INIT makes the addon context-aware so it
// loads in worker threads too.

#include <node.h>
#include <v8.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_COLD
#define MADV_COLD 20
#endif
#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

namespace {

using v8::Array;
using v8::ArrayBuffer;
using v8::BackingStore;
using v8::Context;
using v8::Exception;
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::Number;
using v8::Object;
using v8::SharedArrayBuffer;
using v8::String;
using v8::Uint8Array;
using v8::Value;

// Mappings this addon made, by base address. msync/madvise/mincore are only
// allowed on these: on a V8-allocated SharedArrayBuffer they would act on
// memory V8 owns (and madvise(DONTNEED) would zero it under V8's feet).
std::mutex g_mappings_lock;
std::unordered_map<uintptr_t, size_t> g_mappings;

size_t PageSize() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

void ThrowErrno(Isolate* isolate, int err, const char* syscall) {
  std::string message = std::string(syscall) + " failed: " + strerrorname_np(err) + " (" + strerror(err) + ")";
  Local<Context> context = isolate->GetCurrentContext();
  Local<Value> error = Exception::Error(String::NewFromUtf8(isolate, message.c_str()).ToLocalChecked());
  Local<Object> object = error.As<Object>();
  const char* name = strerrorname_np(err);
  object->Set(context, String::NewFromUtf8(isolate, "code").ToLocalChecked(),
              String::NewFromUtf8(isolate, name ? name : "EUNKNOWN").ToLocalChecked()).Check();
  object->Set(context, String::NewFromUtf8(isolate, "errno").ToLocalChecked(), Number::New(isolate, -err)).Check();
  object->Set(context, String::NewFromUtf8(isolate, "syscall").ToLocalChecked(),
              String::NewFromUtf8(isolate, syscall).ToLocalChecked()).Check();
  isolate->ThrowException(error);
}

void ThrowRange(Isolate* isolate, const char* message) {
  isolate->ThrowException(Exception::RangeError(String::NewFromUtf8(isolate, message).ToLocalChecked()));
}

void ThrowType(Isolate* isolate, const char* message) {
  isolate->ThrowException(Exception::TypeError(String::NewFromUtf8(isolate, message).ToLocalChecked()));
}

// A non-negative integer that is exactly representable; rejects NaN, fractions, negatives.
bool ToSize(Isolate* isolate, Local<Value> value, size_t* out, const char* what) {
  if (!value->IsNumber()) {
    std::string message = std::string(what) + " must be a number";
    ThrowType(isolate, message.c_str());
    return false;
  }
  double d = value.As<Number>()->Value();
  if (!(d >= 0) || d != std::floor(d) || d > 9007199254740991.0) {
    std::string message = std::string(what) + " must be a non-negative integer";
    ThrowRange(isolate, message.c_str());
    return false;
  }
  *out = static_cast<size_t>(d);
  return true;
}

struct SabRange {
  uint8_t* base;
  size_t length;
};

bool GetSab(Isolate* isolate, Local<Value> value, SabRange* out) {
  if (!value->IsSharedArrayBuffer()) {
    ThrowType(isolate, "expected a SharedArrayBuffer");
    return false;
  }
  std::shared_ptr<BackingStore> store = value.As<SharedArrayBuffer>()->GetBackingStore();
  out->base = static_cast<uint8_t*>(store->Data());
  out->length = store->ByteLength();
  return true;
}

// [offset, offset + length) must lie inside the buffer; overflow-safe.
bool CheckRange(Isolate* isolate, const SabRange& sab, size_t offset, size_t length) {
  if (offset > sab.length || length > sab.length - offset) {
    ThrowRange(isolate, "offset and length are outside the SharedArrayBuffer");
    return false;
  }
  return true;
}

// The page-aligned span of one of our own mappings that covers [offset, offset+length).
bool OwnMappingSpan(Isolate* isolate, const SabRange& sab, size_t offset, size_t length, void** start, size_t* span) {
  {
    std::lock_guard<std::mutex> guard(g_mappings_lock);
    auto it = g_mappings.find(reinterpret_cast<uintptr_t>(sab.base));
    if (it == g_mappings.end()) {
      ThrowType(isolate, "this SharedArrayBuffer is not a mapping made by robust-shm");
      return false;
    }
  }
  if (!CheckRange(isolate, sab, offset, length)) return false;
  size_t page = PageSize();
  size_t aligned = offset - offset % page;
  *start = sab.base + aligned;
  *span = length + (offset - aligned);
  return true;
}

void Unmap(void* data, size_t length, void* /*deleter_data*/) {
  {
    std::lock_guard<std::mutex> guard(g_mappings_lock);
    g_mappings.erase(reinterpret_cast<uintptr_t>(data));
  }
  munmap(data, length);
}

Local<SharedArrayBuffer> WrapMapping(Isolate* isolate, void* address, size_t length) {
  {
    std::lock_guard<std::mutex> guard(g_mappings_lock);
    g_mappings[reinterpret_cast<uintptr_t>(address)] = length;
  }
  // The deleter runs when the last SharedArrayBuffer over this store, in any
  // thread of this process, is collected: that is when the view is unmapped.
  std::unique_ptr<BackingStore> store = SharedArrayBuffer::NewBackingStore(address, length, Unmap, nullptr);
  return SharedArrayBuffer::New(isolate, std::move(store));
}

// mapFd(fd, length, privateCopy): mmap the first `length` bytes of an open file.
// privateCopy maps MAP_PRIVATE (used for read-only opens): a PROT_READ
// SharedArrayBuffer would turn any stray JS write into SIGSEGV, so instead
// writes land in private copy-on-write pages and never reach the file.
void MapFd(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  size_t fd, length;
  if (!ToSize(isolate, args[0], &fd, "fd") || !ToSize(isolate, args[1], &length, "length")) return;
  bool private_copy = args[2]->IsTrue();
  if (fd > INT_MAX) return ThrowRange(isolate, "fd is out of range");
  if (length == 0) return ThrowRange(isolate, "length must be at least 1");
  struct stat st;
  if (fstat(static_cast<int>(fd), &st) != 0) return ThrowErrno(isolate, errno, "fstat");
  // Touching a mapped page past end-of-file raises SIGBUS, which kills the process.
  if (st.st_size < 0 || static_cast<size_t>(st.st_size) < length) return ThrowRange(isolate, "file is shorter than the mapping length");
  int flags = private_copy ? MAP_PRIVATE : MAP_SHARED;
  void* address = mmap(nullptr, length, PROT_READ | PROT_WRITE, flags, static_cast<int>(fd), 0);
  if (address == MAP_FAILED) return ThrowErrno(isolate, errno, "mmap");
  args.GetReturnValue().Set(WrapMapping(isolate, address, length));
}

// mapAnonymous(length, shared): zero-filled memory, for the page-lifecycle demo.
void MapAnonymous(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  size_t length;
  if (!ToSize(isolate, args[0], &length, "length")) return;
  if (length == 0) return ThrowRange(isolate, "length must be at least 1");
  int flags = MAP_ANONYMOUS | (args[1]->IsTrue() ? MAP_SHARED : MAP_PRIVATE);
  void* address = mmap(nullptr, length, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (address == MAP_FAILED) return ThrowErrno(isolate, errno, "mmap");
  args.GetReturnValue().Set(WrapMapping(isolate, address, length));
}

// msync(sab, offset, length, async)
void Msync(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  SabRange sab;
  size_t offset, length;
  if (!GetSab(isolate, args[0], &sab) || !ToSize(isolate, args[1], &offset, "offset") ||
      !ToSize(isolate, args[2], &length, "length"))
    return;
  void* start;
  size_t span;
  if (!OwnMappingSpan(isolate, sab, offset, length, &start, &span)) return;
  if (msync(start, span, args[3]->IsTrue() ? MS_ASYNC : MS_SYNC) != 0) return ThrowErrno(isolate, errno, "msync");
}

// madvise(sab, offset, length, advice) with advice one of a fixed set of names.
void Madvise(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  SabRange sab;
  size_t offset, length;
  if (!GetSab(isolate, args[0], &sab) || !ToSize(isolate, args[1], &offset, "offset") ||
      !ToSize(isolate, args[2], &length, "length"))
    return;
  String::Utf8Value name(isolate, args[3]);
  int advice;
  if (*name == nullptr) return ThrowType(isolate, "advice must be a string");
  std::string advice_name(*name);
  if (advice_name == "dontneed") advice = MADV_DONTNEED;
  else if (advice_name == "pageout") advice = MADV_PAGEOUT;
  else if (advice_name == "cold") advice = MADV_COLD;
  else if (advice_name == "willneed") advice = MADV_WILLNEED;
  else return ThrowRange(isolate, "advice must be one of dontneed, pageout, cold, willneed");
  void* start;
  size_t span;
  if (!OwnMappingSpan(isolate, sab, offset, length, &start, &span)) return;
  if (madvise(start, span, advice) != 0) return ThrowErrno(isolate, errno, "madvise");
}

// mincore(sab, offset, length) -> Uint8Array, one byte per page (bit 0 = resident).
void Mincore(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  SabRange sab;
  size_t offset, length;
  if (!GetSab(isolate, args[0], &sab) || !ToSize(isolate, args[1], &offset, "offset") ||
      !ToSize(isolate, args[2], &length, "length"))
    return;
  void* start;
  size_t span;
  if (!OwnMappingSpan(isolate, sab, offset, length, &start, &span)) return;
  size_t pages = (span + PageSize() - 1) / PageSize();
  Local<ArrayBuffer> out = ArrayBuffer::New(isolate, pages);
  if (mincore(start, span, static_cast<unsigned char*>(out->GetBackingStore()->Data())) != 0)
    return ThrowErrno(isolate, errno, "mincore");
  args.GetReturnValue().Set(Uint8Array::New(out, 0, pages));
}

// The virtual address of byte `offset` of a mapping, for /proc/self/pagemap lookups.
void AddressOf(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  SabRange sab;
  size_t offset;
  if (!GetSab(isolate, args[0], &sab) || !ToSize(isolate, args[1], &offset, "offset")) return;
  if (!CheckRange(isolate, sab, offset, 0)) return;
  args.GetReturnValue().Set(Number::New(isolate, static_cast<double>(reinterpret_cast<uintptr_t>(sab.base + offset))));
}

bool FutexWord(Isolate* isolate, const FunctionCallbackInfo<Value>& args, int32_t** word) {
  SabRange sab;
  size_t offset;
  if (!GetSab(isolate, args[0], &sab) || !ToSize(isolate, args[1], &offset, "byteOffset")) return false;
  if (offset % 4 != 0) {
    ThrowRange(isolate, "byteOffset must be a multiple of 4");
    return false;
  }
  if (!CheckRange(isolate, sab, offset, 4)) return false;
  *word = reinterpret_cast<int32_t*>(sab.base + offset);
  return true;
}

// futexWait(sab, byteOffset, expected, timeoutMs) -> "ok" | "not-equal" | "timed-out" | "interrupted"
// Shared (not FUTEX_PRIVATE) so a wake from another process reaches us.
// timeoutMs < 0 or Infinity waits without a timeout.
void FutexWait(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  int32_t* word;
  if (!FutexWord(isolate, args, &word)) return;
  if (!args[2]->IsInt32()) return ThrowType(isolate, "expected must be a 32-bit integer");
  int32_t expected = args[2].As<v8::Int32>()->Value();
  if (!args[3]->IsNumber()) return ThrowType(isolate, "timeoutMs must be a number");
  double timeout_ms = args[3].As<Number>()->Value();
  if (std::isnan(timeout_ms)) return ThrowRange(isolate, "timeoutMs must not be NaN");
  struct timespec ts;
  struct timespec* timeout = nullptr;
  if (timeout_ms >= 0 && std::isfinite(timeout_ms)) {
    double ns = timeout_ms * 1e6;
    ts.tv_sec = static_cast<time_t>(ns / 1e9);
    ts.tv_nsec = static_cast<long>(ns - static_cast<double>(ts.tv_sec) * 1e9);
    timeout = &ts;
  }
  long rc = syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout, nullptr, 0);
  const char* result = "ok";
  if (rc != 0) {
    int err = errno;
    if (err == EAGAIN) result = "not-equal";
    else if (err == ETIMEDOUT) result = "timed-out";
    else if (err == EINTR) result = "interrupted";
    else return ThrowErrno(isolate, err, "futex");
  }
  args.GetReturnValue().Set(String::NewFromUtf8(isolate, result).ToLocalChecked());
}

// futexWake(sab, byteOffset, count) -> number woken
void FutexWake(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  int32_t* word;
  if (!FutexWord(isolate, args, &word)) return;
  size_t count;
  if (!ToSize(isolate, args[2], &count, "count")) return;
  int n = count > INT_MAX ? INT_MAX : static_cast<int>(count);
  long rc = syscall(SYS_futex, word, FUTEX_WAKE, n, nullptr, nullptr, 0);
  if (rc < 0) return ThrowErrno(isolate, errno, "futex");
  args.GetReturnValue().Set(Number::New(isolate, static_cast<double>(rc)));
}

void Gettid(const FunctionCallbackInfo<Value>& args) {
  args.GetReturnValue().Set(Number::New(args.GetIsolate(), static_cast<double>(syscall(SYS_gettid))));
}

// The calling thread's kernel robust-futex list head (set_robust_list(2)).
//
// robustListHead(futexOffset) registers a per-thread head with the kernel and
// returns { head: ArrayBuffer over the 24-byte head, address }. When the
// thread exits for any reason (SIGKILL, worker.terminate(), process exit) the
// kernel walks the list, and for each lock word still holding this thread's
// TID sets FUTEX_OWNER_DIED and wakes one waiter: death detection without
// polling. TypeScript links and unlinks entries (policy); this only registers.
// It replaces glibc's per-thread head: Node, V8 and libuv use no
// PTHREAD_MUTEX_ROBUST mutexes, which are the only users of that list.
struct RobustListHead {
  void* next;
  long futex_offset;
  void* list_op_pending;
};
thread_local RobustListHead t_robust_head;
thread_local bool t_robust_registered = false;

void RobustListHeadJs(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> context = isolate->GetCurrentContext();
  if (!args[0]->IsInt32()) return ThrowType(isolate, "futexOffset must be a 32-bit integer");
  long futex_offset = args[0].As<v8::Int32>()->Value();
  if (!t_robust_registered) {
    t_robust_head.next = &t_robust_head;  // empty list: points at itself
    t_robust_head.futex_offset = futex_offset;
    t_robust_head.list_op_pending = nullptr;
    if (syscall(SYS_set_robust_list, &t_robust_head, sizeof(t_robust_head)) != 0) return ThrowErrno(isolate, errno, "set_robust_list");
    t_robust_registered = true;
  } else if (t_robust_head.futex_offset != futex_offset) {
    return ThrowRange(isolate, "this thread's robust list uses another futexOffset");
  }
  // The head lives as long as the thread: the backing store must never free it.
  std::unique_ptr<BackingStore> store =
      ArrayBuffer::NewBackingStore(&t_robust_head, sizeof(t_robust_head), [](void*, size_t, void*) {}, nullptr);
  Local<Object> result = Object::New(isolate);
  result->Set(context, String::NewFromUtf8(isolate, "head").ToLocalChecked(), ArrayBuffer::New(isolate, std::move(store))).Check();
  result->Set(context, String::NewFromUtf8(isolate, "address").ToLocalChecked(),
              Number::New(isolate, static_cast<double>(reinterpret_cast<uintptr_t>(&t_robust_head)))).Check();
  args.GetReturnValue().Set(result);
}

void PageSizeJs(const FunctionCallbackInfo<Value>& args) {
  args.GetReturnValue().Set(Number::New(args.GetIsolate(), static_cast<double>(PageSize())));
}

}  // namespace

NODE_MODULE_INIT(/* exports, module, context */) {
  Isolate* isolate = context->GetIsolate();
  auto set = [&](const char* name, v8::FunctionCallback fn) {
    exports->Set(context, String::NewFromUtf8(isolate, name).ToLocalChecked(),
                 v8::FunctionTemplate::New(isolate, fn)->GetFunction(context).ToLocalChecked()).Check();
  };
  set("mapFd", MapFd);
  set("mapAnonymous", MapAnonymous);
  set("msync", Msync);
  set("madvise", Madvise);
  set("mincore", Mincore);
  set("addressOf", AddressOf);
  set("futexWait", FutexWait);
  set("futexWake", FutexWake);
  set("gettid", Gettid);
  set("pageSize", PageSizeJs);
  set("robustListHead", RobustListHeadJs);
}
