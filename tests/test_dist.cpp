// test_dist.cpp: the communicators and the distributed losses (dist/). In this process (world size 1): the batch
// split, the ring sigmoid loss and the all-gather softmax loss against siglip/loss.h's. Across processes:
// `mpirun -np 2|3 build/dist_check ...` (tests/mpi/dist_check.cpp) for both losses, all three positives modes,
// f32 and f64, with even and uneven splits; a rank that hangs stopped by the timeout; `train --device cuda` under
// mpirun with NCCL or MPI host staging (needs a GPU). Each skipped, saying so, where mpirun (or the GPU) is missing.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>

#include "dist/communicator.h"
#include "dist/losses.h"
#include "nn/safetensors.h"
#include "siglip/loss.h"
#include "tensor/ops.h"
#include "tests/error_of.h"
#include "tests/siglip_run.h"

using namespace sg;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  REQUIRE(x.size() == y.size());
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::abs(x[i] - y[i]));
  return d;
}

Tensor leaf_of(const Tensor& t) {
  Tensor x = t.detach().contiguous().clone();
  x.requires_grad_(true);
  return x;
}

// The mpirun the tests start, or "" when there is none or the build has no MPI (make MPI=0).
std::string mpirun_command() {
  const SiglipRun found = run_shell("command -v mpirun");
  if (found.status != 0 || !dist::built_with_mpi()) return "";
  // Open MPI's own allocations are not this project's leaks: no LeakSanitizer in the ranks of a sanitized build.
  return "env OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 mpirun --allow-run-as-root --oversubscribe";
}

std::string dist_check_binary() {
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "dist_check").string();
}

}  // namespace

TEST_CASE("dist: split_batch gives every rank its rows, the first B % D one more") {
  const dist::BatchSplit even = dist::split_batch(8, 2);
  CHECK(even.rows == std::vector<int64_t>{4, 4});
  CHECK(even.offsets == std::vector<int64_t>{0, 4});
  const dist::BatchSplit uneven = dist::split_batch(10, 3);
  CHECK(uneven.rows == std::vector<int64_t>{4, 3, 3});
  CHECK(uneven.offsets == std::vector<int64_t>{0, 4, 7});
  const std::string e = error_of([] { dist::split_batch(2, 3); });
  CHECK_MESSAGE(e.find("global batch of 2 cannot be split over 3 ranks") != std::string::npos, e);
}

TEST_CASE("dist: one process: the ring sigmoid loss and the gathered softmax loss equal siglip/loss.h's") {
  dist::SingleCommunicator one;
  Generator gen(7);
  const int64_t B = 6, D = 4;
  const Tensor img = l2_normalize(randn({B, D}, DType::F64, &gen)), txt = l2_normalize(randn({B, D}, DType::F64, &gen));
  const std::vector<std::string> captions{"a", "b", "a", "c", "b", "d"};
  const std::vector<int> labels{0, 1, -1, 0, 2, -1};
  for (Positives mode : {Positives::Diagonal, Positives::Caption, Positives::Label}) {
    const Tensor groups = positive_groups(mode, captions, labels);
    for (bool sigmoid : {true, false}) {
      CAPTURE(static_cast<int>(mode));
      CAPTURE(sigmoid);
      auto run = [&](bool distributed) {
        std::vector<Tensor> in{leaf_of(img), leaf_of(txt), leaf_of(full({1}, std::log(10.0), DType::F64)),
                               leaf_of(full({1}, -2.0, DType::F64))};
        Tensor loss;
        if (distributed)
          loss = sigmoid ? dist::sigmoid_loss_ring(one, in[0], in[1], in[2], in[3], groups, {B})
                         : dist::softmax_loss_gather(one, in[0], in[1], in[2], in[3], groups, {B});
        else
          loss = sigmoid ? sigmoid_loss_fused(in[0], in[1], in[2], in[3], groups)
                         : softmax_loss(pairwise_logits(in[0], in[1], in[2], in[3]),
                                        labels_from_groups(groups, DType::F64, Device::CPU));
        loss.backward();
        in.insert(in.begin(), loss);
        return in;
      };
      const std::vector<Tensor> got = run(true), want = run(false);
      CHECK(max_abs_diff(got[0], want[0]) < 1e-12);
      for (size_t i = 1; i < 4; ++i) CHECK(max_abs_diff(got[i].grad(), want[i].grad()) < 1e-12);
    }
  }
  const std::string e = error_of([&] {
    dist::sigmoid_loss_ring(one, img, txt, full({1}, 0.0, DType::F64), full({1}, 0.0, DType::F64),
                            positive_groups(Positives::Diagonal, captions, labels), {B - 1});
  });
  CHECK_MESSAGE(e.find("rows per rank has 1 entries and says 5 rows here, but img is [6, 4]") != std::string::npos, e);
}

TEST_CASE("dist: mpirun -np 2 and 3: both losses, all positives, f32 and f64, equal one process (uneven splits too)") {
  const std::string mpirun = mpirun_command();
  if (mpirun.empty()) {
    MESSAGE("skipped: no mpirun, or a build without MPI (scripts/install-deps.sh installs Open MPI)");
    return;
  }
  // B = 9: 5 + 4 on two ranks, 3 + 3 + 3 on three; B = 10: 5 + 5 and 4 + 3 + 3.
  for (int np : {2, 3})
    for (const char* loss : {"sigmoid", "softmax"})
      for (const char* positives : {"diagonal", "caption", "label"})
        for (const char* dtype : {"f32", "f64"}) {
          const std::string B = std::string(dtype) == "f32" ? "9" : "10";
          const std::string cmd = fmt::format("{} -np {} {} {} {} {} {} 6 {}", mpirun, np, dist_check_binary(), loss,
                                              positives, dtype, B, np * 10 + 1);
          const SiglipRun r = run_shell("timeout 60 " + cmd);
          CHECK_MESSAGE(r.status == 0, cmd << "\n" << r.output);
          CHECK_MESSAGE(r.output.find("PASS") != std::string::npos, cmd << "\n" << r.output);
          CHECK_MESSAGE(r.output.find(fmt::format("ranks {}", np)) != std::string::npos, r.output);
        }
}

TEST_CASE("dist: a hash that differs between ranks is an error naming the ranks and values") {
  const std::string mpirun = mpirun_command();
  if (mpirun.empty()) {
    MESSAGE("skipped: no mpirun, or a build without MPI");
    return;
  }
  const SiglipRun r = run_shell("timeout 60 " + mpirun + " -np 3 " + dist_check_binary() + " hash-differ");
  CHECK(r.status != 0);
  CHECK_MESSAGE(r.output.find("the test value differs between ranks: rank 0: 0000000000000000, rank 1: "
                              "0000000000000001") != std::string::npos,
                r.output);
}

TEST_CASE("dist: a rank that dies stops the others within seconds, and the rank is named") {
  const std::string mpirun = mpirun_command();
  if (mpirun.empty()) {
    MESSAGE("skipped: no mpirun, or a build without MPI");
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const SiglipRun r = run_shell("timeout 60 " + mpirun + " -np 3 " + dist_check_binary() + " rank-dies");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(r.status != 0);
  CHECK(r.status != 124);  // not ended by the timeout
  CHECK(seconds < 30);
  // Open MPI's mpirun names the process as [[job,1],rank] with its exit status.
  CHECK_MESSAGE(r.output.find("],1]") != std::string::npos, r.output);
  CHECK_MESSAGE(r.output.find("Exit code:    3") != std::string::npos, r.output);
}

TEST_CASE("dist: a rank that hangs stops the others after --comm-timeout, naming the operation, rank and timeout") {
  const std::string mpirun = mpirun_command();
  if (mpirun.empty()) {
    MESSAGE("skipped: no mpirun, or a build without MPI");
    return;
  }
  // Rank 1 sleeps 30 s before the operation; the others wait at most 1 s. -k: a wedged mpirun is killed too.
  for (const char* op : {"all-reduce", "all-reduce-async", "send-recv", "barrier"}) {
    CAPTURE(std::string(op));
    const auto t0 = std::chrono::steady_clock::now();
    const SiglipRun r =
        run_shell(fmt::format("timeout -k 5 25 {} -np 2 {} rank-hangs {} 1", mpirun, dist_check_binary(), op));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE(std::string(op) << ": the run ended after " << seconds << " s");
    CHECK(r.status != 0);
    CHECK(r.status != 124);  // not ended by `timeout`
    CHECK(seconds < 15);
    const std::string name = std::string(op) == "send-recv" ? "send/receive" : std::string(op) == "barrier" ? "barrier"
                                                                                                          : "all-reduce";
    CHECK_MESSAGE(r.output.find("rank 0 of 2: " + name + " did not complete within 1 s (--comm-timeout)") !=
                      std::string::npos,
                  r.output);
    CHECK(r.output.find("completed") == std::string::npos);
  }
}

TEST_CASE("dist: train --device cuda under mpirun -np 2: NCCL with a GPU per rank, else MPI host staging, said so") {
  const std::string mpirun = mpirun_command();
  if (mpirun.empty()) {
    MESSAGE("skipped: no mpirun, or a build without MPI");
    return;
  }
  if (!dist::built_with_nccl()) {
    MESSAGE("nccl: skipped, this build has no NCCL communicator (make CUDA=1 MPI=1)");
    return;
  }
  if (dist::nccl_gpus() == 0) {
    MESSAGE("nccl: skipped, no GPU present (the NCCL communicator is compiled in; run scripts/gpu-check.sh on a GPU)");
    return;
  }
  const std::string args = " train --device cuda --data shapes:64:16 --config micro --image-size 16 --batch 8 --steps 3 "
                           "--positives caption --no-eval --threads 1 --log-every 100";
  auto train = [&](const std::string& comm, const std::string& out) {
    return run_shell(fmt::format("timeout -k 5 300 {} -np 2 {} {} --comm {} --out {}", mpirun, siglip_binary(), args,
                                 comm, out));
  };
  const std::string root = (std::filesystem::temp_directory_path() / "sg_test_nccl").string();
  // MPI with CUDA tensors staged through host memory: two ranks may share a GPU.
  const SiglipRun mpi = train("mpi", root + "_mpi");
  REQUIRE_MESSAGE(mpi.status == 0, mpi.output);
  CHECK_MESSAGE(mpi.output.find("data parallel: 2 ranks (mpi)") != std::string::npos, mpi.output);
  if (dist::nccl_gpus() < 2) {
    const SiglipRun automatic = train("auto", root + "_auto");
    CHECK_MESSAGE(automatic.status == 0, automatic.output);
    CHECK_MESSAGE(automatic.output.find("staged through host memory: NCCL needs one GPU per rank") != std::string::npos,
                  automatic.output);
    const SiglipRun nccl = train("nccl", root + "_nccl");
    CHECK(nccl.status != 0);
    CHECK_MESSAGE(nccl.output.find("2 ranks on this host but 1 GPU(s)") != std::string::npos, nccl.output);
    MESSAGE("nccl: one GPU: MPI host staging checked, NCCL refused as it should be; NCCL itself needs 2 GPUs");
  } else {
    const SiglipRun nccl = train("nccl", root + "_nccl");
    REQUIRE_MESSAGE(nccl.status == 0, nccl.output);
    CHECK_MESSAGE(nccl.output.find("data parallel: 2 ranks (nccl)") != std::string::npos, nccl.output);
    const auto a = load_safetensors(root + "_mpi/step-000003/model.safetensors");
    const auto b = load_safetensors(root + "_nccl/step-000003/model.safetensors");
    double scale = 0, diff = 0;
    for (const auto& [name, ta] : a) {
      const std::vector<double> x = ta.to_vector<double>(), y = b.at(name).to_vector<double>();
      for (size_t i = 0; i < x.size(); ++i) {
        scale = std::max(scale, std::abs(x[i]));
        if (name.find("k_proj.bias") == std::string::npos && name.find("in_proj_bias") == std::string::npos)
          diff = std::max(diff, std::abs(x[i] - y[i]));
      }
    }
    MESSAGE("nccl vs mpi, 3 steps on 2 GPUs: parameters differ by " << diff / scale << " of the largest");
    CHECK(diff / scale < 1e-5);
  }
  for (const char* s : {"_mpi", "_auto", "_nccl"}) std::filesystem::remove_all(root + s);
}
