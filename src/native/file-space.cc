// Reserving a file's blocks up front (posix_fallocate).
//
// A region file sized with ftruncate alone is sparse: on a tmpfs (/dev/shm)
// its pages are only allocated when first written through the mapping, and a
// write to a page that no longer fits raises SIGBUS, which kills the process.
// Reserving every block at creation turns that later crash into an ENOSPC
// now, while the caller can still handle it.
#include "common.h"

#include <fcntl.h>

namespace robust_shm {
namespace {

// reserveFileSpace(fd, length): allocate blocks for [0, length), extending the file if shorter.
void ReserveFileSpace(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  size_t fd, length;
  if (!ToSize(isolate, args[0], &fd, "fd") || !ToSize(isolate, args[1], &length, "length")) return;
  if (fd > INT_MAX) return ThrowRange(isolate, "fd is out of range");
  if (length == 0 || length > static_cast<size_t>(INT64_MAX)) return ThrowRange(isolate, "length is out of range");
  // posix_fallocate returns the error instead of setting errno; it retries EINTR itself.
  int err = posix_fallocate(static_cast<int>(fd), 0, static_cast<off_t>(length));
  if (err != 0) return ThrowErrno(isolate, err, "posix_fallocate");
}

}  // namespace

void RegisterFileSpace(Local<Context> context, Local<Object> exports) {
  SetFunction(context, exports, "reserveFileSpace", ReserveFileSpace);
}

}  // namespace robust_shm
