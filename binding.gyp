{
  "targets": [
    {
      "target_name": "robust_shm_native",
      "sources": ["src/shm/native/binding.cc"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["_GNU_SOURCE"]
    }
  ]
}
