// fileio.cpp: POSIX implementations of the helpers in fileio.h.
#include "nn/fileio.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/error.h"

namespace sg {
namespace {

std::string errno_str(int e) { return std::strerror(e); }

// write(2) until everything is written; returns 0 or the errno of the failure.
int write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

std::string dir_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::atomic<uint64_t> g_tmp_counter{0};

}  // namespace

void write_file_atomic_parts(const std::string& path, const std::vector<std::string_view>& parts) {
  SG_CHECK(!path.empty(), "write_file_atomic: empty path");
  const std::string tmp =
      fmt::format("{}.tmp.{}.{}", path, static_cast<long>(::getpid()), g_tmp_counter.fetch_add(1));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    fail("write_file_atomic: {}: cannot create temporary file {}: {}", path, tmp, errno_str(e));
  }
  auto abort_with = [&](const char* what, int e) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    fail("write_file_atomic: {}: {}: {}", path, what, errno_str(e));
  };
  for (const auto& part : parts)
    if (int e = write_all(fd, part.data(), part.size())) abort_with("write failed", e);
  if (::fsync(fd) != 0) abort_with("fsync failed", errno);
  int rc = ::close(fd);
  fd = -1;
  if (rc != 0) abort_with("close failed", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) abort_with("rename failed", errno);
  // Make the rename itself durable. Some filesystems cannot fsync a directory (EINVAL); that is not an error.
  const std::string dir = dir_of(path);
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    int e = errno;
    fail("write_file_atomic: {}: cannot open directory {} to sync it: {}", path, dir, errno_str(e));
  }
  if (::fsync(dfd) != 0 && errno != EINVAL && errno != EROFS) {
    int e = errno;
    ::close(dfd);
    fail("write_file_atomic: {}: fsync of directory {} failed: {}", path, dir, errno_str(e));
  }
  ::close(dfd);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_file_atomic_parts(path, {std::string_view(bytes)});
}

std::string read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    fail("read_file: {}: {}", path, errno_str(e));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    fail("read_file: {}: {}", path, errno_str(e));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail("read_file: {}: {}", path, errno_str(EISDIR));
  }
  std::string out;
  if (S_ISREG(st.st_mode) && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      fail("read_file: {}: {}", path, errno_str(e));
    }
    if (r == 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  ::close(fd);
  return out;
}

void append_line(const std::string& path, const std::string& line) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    fail("append_line: {}: {}", path, errno_str(e));
  }
  std::string buf;
  buf.reserve(line.size() + 1);
  buf += line;
  buf += '\n';
  int e = write_all(fd, buf.data(), buf.size());
  if (::close(fd) != 0 && e == 0) e = errno;
  if (e) fail("append_line: {}: {}", path, errno_str(e));
}

void make_dirs(const std::string& path) {
  if (path.empty()) return;
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) fail("make_dirs: {}: {}", path, ec.message());
  if (!std::filesystem::is_directory(path, ec)) fail("make_dirs: {}: exists and is not a directory", path);
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

}  // namespace sg
