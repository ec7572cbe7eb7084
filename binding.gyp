{
  "targets": [
    {
      "target_name": "robust_shm_native",
      "sources": [
        "src/native/addon.cc",
        "src/native/mapping.cc",
        "src/native/futex.cc",
        "src/native/robust-list.cc",
        "src/native/file-space.cc",
        "src/native/waiter.cc",
        "src/native/process.cc"
      ],
      # No -std= here: each Node's common.gypi (which node-gyp includes) sets the standard its V8
      # headers need (gnu++17 for Node 20 and 22, gnu++20 for 24 and 26, whose v8config.h has
      # `#error "C++20 or later required."`). Forcing one breaks the other Nodes.
      "cflags_cc": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["_GNU_SOURCE"],
      # -z nodelete: Node dlclose()s an addon when the last environment that loaded it ends; the
      # mapped buffers' deleters live here and may run later (a worker-only user: SIGSEGV in
      # ~BackingStore). Today an inline function's static local (an STB_GNU_UNIQUE symbol) also
      # pins the object, by accident: test/worker-lifetime.test.ts fails without both.
      "ldflags": ["-Wl,-z,nodelete"]
    }
  ]
}
