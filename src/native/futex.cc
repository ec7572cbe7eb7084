// Cross-process futex wait/wake on a word of a SharedArrayBuffer, and gettid.
#include "common.h"

namespace robust_shm {
namespace {

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

}  // namespace

void RegisterFutex(Local<Context> context, Local<Object> exports) {
  SetFunction(context, exports, "futexWait", FutexWait);
  SetFunction(context, exports, "futexWake", FutexWake);
  SetFunction(context, exports, "gettid", Gettid);
}

}  // namespace robust_shm
