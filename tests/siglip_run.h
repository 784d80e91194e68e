// siglip_run.h: run the siglip binary built next to the test binary, for tests that read a command's output.
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

struct SiglipRun {
  int status;
  std::string output;  // stdout and stderr
};

inline SiglipRun run_siglip(const std::string& args) {
  const auto bin = std::filesystem::read_symlink("/proc/self/exe").parent_path() / "siglip";
  REQUIRE_MESSAGE(std::filesystem::exists(bin), bin.string() << " is missing (make builds it with the tests)");
  FILE* p = popen((bin.string() + " " + args + " 2>&1").c_str(), "r");
  REQUIRE(p);
  SiglipRun r{0, ""};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}
