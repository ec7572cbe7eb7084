{
  "targets": [
    {
      "target_name": "robust_shm_native",
      "sources": [
        "src/native/addon.cc",
        "src/native/mapping.cc",
        "src/native/futex.cc",
        "src/native/robust-list.cc",
        "src/native/file-space.cc"
      ],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["_GNU_SOURCE"],
      "ldflags": ["-Wl,-z,nodelete"]
    }
  ]
}
