// error.h: the project's one exception type.
// Every user-reachable failure throws sg::Error with the op's name and the shapes at fault,
// e.g. "matmul: [4, 3] @ [5, 2]: inner sizes differ (3 vs 5)". Nothing a user passes aborts.
#pragma once
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace sg {

struct Error : std::runtime_error {
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> f, Args&&... args) {
  throw Error(fmt::format(f, std::forward<Args>(args)...));
}

using Shape = std::vector<int64_t>;

// "[4, 3]"
inline std::string shape_str(const Shape& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }

}  // namespace sg

// SG_CHECK(cond, "op: {} ...", args...): throws sg::Error when cond is false.
#define SG_CHECK(cond, ...)        \
  do {                             \
    if (!(cond)) ::sg::fail(__VA_ARGS__); \
  } while (0)
