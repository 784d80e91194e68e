// anomaly.h: anomaly mode (PyTorch's detect_anomaly): while on, every recorded op's output is checked for NaN
// and Inf after its forward, and every gradient a node sends to its inputs after its backward. The first bad
// value stops the program with an sg::Error naming the node (its op, module and forward position), the input
// and the first bad element. Slow (each check copies the tensor to the host): for finding a NaN, not training.
// On: SG_DETECT_ANOMALY=1 in the environment, `siglip train --detect-anomaly`, or a DetectAnomalyGuard.
#pragma once

namespace sg {

bool anomaly_detection_enabled();
void set_anomaly_detection(bool on);

struct DetectAnomalyGuard {
  bool prev;
  explicit DetectAnomalyGuard(bool on = true) : prev(anomaly_detection_enabled()) { set_anomaly_detection(on); }
  ~DetectAnomalyGuard() { set_anomaly_detection(prev); }
  DetectAnomalyGuard(const DetectAnomalyGuard&) = delete;
  DetectAnomalyGuard& operator=(const DetectAnomalyGuard&) = delete;
};

}  // namespace sg
