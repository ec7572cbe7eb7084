// Shared helpers of the native layer: argument checks and error objects.
// Every function that takes a SharedArrayBuffer and an offset checks that the
// bytes it will touch lie inside that buffer, so a participant that passes a
// bad offset gets a RangeError instead of making us read or write someone
// else's memory. All policy (what to map, how to lock, what an error means)
// lives in TypeScript.
#pragma once

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

namespace robust_shm {

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

void SetFunction(Local<Context> context, Local<Object> exports, const char* name, v8::FunctionCallback fn);

inline size_t PageSize() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

inline void ThrowErrno(Isolate* isolate, int err, const char* syscall) {
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

inline void ThrowRange(Isolate* isolate, const char* message) {
  isolate->ThrowException(Exception::RangeError(String::NewFromUtf8(isolate, message).ToLocalChecked()));
}

inline void ThrowType(Isolate* isolate, const char* message) {
  isolate->ThrowException(Exception::TypeError(String::NewFromUtf8(isolate, message).ToLocalChecked()));
}

// A non-negative integer that is exactly representable; rejects NaN, fractions, negatives.
inline bool ToSize(Isolate* isolate, Local<Value> value, size_t* out, const char* what) {
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

inline bool GetSab(Isolate* isolate, Local<Value> value, SabRange* out) {
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
inline bool CheckRange(Isolate* isolate, const SabRange& sab, size_t offset, size_t length) {
  if (offset > sab.length || length > sab.length - offset) {
    ThrowRange(isolate, "offset and length are outside the SharedArrayBuffer");
    return false;
  }
  return true;
}

}  // namespace robust_shm
