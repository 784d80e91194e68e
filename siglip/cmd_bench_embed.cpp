// cmd_bench_embed.cpp: `siglip bench embed`: inference throughput of the image tower. A fresh model of --config
// (random weights) embeds --images random images in batches of --batch under NoGradGuard: patch embedding,
// encoder, post layer norm, MAP head, L2 normalisation (SiglipModel::image_embeds, what `siglip embed --images`
// runs). images/s = batch / median time of the full batches, after --warmup batches; the random pixels are made
// outside the timing. scripts/torch_reference.py infer does the same work with transformers' get_image_features.
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include <nlohmann/json.hpp>

#include "autograd/node.h"
#include "nn/fileio.h"
#include "nn/module.h"
#include "siglip/commands.h"
#include "tensor/profile.h"
#include "siglip/config.h"
#include "siglip/cpu_precision.h"
#include "siglip/model.h"
#include "siglip/threads.h"
#include "tensor/allocator.h"
#include "tensor/backends.h"
#include "tensor/ops.h"

namespace sg {
namespace {

double peak_rss_mib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);  // ru_maxrss: KiB on Linux
  return static_cast<double>(ru.ru_maxrss) / 1024.0;
}

// The embeddings must be n rows of unit length: a wrong shape or a NaN would make the timing meaningless.
void check_embeddings(const Tensor& e, int64_t n, int64_t D) {
  SG_CHECK(e.dim() == 2 && e.size(0) == n && e.size(1) == D, "bench embed: embeddings of shape {}, expected [{}, {}]",
           e.shape_str(), n, D);
  const std::vector<float> v = e.to(Device::CPU).contiguous().to_vector<float>();
  for (int64_t i = 0; i < n; ++i) {
    double ss = 0;
    for (int64_t j = 0; j < D; ++j) ss += static_cast<double>(v[i * D + j]) * v[i * D + j];
    SG_CHECK(std::abs(ss - 1.0) < 1e-2, "bench embed: embedding {} has squared norm {} (not L2-normalised or not finite)",
             i, ss);
  }
}

}  // namespace

int run_bench_embed(const BenchEmbedOptions& o) {
  SG_CHECK(o.batch >= 1, "bench embed: --batch must be >= 1, got {}", o.batch);
  SG_CHECK(o.images >= o.batch, "bench embed: --images {} must be >= --batch {} (the median is over full batches)",
           o.images, o.batch);
  SG_CHECK(o.warmup >= 0, "bench embed: --warmup must be >= 0, got {}", o.warmup);
  check_device_available(o.device, "bench embed");
  ThreadCountScope threads(o.threads);
  const SiglipConfig cfg = file_exists(o.config) ? SiglipConfig::load(o.config) : preset_config(o.config);
  SiglipModel model(cfg);
  model.init_weights(o.seed);
  model.to(o.device);
  const VisionConfig& vc = cfg.vision;
  const int64_t B = o.batch;
  Generator gen(o.seed + 1);
  auto pixels = [&](int64_t n) {  // N(0, 1) images, made outside the timing
    return randn({n, vc.num_channels, vc.image_size, vc.image_size}, DType::F32, &gen).to(o.device);
  };
  const Precision precision = effective_precision(o.precision, o.device, "bench embed", true);
  std::optional<nn::ComputeDTypeGuard> mixed;
  if (precision == Precision::BF16) mixed.emplace(DType::BF16);
  NoGradGuard no_grad;
  DeviceRuntime& rt = runtime(o.device);

  for (int i = 0; i < o.warmup; ++i) check_embeddings(model.image_embeds(pixels(B)), B, vc.hidden_size);
  allocator_reset_peak(o.device);
  profile::reset();  // SG_PROFILE=1: the kernel table of the timed batches, printed at the end
  std::vector<double> times;
  double total_s = 0;
  for (int64_t done = 0; done < o.images;) {
    const int64_t n = std::min(B, o.images - done);
    const Tensor x = pixels(n);
    rt.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    const Tensor e = model.image_embeds(x);
    rt.synchronize();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    check_embeddings(e, n, vc.hidden_size);
    total_s += dt;
    done += n;
    if (n == B) times.push_back(dt);
  }
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2], per_s = static_cast<double>(B) / median;
  const double overall = static_cast<double>(o.images) / total_s;
  const double rss = peak_rss_mib();
  const double tensor_mib = static_cast<double>(allocator_stats(o.device).peak_bytes) / (1 << 20);
  const int nthreads = omp_get_max_threads();
  if (profile::enabled())
    fmt::print("profile over {} batches (every kernel synchronised):\n{}", times.size(),
               profile::report(static_cast<int64_t>(times.size())));
  const std::string precision_name = precision == Precision::BF16 ? "bf16" : "f32";
  fmt::print("bench embed: {} B={} {} on {}, {} threads: {:.1f} images/s (median of {} batches; {:.1f} images/s over "
             "all {}), peak RSS {:.0f} MiB, peak tensor memory {:.0f} MiB\n",
             o.config, B, precision_name, device_name(o.device), nthreads, per_s, times.size(), overall, o.images, rss,
             tensor_mib);
  const nlohmann::json j = {{"impl", "ours"},
                            {"bench", "embed"},
                            {"config", o.config},
                            {"batch", B},
                            {"precision", precision_name},
                            {"images", o.images},
                            {"batches", times.size()},
                            {"warmup_batches", o.warmup},
                            {"images_per_s", per_s},
                            {"images_per_s_overall", overall},
                            {"median_batch_ms", median * 1e3},
                            {"peak_rss_mib", rss},
                            {"peak_tensor_mib", tensor_mib},
                            {"threads", nthreads},
                            {"device", device_name(o.device)}};
  fmt::print("{}\n", j.dump());
  return 0;
}

}  // namespace sg
