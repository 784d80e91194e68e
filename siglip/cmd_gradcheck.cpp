// cmd_gradcheck.cpp: `siglip gradcheck [OP...] [--json]`: every registered op case (or those of the named ops),
// contiguous and strided, at f64 against central differences. Exit status 0 only when all pass.
#include <nlohmann/json.hpp>

#include "siglip/commands.h"
#include "tensor/op_registry.h"

namespace sg {

int run_gradcheck(const GradcheckOptions& o) {
  const bool json = o.json;
  const double rtol = o.rtol;
  std::set<std::string> wanted(o.ops.begin(), o.ops.end());
  std::set<std::string> known;
  for (const auto& c : op_cases()) known.insert(c.op);
  for (const auto& w : wanted)
    SG_CHECK(known.count(w), "gradcheck: unknown op '{}' (known: {})", w, fmt::join(known, ", "));

  nlohmann::json rows = nlohmann::json::array();
  int passed = 0, failed = 0;
  if (!json)
    fmt::print("{:<14} {:<26} {:<11} {:>12} {:>12}  {}\n", "op", "case", "layout", "max abs err", "max rel err",
               "result");
  for (const auto& c : op_cases()) {
    if (!wanted.empty() && !wanted.count(c.op)) continue;
    for (Layout l : {Layout::Contiguous, Layout::Strided}) {
      GradcheckResult r = gradient_check(c, l);
      bool ok = r.passed && r.max_rel < rtol;
      (ok ? passed : failed)++;
      if (json) {
        rows.push_back({{"op", c.op}, {"case", c.name}, {"layout", layout_name(l)}, {"max_abs_error", r.max_abs},
                        {"max_rel_error", r.max_rel}, {"passed", ok}});
      } else {
        fmt::print("{:<14} {:<26} {:<11} {:>12.3e} {:>12.3e}  {}\n", c.op, c.name, layout_name(l), r.max_abs, r.max_rel,
                   ok ? "pass" : "FAIL");
      }
    }
  }
  if (json)
    fmt::print("{}\n", nlohmann::json{{"rtol", rtol}, {"passed", passed}, {"failed", failed}, {"results", rows}}.dump(2));
  else
    fmt::print("{} passed, {} failed (f64 central differences, relative tolerance {:g})\n", passed, failed, rtol);
  return failed == 0 ? 0 : 1;
}

}  // namespace sg
