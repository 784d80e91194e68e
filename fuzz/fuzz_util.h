// fuzz_util.h: helpers the libFuzzer targets share (docs/fuzzing.md).
#pragma once
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace sg::fuzz {

// A file of this process in tmpfs (/dev/shm when present, else $TMPDIR or /tmp), for readers that take a path.
inline std::string scratch_path(const char* name) {
  const char* dir = ::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp");
  return std::string(dir) + "/" + name + "." + std::to_string(::getpid());
}

// Replaces the file at `path` with `size` bytes of `data`; aborts when the scratch file cannot be written (a broken
// harness, not a finding of the reader).
inline void write_scratch(const std::string& path, const uint8_t* data, size_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::perror(path.c_str()), std::abort();
  for (size_t done = 0; done < size;) {
    ssize_t w = ::write(fd, data + done, size - done);
    if (w <= 0) std::perror(path.c_str()), std::abort();
    done += static_cast<size_t>(w);
  }
  ::close(fd);
}

// A property of a successfully read input does not hold: report it as a crash with the input libFuzzer saves.
[[noreturn]] inline void property_failed(std::string_view what) {
  std::fprintf(stderr, "fuzz: property failed: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

}  // namespace sg::fuzz
