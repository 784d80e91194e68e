// args.h: a small command-line parser: --name value, --flag, positionals; unknown flags are an error.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/error.h"

namespace sg {

class Args {
 public:
  // argv[first..] are parsed: `options` take a value (--name value or --name=value), `flags` take none.
  // Anything else starting with -- is an error naming the command and the flag.
  Args(const std::string& command, int argc, char** argv, int first, const std::set<std::string>& options,
       const std::set<std::string>& flags = {});
  std::string get(const std::string& name, const std::string& fallback);
  int64_t get_int(const std::string& name, int64_t fallback);
  double get_double(const std::string& name, double fallback);
  bool has(const std::string& name);  // a flag given, or an option given a value
  std::vector<std::string> get_all(const std::string& name);  // an option that may repeat
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::string command_;
  std::multimap<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace sg
