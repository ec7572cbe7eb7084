// mmap of files and anonymous memory into SharedArrayBuffers, and the calls
// that act on those mappings (msync, madvise, mincore, addressOf).
#include "common.h"

namespace robust_shm {
namespace {

// Mappings this addon made, by base address. msync/madvise/mincore are only
// allowed on these: on a V8-allocated SharedArrayBuffer they would act on
// memory V8 owns (and madvise(DONTNEED) would zero it under V8's feet).
// Allocated once and never destroyed: Unmap() (a backing-store deleter) may
// run while the process exits, after static destructors have begun (a worker
// isolate torn down during exit()); a destroyed map there would be a crash.
std::mutex& g_mappings_lock = *new std::mutex();
std::unordered_map<uintptr_t, size_t>& g_mappings = *new std::unordered_map<uintptr_t, size_t>();

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

void PageSizeJs(const FunctionCallbackInfo<Value>& args) {
  args.GetReturnValue().Set(Number::New(args.GetIsolate(), static_cast<double>(PageSize())));
}

}  // namespace

void RegisterMapping(Local<Context> context, Local<Object> exports) {
  SetFunction(context, exports, "mapFd", MapFd);
  SetFunction(context, exports, "mapAnonymous", MapAnonymous);
  SetFunction(context, exports, "msync", Msync);
  SetFunction(context, exports, "madvise", Madvise);
  SetFunction(context, exports, "mincore", Mincore);
  SetFunction(context, exports, "addressOf", AddressOf);
  SetFunction(context, exports, "pageSize", PageSizeJs);
}

}  // namespace robust_shm
