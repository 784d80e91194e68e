#include "siglip/metrics_log.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "nn/fileio.h"
#include "siglip/plot.h"
#include "tensor/allocator.h"

namespace sg {
namespace {

std::string fmt_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  int64_t t = static_cast<int64_t>(s);
  return t >= 3600 ? fmt::format("{}h{:02d}m", t / 3600, (t / 60) % 60) : fmt::format("{}m{:02d}s", t / 60, t % 60);
}

// Keeps the metrics of steps <= last_step (a resumed run continues the same curve).
void truncate_metrics(const std::string& path, int64_t last_step) {
  if (!file_exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_discarded() && j.value("step", int64_t(1) << 60) <= last_step) kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

void write_plot(const std::string& dir) {
  std::vector<double> steps, loss, t, b;
  std::ifstream in(dir + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("loss")) continue;
    steps.push_back(j["step"].get<double>());
    loss.push_back(j["loss"].get<double>());
    t.push_back(j["t"].get<double>());
    b.push_back(j["b"].get<double>());
  }
  write_training_plot(dir + "/train.png", steps, loss, t, b);
}

}  // namespace

MetricsLog::MetricsLog(std::string run_dir, int64_t resumed_step, bool fresh, int64_t total_steps, int64_t batch,
                       int64_t log_every, bool write_files)
    : dir_(std::move(run_dir)),
      path_(dir_ + "/metrics.jsonl"),
      total_steps_(total_steps),
      batch_(batch),
      log_every_(log_every),
      tty_(isatty(STDOUT_FILENO)),
      write_files_(write_files) {
  if (!write_files_) return;
  make_dirs(dir_);
  if (fresh) write_file_atomic(path_, "");
  else truncate_metrics(path_, resumed_step);
}

void MetricsLog::start_clock(int64_t first_step) {
  first_step_ = first_step;
  start_ = std::chrono::steady_clock::now();
}

double MetricsLog::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

void MetricsLog::step(const StepMetrics& m) {
  nlohmann::json j = {{"step", m.step},           {"loss", m.loss},     {"t", m.t},
                      {"b", m.b},                 {"lr", m.lr},         {"grad_norm", m.grad_norm},
                      {"step_s", m.step_s},       {"logit_std", m.logit_std}};
  if (write_files_) append_line(path_, j.dump());
  const double pairs_s = static_cast<double>(batch_ * batch_) / m.step_s;
  const double eta = elapsed_s() / static_cast<double>(m.step - first_step_) * static_cast<double>(total_steps_ - m.step);
  const std::string line =
      fmt::format("step {:>5}/{} loss {:.4f} t {:.2f} b {:.2f} lr {:.2e} |g| {:.2f} {:.0f} pairs/s ETA {}", m.step,
                  total_steps_, m.loss, m.t, m.b, m.lr, m.grad_norm, pairs_s, fmt_duration(eta));
  if (tty_) fmt::print("\r{}\x1b[K", line);
  if (m.step % log_every_ == 0 || m.step == total_steps_ || m.step == first_step_ + 1)
    fmt::print("{}{}\n", tty_ ? "\r" : "", line);
  std::fflush(stdout);
}

void MetricsLog::warn(const std::string& message) { fmt::print("{}{}\n", tty_ ? "\n" : "", message); }

void MetricsLog::finish(double total_s, const std::string& checkpoint) {
  if (write_files_) write_plot(dir_);
  const double steps = static_cast<double>(total_steps_ - first_step_);
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);  // ru_maxrss: KiB on Linux; the whole process (tensors, data loader, libraries)
  const AllocatorStats memory = allocator_stats(Device::CPU);
  fmt::print("trained {} steps in {} ({:.2f} s/step); peak host memory in tensors {:.0f} MB, peak RSS {:.0f} MB "
             "(tensor blocks held at most {:.0f} MB); checkpoint {}\n",
             total_steps_ - first_step_, fmt_duration(total_s), total_s / std::max<double>(1, steps),
             static_cast<double>(memory.peak_bytes) / 1e6, static_cast<double>(ru.ru_maxrss) * 1024.0 / 1e6,
             static_cast<double>(memory.peak_held_bytes) / 1e6, checkpoint);
}

void MetricsLog::evaluation(int64_t step, const EvalResult& r) {
  if (step < total_steps_) fmt::print("{}evaluation at step {}:\n", tty_ ? "\n" : "", step);
  for (const auto& [name, acc] : r.zero_shot)
    fmt::print("zero-shot {} accuracy: {:.2f}% ({} test images)\n", name, 100 * acc, r.examples);
  fmt::print("retrieval: image->text R@1 {:.2f}% R@5 {:.2f}%, text->image R@1 {:.2f}% R@5 {:.2f}%\n", 100 * r.i2t_r1,
             100 * r.i2t_r5, 100 * r.t2i_r1, 100 * r.t2i_r5);
  nlohmann::json j = {{"step", step},
                      {"eval", {{"zero_shot", r.zero_shot}, {"i2t_r1", r.i2t_r1}, {"i2t_r5", r.i2t_r5},
                                {"t2i_r1", r.t2i_r1}, {"t2i_r5", r.t2i_r5}, {"examples", r.examples}}}};
  if (write_files_) append_line(path_, j.dump());
}

void MetricsLog::data_report(int64_t step, uint64_t bad_samples) {
  if (bad_samples > 0) fmt::print("data: {} bad samples left out (--on-bad-sample skip)\n", bad_samples);
  if (write_files_)
    append_line(path_, nlohmann::json{{"step", step}, {"data", {{"bad_samples", bad_samples}}}}.dump());
}

}  // namespace sg
