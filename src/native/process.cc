// The calling process's tie to its parent: PR_SET_PDEATHSIG and getppid.
//
// Policy (which signal, what to do when the parent is already gone) lives in
// src/workers/parent-death.ts; these are the two syscalls it needs, because
// Node has no prctl and the check must come *after* the prctl to close the
// race with a parent that died before it (see there).
#include "common.h"

#include <csignal>
#include <sys/prctl.h>

namespace robust_shm {
namespace {

// setParentDeathSignal(signal): prctl(PR_SET_PDEATHSIG, signal). The kernel
// sends `signal` to this process when the *thread* that forked it exits
// (not when its whole process does), and forgets it across execve of a
// set-uid binary. 0 clears it.
void SetParentDeathSignal(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsInt32()) return ThrowType(isolate, "signal must be a 32-bit integer");
  int signal = args[0].As<v8::Int32>()->Value();
  if (signal < 0 || signal >= NSIG) return ThrowRange(isolate, "signal must be from 0 to NSIG - 1");
  if (prctl(PR_SET_PDEATHSIG, static_cast<unsigned long>(signal), 0, 0, 0) != 0) return ThrowErrno(isolate, errno, "prctl(PR_SET_PDEATHSIG)");
}

void GetPpid(const FunctionCallbackInfo<Value>& args) {
  args.GetReturnValue().Set(Number::New(args.GetIsolate(), static_cast<double>(getppid())));
}

}  // namespace

void RegisterProcess(Local<Context> context, Local<Object> exports) {
  SetFunction(context, exports, "setParentDeathSignal", SetParentDeathSignal);
  SetFunction(context, exports, "getppid", GetPpid);
}

}  // namespace robust_shm
