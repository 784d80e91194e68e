// fileio.h: small POSIX file helpers for checkpoints, metrics and plots.
// Every failure throws sg::Error naming the path and the system's reason (strerror(errno)).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sg {

// Replaces `path` with `bytes` atomically: writes `path`.tmp.<pid>.<n> in the same directory, fsyncs it,
// renames it over `path`, then fsyncs the directory. On failure the temp file is removed and the previous
// content of `path` (if any) is untouched: readers see either the old file or the new one, never a mix.
void write_file_atomic(const std::string& path, const std::string& bytes);
// The same, with the content given as consecutive pieces (avoids concatenating large buffers).
void write_file_atomic_parts(const std::string& path, const std::vector<std::string_view>& parts);

// The whole file as bytes.
std::string read_file(const std::string& path);

// Appends line + '\n' (one write(2) call, O_APPEND) and returns once the kernel has it; creates the file.
// For metrics.jsonl: a crash never leaves a half-written earlier line.
void append_line(const std::string& path, const std::string& line);

// mkdir -p; no-op when the directory exists. Throws when `path` exists and is not a directory.
void make_dirs(const std::string& path);

// True when something exists at `path` (file, directory, ...).
bool file_exists(const std::string& path);

}  // namespace sg
