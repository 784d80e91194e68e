// dist_check.cpp: the distributed losses (dist/losses.h) against one process, started by tests/test_dist.cpp as
// `mpirun -np D build/dist_check ...` (or alone: world size 1). Every rank makes the same global batch from the
// seed, takes its rows (dist::split_batch), computes its share of the loss and its gradients; the shares and
// gradients are gathered, and rank 0 compares them with the one-process loss of the whole batch
// (sigmoid_loss_fused, or softmax_loss on the [B, B] logits) and its gradients.
//   dist_check LOSS POSITIVES DTYPE B DIM SEED     LOSS: sigmoid | softmax, POSITIVES: diagonal | caption | label,
//                                                 DTYPE: f32 | f64
//   dist_check hash-differ    every rank but 1 checks the value 0, rank 1 the value 1: check_same_on_all_ranks fails
//   dist_check rank-dies      rank 1 exits at once (exit status 3) while the others wait in an all-reduce
//   dist_check rank-hangs OP T  every rank sets a timeout of T s (Communicator::set_timeout); rank 1 sleeps 30 T
//                             before it takes part in OP (all-reduce | all-reduce-async | send-recv | barrier), so the
//                             others' wait ends at T with the error naming OP and MPI_Abort ends the run
//   dist_check memory LOSS B DIM    LOSS: sigmoid (the ring) | softmax (the all-gather) | fused (one process's
//                             tiled sigmoid_loss_fused, world size 1 only). Each rank makes only its own rows (f32,
//                             diagonal positives) and measures the loss's forward + backward alone: the host
//                             allocator's peak above what was live before (the inputs), and the process's peak RSS.
//                             Rank 0 prints "memory LOSS B D peak_mb_max X peak_mb_mean Y rss_mb_max Z seconds S"
//                             next to the B x B f32 matrix ("bxb_mb"). scripts/bench_loss_memory.sh runs the table.
// Prints "loss_rel E", "grad_rel E" (the largest relative difference of img, txt, t' and b's gradients, each
// relative to its tensor's largest magnitude; b's is left out for softmax, where it is zero), "bytes_per_rank N"
// (what the loss's forward and backward sent, summed over ranks / D), and exits 0 when both are within the
// tolerance of DTYPE (f32 1e-5, f64 1e-12), 2 when not, 1 on an error.
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "dist/communicator.h"
#include "dist/losses.h"
#include "siglip/choices.h"
#include "siglip/loss.h"
#include "tensor/allocator.h"
#include "tensor/ops.h"

using namespace sg;

namespace {

double max_rel(const Tensor& got, const Tensor& want) {
  const std::vector<double> a = got.to_vector<double>(), b = want.to_vector<double>();
  SG_CHECK(a.size() == b.size(), "dist_check: {} values vs {}", a.size(), b.size());
  double scale = 0, diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    scale = std::max(scale, std::abs(b[i]));
    diff = std::max(diff, std::abs(a[i] - b[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

// Failures across ranks: a parameter hash that differs, and a rank that dies inside a collective.
int failure(const std::string& what) {
  dist::Communicator& comm = dist::world();
  if (what == "hash-differ") {
    dist::check_same_on_all_ranks(comm, comm.rank() == 1 ? 1 : 0, "dist_check: the test value");
    return 0;
  }
  SG_CHECK(what == "rank-dies", "dist_check: unknown failure '{}'", what);
  if (comm.rank() == 1) std::_Exit(3);
  Tensor t = ones({4});
  comm.all_reduce_sum(t);  // waits for rank 1, which never comes
  return 0;
}

// The memory of one loss's forward and backward on this rank's share of a global batch of B (memory mode).
int memory(const std::vector<std::string>& args) {
  SG_CHECK(args.size() == 4, "usage: dist_check memory sigmoid|softmax|fused B DIM");
  const std::string& loss = args[1];
  SG_CHECK(loss == "sigmoid" || loss == "softmax" || loss == "fused", "dist_check: memory: loss '{}': sigmoid, "
           "softmax or fused", loss);
  const int64_t B = std::stoll(args[2]), dim = std::stoll(args[3]);
  dist::Communicator& comm = dist::world();
  SG_CHECK(loss != "fused" || comm.size() == 1, "dist_check: memory: fused is one process's loss, not {} ranks",
           comm.size());
  const dist::BatchSplit split = dist::split_batch(B, comm.size());
  const int r = comm.rank();
  Generator gen(1000 + static_cast<uint64_t>(r));
  auto leaf = [](Tensor t) {
    t.requires_grad_(true);
    return t;
  };
  // This rank's rows only: img, txt [b, DIM], unit norm; diagonal positives: group id = global row index.
  Tensor x = leaf(l2_normalize(randn({split.rows[r], dim}, DType::F32, &gen)).contiguous());
  Tensor y = leaf(l2_normalize(randn({split.rows[r], dim}, DType::F32, &gen)).contiguous());
  Tensor scale = leaf(full({1}, std::log(10.0), DType::F32)), bias = leaf(full({1}, -10.0, DType::F32));
  std::vector<int64_t> ids(static_cast<size_t>(split.rows[r]));
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = split.offsets[r] + static_cast<int64_t>(i);
  const Tensor groups = from_vector(ids, {split.rows[r]});
  comm.barrier();
  const size_t live_before = allocator_stats(Device::CPU).live_bytes;
  allocator_reset_peak(Device::CPU);
  const auto t0 = std::chrono::steady_clock::now();
  {
    Tensor share = loss == "sigmoid"   ? dist::sigmoid_loss_ring(comm, x, y, scale, bias, groups, split.rows)
                   : loss == "softmax" ? dist::softmax_loss_gather(comm, x, y, scale, bias, groups, split.rows)
                                       : sigmoid_loss_fused(x, y, scale, bias, groups);
    share.backward();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double peak_mb = static_cast<double>(allocator_stats(Device::CPU).peak_bytes - live_before) / 1e6;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);  // ru_maxrss: KiB on Linux
  const std::vector<double> mine{peak_mb, static_cast<double>(ru.ru_maxrss) / 1024.0 * 1.048576, seconds};
  std::vector<int64_t> ones(static_cast<size_t>(comm.size()), 1);
  const std::vector<double> all =
      comm.all_gather(from_vector(mine, {1, 3}, DType::F64), ones).to_vector<double>();  // [D, 3]
  if (r != 0) return 0;
  double peak_max = 0, peak_sum = 0, rss_max = 0, seconds_max = 0;
  for (int k = 0; k < comm.size(); ++k) {
    peak_max = std::max(peak_max, all[3 * k]);
    peak_sum += all[3 * k];
    rss_max = std::max(rss_max, all[3 * k + 1]);
    seconds_max = std::max(seconds_max, all[3 * k + 2]);
  }
  std::printf("memory %s B %lld D %d dim %lld peak_mb_max %.1f peak_mb_mean %.1f rss_mb_max %.1f seconds %.2f "
              "bxb_mb %.1f\n", loss.c_str(), static_cast<long long>(B), comm.size(), static_cast<long long>(dim),
              peak_max, peak_sum / comm.size(), rss_max, seconds_max, static_cast<double>(B) * B * 4 / 1e6);
  return 0;
}

// A rank that hangs: alive, but it reaches the operation 30 timeouts late.
int hang(const std::vector<std::string>& args) {
  SG_CHECK(args.size() == 3, "usage: dist_check rank-hangs all-reduce|all-reduce-async|send-recv|barrier SECONDS");
  const std::string& op = args[1];
  const double timeout = std::stod(args[2]);
  dist::Communicator& comm = dist::world();
  comm.set_timeout(timeout);
  if (comm.rank() == 1) std::this_thread::sleep_for(std::chrono::duration<double>(30 * timeout));
  Tensor t = ones({4});
  if (op == "all-reduce") {
    comm.all_reduce_sum(t);
  } else if (op == "all-reduce-async") {
    comm.all_reduce_sum_async(t)->wait();
  } else if (op == "send-recv") {
    const int D = comm.size(), r = comm.rank();
    comm.send_recv(t, (r + 1) % D, {4}, (r - 1 + D) % D);
  } else {
    SG_CHECK(op == "barrier", "dist_check: rank-hangs: unknown operation '{}'", op);
    comm.barrier();
  }
  std::printf("rank %d: %s completed\n", comm.rank(), op.c_str());
  return 0;
}

int check(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "memory") return memory(args);
  if (!args.empty() && args[0] == "rank-hangs") return hang(args);
  if (args.size() == 1) return failure(args[0]);
  SG_CHECK(args.size() == 6, "usage: dist_check sigmoid|softmax diagonal|caption|label f32|f64 B DIM SEED");
  const bool sigmoid = args[0] == "sigmoid";
  SG_CHECK(sigmoid || args[0] == "softmax", "dist_check: loss '{}': sigmoid or softmax", args[0]);
  const Positives mode = args[1] == "caption" ? Positives::Caption : args[1] == "label" ? Positives::Label
                                                                                         : Positives::Diagonal;
  SG_CHECK(args[1] == "caption" || args[1] == "label" || args[1] == "diagonal", "dist_check: positives '{}'", args[1]);
  const DType dt = args[2] == "f64" ? DType::F64 : DType::F32;
  const int64_t B = std::stoll(args[3]), dim = std::stoll(args[4]);
  dist::Communicator& comm = dist::world();
  const dist::BatchSplit split = dist::split_batch(B, comm.size());

  // The global batch, the same on every rank: unit-norm embeddings, captions with repeats, labels with gaps.
  Generator gen(std::stoull(args[5]));
  const Tensor img = l2_normalize(randn({B, dim}, DType::F64, &gen)).to(dt);
  const Tensor txt = l2_normalize(randn({B, dim}, DType::F64, &gen)).to(dt);
  std::vector<std::string> captions;
  std::vector<int> labels;
  const std::vector<int64_t> draws = randint({2 * B}, 0, 4, &gen).to_vector<int64_t>();
  for (int64_t i = 0; i < B; ++i) {
    captions.push_back("caption " + std::to_string(draws[i]));
    labels.push_back(static_cast<int>(draws[B + i]) - 1);  // -1 (no label), 0, 1, 2
  }
  const Tensor groups = positive_groups(mode, captions, labels);  // [B], over the whole batch
  auto leaf = [dt](const Tensor& t) {
    Tensor x = t.detach().to(dt).contiguous().clone();
    x.requires_grad_(true);
    return x;
  };

  // This rank's share.
  const int r = comm.rank();
  const int64_t off = split.offsets[r], n = split.rows[r];
  Tensor x = leaf(img.narrow(0, off, n)), y = leaf(txt.narrow(0, off, n));
  Tensor scale = leaf(full({1}, std::log(4.0), dt)), bias = leaf(full({1}, -1.5, dt));
  const Tensor my_groups = groups.narrow(0, off, n).contiguous();
  comm.reset_bytes_sent();
  Tensor share = sigmoid ? dist::sigmoid_loss_ring(comm, x, y, scale, bias, my_groups, split.rows)
                         : dist::softmax_loss_gather(comm, x, y, scale, bias, my_groups, split.rows);
  share.backward();
  Tensor bytes = from_vector(std::vector<int64_t>{static_cast<int64_t>(comm.bytes_sent())}, {1});
  comm.all_reduce_sum(bytes);

  // Gathered: the summed loss, the whole batch's embedding gradients, the summed t' and b gradients.
  Tensor loss = share.detach().reshape({1}).contiguous().clone();
  comm.all_reduce_sum(loss);
  const Tensor g_img = comm.all_gather(x.grad().contiguous(), split.rows);
  const Tensor g_txt = comm.all_gather(y.grad().contiguous(), split.rows);
  Tensor g_scale = scale.grad().contiguous().clone(), g_bias = bias.grad().contiguous().clone();
  comm.all_reduce_sum(g_scale);
  comm.all_reduce_sum(g_bias);
  if (r != 0) return 0;

  // One process, the whole batch.
  Tensor X = leaf(img), Y = leaf(txt), S = leaf(full({1}, std::log(4.0), dt)), Bi = leaf(full({1}, -1.5, dt));
  Tensor ref = sigmoid ? sigmoid_loss_fused(X, Y, S, Bi, groups)
                       : softmax_loss(pairwise_logits(X, Y, S, Bi), labels_from_groups(groups, dt, Device::CPU));
  ref.backward();
  const double loss_rel = max_rel(loss, ref.reshape({1}));
  double grad_rel = std::max({max_rel(g_img, X.grad()), max_rel(g_txt, Y.grad()), max_rel(g_scale, S.grad())});
  if (sigmoid) grad_rel = std::max(grad_rel, max_rel(g_bias, Bi.grad()));
  const double tol = dt == DType::F64 ? 1e-12 : 1e-5;
  std::printf("ranks %d split", comm.size());
  for (int64_t rows : split.rows) std::printf(" %lld", static_cast<long long>(rows));
  std::printf("\nloss %.17g ref %.17g\nloss_rel %.3g\ngrad_rel %.3g\nbytes_per_rank %lld\n", loss.item(), ref.item(),
              loss_rel, grad_rel, static_cast<long long>(bytes.to_vector<int64_t>()[0] / comm.size()));
  const bool ok = loss_rel <= tol && grad_rel <= tol;
  std::printf("%s (tolerance %g)\n", ok ? "PASS" : "FAIL", tol);
  return ok ? 0 : 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return check(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    dist::abort_world_on_error(e.what());
    return 1;
  }
}
