// Async futex waits for event loops: "wait on these words for these values,
// tell me which changed". No policy: what a wake means is TypeScript's business
// (src/locks/kernel-waits.ts).
//
// Mechanism, and why (issue 11):
// - Per-process native waiter threads in futex_waitv(2) (Linux >= 5.16). Each
//   thread sleeps on up to 127 shared words plus one private control word that
//   JS bumps when it adds or removes a word, so the set can change while the
//   thread sleeps. Waits on the same (word, value) share one slot, so 500
//   pending acquires on 50 mutexes are 50 slots of one thread; more distinct
//   words start another thread. A wake or a changed value moves the waits to
//   their environment's list and uv_async_send()s its loop: a release in any
//   process, and the kernel's robust-list wake at an owner's death, reach an
//   async waiter in microseconds, with no timer and no libuv threadpool thread.
// - io_uring IORING_OP_FUTEX_WAIT (Linux >= 6.7) would need no thread at all
//   (one ring per environment, completions on an eventfd polled by uv_poll),
//   but io_uring is off in many deployments (Docker's default seccomp profile
//   blocks io_uring_setup since 25.0; kernel.io_uring_disabled), needs
//   hand-written ring code without liburing, and is 6.7+ only. Nor is it much
//   faster: the waker's wake becomes task work that interrupts the loop's
//   epoll_wait, which then finds the eventfd. Measured on this VM (median,
//   cross-process, bench/baseline/futex-hop.c): FUTEX_WAKE -> FUTEX_WAIT
//   7 us; -> futex_waitv thread -> eventfd -> epoll_wait 16.5 us; -> io_uring
//   FUTEX_WAIT -> eventfd -> epoll_wait 13 us.
// - One thread (or one threadpool job) per pending wait in plain FUTEX_WAIT:
//   hundreds of threads, or a starved libuv pool shared with fs/dns/zlib.
// - FUTEX_FD was removed in 2.6.26; pidfds report deaths but not releases.
// Where futex_waitv is missing (ENOSYS, or a seccomp EPERM), waiterAvailable()
// says so and the TypeScript side keeps its slice polling.
//
// Lifetimes: a wait holds the SharedArrayBuffer's backing store, so the word
// stays mapped while a waiter thread may read it; the store is only dropped on
// its environment's thread. An environment's async cleanup hook (worker
// terminate(), process teardown) detaches its waits and closes its uv_async
// handle; Node keeps the loop turning until the handle's close callback ran.
// Waiter threads and the registry are never freed (threads live until the
// process exits; the addon links with -z nodelete, so their code stays mapped).
#include "common.h"

#include <uv.h>

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#ifndef FUTEX_32
#define FUTEX_32 2
#endif

namespace robust_shm {
namespace {

#ifdef SYS_futex_waitv
constexpr long kSysFutexWaitv = SYS_futex_waitv;
#else
constexpr long kSysFutexWaitv = 449;  // x86-64 and the generic table
#endif

struct FutexWaitv {  // struct futex_waitv (linux/futex.h)
  uint64_t val;
  uint64_t uaddr;
  uint32_t flags;
  uint32_t reserved;
};

constexpr size_t kWordsPerThread = 127;  // FUTEX_WAITV_MAX (128) minus the control word

struct Env;

struct Wait {
  Env* env;
  std::shared_ptr<BackingStore> store;
};

using KeyId = std::pair<uintptr_t, uint32_t>;  // word address, expected value

struct WaiterThread {
  std::atomic<uint32_t> control{0};
  std::vector<KeyId> keys;
};

struct Key {
  WaiterThread* thread;
  std::vector<uint32_t> ids;
};

struct Env {
  Isolate* isolate;
  uv_async_t async;
  v8::Global<Context> context;
  v8::Global<v8::Function> callback;
  std::vector<std::pair<uint32_t, Wait>> fired;  // guarded by Registry::mutex
  size_t live = 0;                               // loop thread only: added, not yet delivered or cancelled
  bool refed = false;                            // loop thread only
  node::AsyncCleanupHookHandle hook;
  void (*done)(void*) = nullptr;
  void* done_arg = nullptr;
};

struct Registry {
  std::mutex mutex;
  uint32_t next_id = 0;
  std::map<uint32_t, std::pair<KeyId, Wait>> waits;
  std::map<KeyId, Key> keys;
  std::vector<WaiterThread*> threads;
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: waiter threads may use it until exit
  return *r;
}

thread_local Env* t_env = nullptr;

int FutexWaitvProbe() {
  // nr_futexes == 0 is EINVAL where the syscall exists.
  long rc = syscall(kSysFutexWaitv, nullptr, 0, 0, nullptr, 0);
  return rc == 0 ? 0 : errno;
}

bool Available() {
  static const bool available = FutexWaitvProbe() == EINVAL;
  return available;
}

void BumpControl(WaiterThread* t) {
  t->control.fetch_add(1, std::memory_order_seq_cst);
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&t->control), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// Under the registry lock: hand every wait of the key to its environment.
void FireKey(Registry& r, std::map<KeyId, Key>::iterator key) {
  for (uint32_t id : key->second.ids) {
    auto wait = r.waits.find(id);
    if (wait == r.waits.end()) continue;
    Env* env = wait->second.second.env;
    env->fired.emplace_back(id, std::move(wait->second.second));
    r.waits.erase(wait);
    uv_async_send(&env->async);
  }
  std::vector<KeyId>& keys = key->second.thread->keys;
  for (size_t i = 0; i < keys.size(); i++) {
    if (keys[i] == key->first) {
      keys[i] = keys.back();
      keys.pop_back();
      break;
    }
  }
  r.keys.erase(key);
}

void WaiterLoop(WaiterThread* self) {
  Registry& r = registry();
  std::vector<FutexWaitv> vec;
  std::vector<KeyId> snapshot;
  for (;;) {
    vec.clear();
    snapshot.clear();
    {
      std::lock_guard<std::mutex> lock(r.mutex);
      uint32_t control = self->control.load(std::memory_order_seq_cst);
      vec.push_back({control, reinterpret_cast<uint64_t>(&self->control), FUTEX_32 | FUTEX_PRIVATE_FLAG, 0});
      for (const KeyId& key : self->keys) {
        vec.push_back({key.second, static_cast<uint64_t>(key.first), FUTEX_32, 0});
        snapshot.push_back(key);
      }
    }
    long rc = syscall(kSysFutexWaitv, vec.data(), vec.size(), 0, nullptr, 0);
    int err = rc < 0 ? errno : 0;
    if (rc == 0 || err == EINTR) continue;  // the control word: the set changed
    std::lock_guard<std::mutex> lock(r.mutex);
    if (rc > 0) {
      // A wake on a word: its waiters go, whatever the value now is (the waker decided).
      auto key = r.keys.find(snapshot[rc - 1]);
      if (key != r.keys.end() && key->second.thread == self) FireKey(r, key);
    }
    // EAGAIN (some value already differed) or after a wake: every key whose
    // value moved is done too (futex_waitv reports only one index). Each key
    // still holds a backing store, so its word is mapped.
    for (size_t i = 0; i < self->keys.size();) {
      KeyId id = self->keys[i];
      uint32_t now = __atomic_load_n(reinterpret_cast<uint32_t*>(id.first), __ATOMIC_SEQ_CST);
      if (now != id.second) {
        FireKey(r, r.keys.find(id));  // swaps the last key into slot i
      } else {
        i++;
      }
    }
    // EFAULT cannot happen for a registered word (its store is held); a
    // stale snapshot's word was removed, and the control word changed with it.
  }
}

WaiterThread* StartThread(Registry& r) {
  WaiterThread* t = new WaiterThread();
  // Signals go to the JS threads, never to a waiter thread.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  std::thread(WaiterLoop, t).detach();
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  r.threads.push_back(t);
  return t;
}

// Under the lock: drop one id from its key; an emptied key leaves its thread.
void RemoveFromKey(Registry& r, const KeyId& id, uint32_t wait_id) {
  auto key = r.keys.find(id);
  if (key == r.keys.end()) return;
  std::vector<uint32_t>& ids = key->second.ids;
  for (size_t i = 0; i < ids.size(); i++) {
    if (ids[i] == wait_id) {
      ids[i] = ids.back();
      ids.pop_back();
      break;
    }
  }
  if (!ids.empty()) return;
  WaiterThread* t = key->second.thread;
  for (size_t i = 0; i < t->keys.size(); i++) {
    if (t->keys[i] == id) {
      t->keys[i] = t->keys.back();
      t->keys.pop_back();
      break;
    }
  }
  r.keys.erase(key);
  BumpControl(t);
}

void UpdateRef(Env* env) {
  if (env->live > 0 && !env->refed) {
    uv_ref(reinterpret_cast<uv_handle_t*>(&env->async));
    env->refed = true;
  } else if (env->live == 0 && env->refed) {
    uv_unref(reinterpret_cast<uv_handle_t*>(&env->async));
    env->refed = false;
  }
}

void OnAsync(uv_async_t* handle) {
  Env* env = static_cast<Env*>(handle->data);
  std::vector<std::pair<uint32_t, Wait>> fired;
  {
    std::lock_guard<std::mutex> lock(registry().mutex);
    fired.swap(env->fired);
  }
  env->live -= fired.size();
  UpdateRef(env);
  if (fired.empty()) return;
  Isolate* isolate = env->isolate;
  v8::HandleScope scope(isolate);
  Local<Context> context = env->context.Get(isolate);
  Context::Scope context_scope(context);
  Local<Array> ids = Array::New(isolate, static_cast<int>(fired.size()));
  for (size_t i = 0; i < fired.size(); i++) {
    ids->Set(context, static_cast<uint32_t>(i), Number::New(isolate, fired[i].first)).Check();
  }
  fired.clear();  // the backing stores go here, on their environment's thread
  Local<Value> argv[] = {ids};
  // MakeCallback runs the microtasks (the promises it resolves) afterwards.
  node::MakeCallback(isolate, context->Global(), env->callback.Get(isolate), 1, argv, {0, 0});
}

// The environment is going away (worker.terminate(), process teardown): its
// waits leave the waiter threads, then its handle closes; Node waits for `done`.
void OnCleanup(void* arg, void (*done)(void*), void* done_arg) {
  Env* env = static_cast<Env*>(arg);
  std::vector<std::pair<uint32_t, Wait>> dropped;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    for (auto it = r.waits.begin(); it != r.waits.end();) {
      if (it->second.second.env == env) {
        RemoveFromKey(r, it->second.first, it->first);
        dropped.emplace_back(it->first, std::move(it->second.second));
        it = r.waits.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& f : env->fired) dropped.push_back(std::move(f));
    env->fired.clear();
  }
  dropped.clear();
  env->live = 0;
  env->callback.Reset();
  env->context.Reset();
  if (t_env == env) t_env = nullptr;
  env->done = done;
  env->done_arg = done_arg;
  uv_close(reinterpret_cast<uv_handle_t*>(&env->async), [](uv_handle_t* handle) {
    Env* env = static_cast<Env*>(handle->data);
    void (*done)(void*) = env->done;
    void* done_arg = env->done_arg;
    node::AsyncCleanupHookHandle hook = std::move(env->hook);
    delete env;
    done(done_arg);
  });
}

// waiterAvailable() -> { available, errno } : whether futex_waitv works here.
void WaiterAvailable(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> context = isolate->GetCurrentContext();
  int err = FutexWaitvProbe();
  Local<Object> result = Object::New(isolate);
  result->Set(context, String::NewFromUtf8(isolate, "available").ToLocalChecked(), v8::Boolean::New(isolate, err == EINVAL)).Check();
  const char* name = err == EINVAL || err == 0 ? "" : strerrorname_np(err);
  result->Set(context, String::NewFromUtf8(isolate, "error").ToLocalChecked(),
              String::NewFromUtf8(isolate, name ? name : "EUNKNOWN").ToLocalChecked()).Check();
  args.GetReturnValue().Set(result);
}

// waiterStart(callback(ids: number[])): this environment's delivery point.
void WaiterStart(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsFunction()) return ThrowType(isolate, "callback must be a function");
  if (!Available()) return ThrowErrno(isolate, ENOSYS, "futex_waitv");
  if (t_env != nullptr) {
    t_env->callback.Reset(isolate, args[0].As<v8::Function>());
    return;
  }
  Env* env = new Env();
  env->isolate = isolate;
  env->context.Reset(isolate, isolate->GetCurrentContext());
  env->callback.Reset(isolate, args[0].As<v8::Function>());
  uv_loop_t* loop = node::GetCurrentEventLoop(isolate);
  int rc = loop ? uv_async_init(loop, &env->async, OnAsync) : UV_EINVAL;
  if (rc != 0) {
    delete env;
    return ThrowErrno(isolate, -rc, "uv_async_init");
  }
  env->async.data = env;
  uv_unref(reinterpret_cast<uv_handle_t*>(&env->async));
  env->hook = node::AddEnvironmentCleanupHook(isolate, OnCleanup, env);
  t_env = env;
}

// waiterAdd(sab, byteOffset, expected) -> id: one-shot wait until the 32-bit
// word is woken or no longer holds `expected`.
void WaiterAdd(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Env* env = t_env;
  if (env == nullptr) return ThrowType(isolate, "waiterStart() was not called in this environment");
  if (!args[0]->IsSharedArrayBuffer()) return ThrowType(isolate, "expected a SharedArrayBuffer");
  std::shared_ptr<BackingStore> store = args[0].As<SharedArrayBuffer>()->GetBackingStore();
  SabRange sab{static_cast<uint8_t*>(store->Data()), store->ByteLength()};
  size_t offset;
  if (!ToSize(isolate, args[1], &offset, "byteOffset")) return;
  if (offset % 4 != 0) return ThrowRange(isolate, "byteOffset must be a multiple of 4");
  if (!CheckRange(isolate, sab, offset, 4)) return;
  if (!args[2]->IsInt32()) return ThrowType(isolate, "expected must be a 32-bit integer");
  uint32_t expected = static_cast<uint32_t>(args[2].As<v8::Int32>()->Value());
  KeyId key_id{reinterpret_cast<uintptr_t>(sab.base + offset), expected};
  uint32_t id;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    do id = ++r.next_id; while (id == 0 || r.waits.count(id) != 0);
    r.waits.emplace(id, std::make_pair(key_id, Wait{env, std::move(store)}));
    auto key = r.keys.find(key_id);
    if (key != r.keys.end()) {
      key->second.ids.push_back(id);  // its thread already sleeps on it
    } else {
      WaiterThread* thread = nullptr;
      for (WaiterThread* t : r.threads) {
        if (t->keys.size() < kWordsPerThread) {
          thread = t;
          break;
        }
      }
      if (thread == nullptr) thread = StartThread(r);
      thread->keys.push_back(key_id);
      r.keys.emplace(key_id, Key{thread, {id}});
      BumpControl(thread);
    }
  }
  env->live++;
  UpdateRef(env);
  args.GetReturnValue().Set(Number::New(isolate, id));
}

// waiterCancel(id) -> "pending" (it was still waiting) | "fired" (a wake or a
// change was already taken for it and not yet delivered: the caller decides
// whether to pass the wake on) | "gone" (unknown or delivered).
void WaiterCancel(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Env* env = t_env;
  size_t raw;
  if (!ToSize(isolate, args[0], &raw, "id")) return;
  uint32_t id = static_cast<uint32_t>(raw);
  const char* result = "gone";
  Wait dropped{nullptr, nullptr};
  if (env != nullptr && raw <= UINT32_MAX) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    auto wait = r.waits.find(id);
    if (wait != r.waits.end() && wait->second.second.env == env) {
      RemoveFromKey(r, wait->second.first, id);
      dropped = std::move(wait->second.second);
      r.waits.erase(wait);
      result = "pending";
    } else {
      for (size_t i = 0; i < env->fired.size(); i++) {
        if (env->fired[i].first == id) {
          dropped = std::move(env->fired[i].second);
          env->fired.erase(env->fired.begin() + static_cast<long>(i));
          result = "fired";
          break;
        }
      }
    }
  }
  if (dropped.env != nullptr) {
    env->live--;
    UpdateRef(env);
  }
  args.GetReturnValue().Set(String::NewFromUtf8(isolate, result).ToLocalChecked());
}

// waiterStats() -> { environment, process, threads, words }: waits this
// environment has not yet had delivered or cancelled; waits registered with
// waiter threads in the whole process; waiter threads; distinct (word, value)s.
void WaiterStats(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Local<Context> context = isolate->GetCurrentContext();
  size_t process, threads, words;
  {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    process = r.waits.size();
    threads = r.threads.size();
    words = r.keys.size();
  }
  Local<Object> result = Object::New(isolate);
  auto set = [&](const char* name, size_t value) {
    result->Set(context, String::NewFromUtf8(isolate, name).ToLocalChecked(), Number::New(isolate, static_cast<double>(value))).Check();
  };
  set("environment", t_env ? t_env->live : 0);
  set("process", process);
  set("threads", threads);
  set("words", words);
  args.GetReturnValue().Set(result);
}

}  // namespace

void RegisterWaiter(Local<Context> context, Local<Object> exports) {
  SetFunction(context, exports, "waiterAvailable", WaiterAvailable);
  SetFunction(context, exports, "waiterStart", WaiterStart);
  SetFunction(context, exports, "waiterAdd", WaiterAdd);
  SetFunction(context, exports, "waiterCancel", WaiterCancel);
  SetFunction(context, exports, "waiterStats", WaiterStats);
}

}  // namespace robust_shm
