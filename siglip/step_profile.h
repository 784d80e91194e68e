// step_profile.h: --profile for one run: turns the kernel timer (tensor/profile.h) on, leaves the first step out
// (it warms caches up), and prints where the time of the other steps went.
#pragma once
#include <cstdint>

namespace sg {

class StepProfile {
 public:
  StepProfile(bool turn_on, int64_t first_step);  // SG_PROFILE=1 leaves the timer on for the whole process
  ~StepProfile();                                  // the timer goes back to what it was
  StepProfile(const StepProfile&) = delete;
  StepProfile& operator=(const StepProfile&) = delete;

  void begin_step(int64_t step);                // 0-based
  void end_step(int64_t step, double seconds);  // the step's wall time
  // "profile over N steps ...", the kernel table, "step X ms = kernels Y ms + host work outside kernels Z ms";
  // nothing when the timer is off or fewer than two steps ran.
  void print_report(int64_t last_step) const;

 private:
  bool was_on_;
  int64_t first_step_;
  double timed_s_ = 0;  // wall time of the steps after the first
};

}  // namespace sg
