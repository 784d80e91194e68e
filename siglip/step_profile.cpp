#include "siglip/step_profile.h"

#include <fmt/core.h>

#include "tensor/profile.h"

namespace sg {

StepProfile::StepProfile(bool turn_on, int64_t first_step) : was_on_(profile::enabled()), first_step_(first_step) {
  if (turn_on) profile::set_enabled(true);
}

StepProfile::~StepProfile() { profile::set_enabled(was_on_); }

void StepProfile::begin_step(int64_t step) {
  if (profile::enabled() && step == first_step_ + 1) profile::reset();
}

void StepProfile::end_step(int64_t step, double seconds) {
  if (step > first_step_) timed_s_ += seconds;
}

void StepProfile::print_report(int64_t last_step) const {
  if (!profile::enabled() || last_step - first_step_ <= 1) return;
  const int64_t n = last_step - first_step_ - 1;
  const double step_ms = timed_s_ * 1e3 / static_cast<double>(n);
  const double kernel_ms = profile::kernel_seconds() * 1e3 / static_cast<double>(n);
  fmt::print("profile over {} steps (after the first; every kernel synchronised, so steps run slower than unprofiled):\n{}"
             "step {:.3f} ms = kernels {:.3f} ms + host work outside kernels {:.3f} ms\n",
             n, profile::report(n), step_ms, kernel_ms, step_ms - kernel_ms);
}

}  // namespace sg
