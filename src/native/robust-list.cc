// The calling thread's kernel robust-futex list (set_robust_list(2)).
#include "common.h"

namespace robust_shm {
namespace {

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
  // V8's own EmptyDeleter, not a lambda of ours: a deleter that lives in the
  // addon would be called at the isolate's teardown, and must not depend on
  // the addon still being mapped then.
  std::unique_ptr<BackingStore> store =
      ArrayBuffer::NewBackingStore(&t_robust_head, sizeof(t_robust_head), BackingStore::EmptyDeleter, nullptr);
  Local<Object> result = Object::New(isolate);
  result->Set(context, String::NewFromUtf8(isolate, "head").ToLocalChecked(), ArrayBuffer::New(isolate, std::move(store))).Check();
  result->Set(context, String::NewFromUtf8(isolate, "address").ToLocalChecked(),
              Number::New(isolate, static_cast<double>(reinterpret_cast<uintptr_t>(&t_robust_head)))).Check();
  args.GetReturnValue().Set(result);
}

}  // namespace

void RegisterRobustList(Local<Context> context, Local<Object> exports) {
  SetFunction(context, exports, "robustListHead", RobustListHeadJs);
}

}  // namespace robust_shm
