// robust-shm native layer: thin syscalls with bounds checks, nothing else.
//
// The raw V8 API is used (not N-API) because only V8 can wrap external memory
// in a SharedArrayBuffer. NODE_MODULE_INIT makes the addon context-aware so it
// loads in worker threads too. One file per concern: mapping.cc, futex.cc,
// robust-list.cc, file-space.cc, waiter.cc, process.cc; this one only registers their functions.
#include "common.h"

namespace robust_shm {

void SetFunction(Local<Context> context, Local<Object> exports, const char* name, v8::FunctionCallback fn) {
  // Not context->GetIsolate(): V8 14 (Node 26) removed Context::GetIsolate and Object::GetIsolate.
  // Module init runs on the isolate that loads the addon, so the current one is it (Node 20-26).
  Isolate* isolate = Isolate::GetCurrent();
  exports->Set(context, String::NewFromUtf8(isolate, name).ToLocalChecked(),
               v8::FunctionTemplate::New(isolate, fn)->GetFunction(context).ToLocalChecked()).Check();
}

void RegisterMapping(Local<Context> context, Local<Object> exports);
void RegisterFutex(Local<Context> context, Local<Object> exports);
void RegisterRobustList(Local<Context> context, Local<Object> exports);
void RegisterFileSpace(Local<Context> context, Local<Object> exports);
void RegisterWaiter(Local<Context> context, Local<Object> exports);
void RegisterProcess(Local<Context> context, Local<Object> exports);

}  // namespace robust_shm

NODE_MODULE_INIT(/* exports, module, context */) {
  robust_shm::RegisterMapping(context, exports);
  robust_shm::RegisterFutex(context, exports);
  robust_shm::RegisterRobustList(context, exports);
  robust_shm::RegisterFileSpace(context, exports);
  robust_shm::RegisterWaiter(context, exports);
  robust_shm::RegisterProcess(context, exports);
}
