/*
 * Test-only N-API addon: a glibc PTHREAD_MUTEX_ROBUST + PTHREAD_PROCESS_SHARED
 * mutex at an address (a region's mapping), locked on the calling thread, and
 * a look at that thread's robust list. Built at test time with `cc -shared`
 * (test/helpers/glibc-mutex-addon.ts); robust-shm itself never uses it.
 *
 *   init(address)              pthread_mutex_init, robust + process-shared
 *   lock(address)              pthread_mutex_lock -> 0 | errno name
 *   timedLock(address, ms)     pthread_mutex_timedlock -> 0 | "EOWNERDEAD" | "ETIMEDOUT" | ...
 *   unlock(address), consistent(address)
 *   robustList()               the calling thread's list elements, head first
 */
#define _GNU_SOURCE
#include <errno.h>
#include <node_api.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t *mutex_at(napi_env env, napi_callback_info info, double *extra) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double address = 0;
  if (argc < 1 || napi_get_value_double(env, argv[0], &address) != napi_ok || address <= 0) {
    napi_throw_type_error(env, NULL, "address must be a positive number");
    return NULL;
  }
  if (extra && (argc < 2 || napi_get_value_double(env, argv[1], extra) != napi_ok)) {
    napi_throw_type_error(env, NULL, "second argument must be a number");
    return NULL;
  }
  return (pthread_mutex_t *)(uintptr_t)address;
}

static napi_value result_of(napi_env env, int rc) {
  napi_value out;
  if (rc == 0) napi_create_int32(env, 0, &out);
  else napi_create_string_utf8(env, strerrorname_np(rc), NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value Init(napi_env env, napi_callback_info info) {
  pthread_mutex_t *m = mutex_at(env, info, NULL);
  if (!m) return NULL;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
  int rc = pthread_mutex_init(m, &attr);
  pthread_mutexattr_destroy(&attr);
  return result_of(env, rc);
}

static napi_value Lock(napi_env env, napi_callback_info info) {
  pthread_mutex_t *m = mutex_at(env, info, NULL);
  return m ? result_of(env, pthread_mutex_lock(m)) : NULL;
}

static napi_value TimedLock(napi_env env, napi_callback_info info) {
  double ms = 0;
  pthread_mutex_t *m = mutex_at(env, info, &ms);
  if (!m) return NULL;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long ns = ts.tv_nsec + (long long)(ms * 1e6);
  ts.tv_sec += ns / 1000000000LL;
  ts.tv_nsec = ns % 1000000000LL;
  return result_of(env, pthread_mutex_timedlock(m, &ts));
}

static napi_value Unlock(napi_env env, napi_callback_info info) {
  pthread_mutex_t *m = mutex_at(env, info, NULL);
  return m ? result_of(env, pthread_mutex_unlock(m)) : NULL;
}

static napi_value Consistent(napi_env env, napi_callback_info info) {
  pthread_mutex_t *m = mutex_at(env, info, NULL);
  return m ? result_of(env, pthread_mutex_consistent(m)) : NULL;
}

struct robust_head { void *list; long futex_offset; void *pending; };

static napi_value RobustList(napi_env env, napi_callback_info info) {
  struct robust_head *head = NULL;
  size_t len = 0;
  napi_value out;
  napi_create_array(env, &out);
  if (syscall(SYS_get_robust_list, 0, &head, &len) != 0 || head == NULL) return out;
  void *at = head->list;
  for (uint32_t i = 0; i < 64 && at != (void *)head; i++) {
    napi_value v;
    napi_create_double(env, (double)(uintptr_t)at, &v);
    napi_set_element(env, out, i, v);
    at = *(void **)at;
  }
  return out;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    {"init", NULL, Init, NULL, NULL, NULL, napi_default, NULL},
    {"lock", NULL, Lock, NULL, NULL, NULL, napi_default, NULL},
    {"timedLock", NULL, TimedLock, NULL, NULL, NULL, napi_default, NULL},
    {"unlock", NULL, Unlock, NULL, NULL, NULL, napi_default, NULL},
    {"consistent", NULL, Consistent, NULL, NULL, NULL, napi_default, NULL},
    {"robustList", NULL, RobustList, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
