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
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["_GNU_SOURCE"],
      # -z nodelete: Node dlclose()s an addon when the last environment that loaded it ends; the
      # mapped buffers' deleters live here and may run later (a worker-only user: SIGSEGV in
      # ~BackingStore). Today an inline function's static local (an STB_GNU_UNIQUE symbol) also
      # pins the object, by accident: test/worker-lifetime.test.ts fails without both.
      "ldflags": ["-Wl,-z,nodelete"]
    }
  ]
}
