// test_dist_train.cpp: data-parallel training under mpirun against one process, ten steps of the micro model on the
// same global batches, for the sigmoid ring and the softmax all-gather, with even and uneven splits: the summed
// gradients of step 1 within 1e-5 of the largest gradient, and the parameters after ten steps within 1e-5 of the
// largest parameter (see difference_over_largest_where_gradients_decide for what cannot be compared);
// --check-params-every compares the ranks' parameters on the way; a 2-rank checkpoint resumed on 1 and 3 ranks.
// Skipped, saying so, where mpirun is missing.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "dist/communicator.h"
#include "nn/safetensors.h"
#include "tests/siglip_run.h"
#include "tests/train_helpers.h"

using namespace sg;

TEST_CASE("dist: ten data-parallel steps on 2 and 3 ranks give the parameters of one process") {
  if (run_shell("command -v mpirun").status != 0 || !dist::built_with_mpi()) {
    MESSAGE("skipped: no mpirun, or a build without MPI (scripts/install-deps.sh installs Open MPI)");
    return;
  }
  const std::string common =
      " train --data shapes:64:16 --config micro --image-size 16 --steps 10 --no-eval --threads 1 --log-every 100";
  const std::string mpirun = "env OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 timeout 120 mpirun --allow-run-as-root --oversubscribe";
  struct Case {
    int ranks;
    const char* loss;
    int batch;
  };
  // batch 8 on 2 ranks: 4 + 4; batch 8 on 3 ranks: 3 + 3 + 2 (uneven); small buckets: several all-reduces a step.
  for (const Case c : {Case{2, "sigmoid", 8}, Case{3, "sigmoid", 8}, Case{2, "softmax", 8}, Case{3, "softmax", 7}}) {
    CAPTURE(c.ranks);
    CAPTURE(std::string(c.loss));
    const std::string one = temp_dir(fmt::format("dp_one_{}_{}", c.loss, c.ranks));
    const std::string many = temp_dir(fmt::format("dp_many_{}_{}", c.loss, c.ranks));
    const std::string args =
        fmt::format("{} --loss {} --batch {} --positives caption --dump-grads '*' --dump-every 1", common, c.loss, c.batch);
    const SiglipRun r1 = run_siglip(args + " --out " + one);
    REQUIRE_MESSAGE(r1.status == 0, r1.output);
    const SiglipRun rn = run_shell(fmt::format("{} -np {} {} {} --out {} --check-params-every 5 --grad-bucket-mb 0.5",
                                               mpirun, c.ranks, siglip_binary(), args, many));
    REQUIRE_MESSAGE(rn.status == 0, rn.output);
    CHECK_MESSAGE(rn.output.find(fmt::format("data parallel: {} ranks (mpi)", c.ranks)) != std::string::npos, rn.output);
    CHECK_MESSAGE(rn.output.find("communication: rank 0 sent") != std::string::npos, rn.output);
    // The summed gradients of step 1 (after the all-reduce, before clipping) against one process's.
    const double grads = difference_over_largest(one + "/grads/step-000001.safetensors",
                                                 many + "/grads/step-000001.safetensors");
    // The parameters after ten steps, where the gradients decide AdamW's steps: float32 rounding leaves them a few
    // 1e-6 of the largest parameter apart (README "More than one device").
    const double params = difference_over_largest_where_gradients_decide(one, many, 10);
    MESSAGE(c.ranks << " ranks, " << std::string(c.loss) << ": step-1 gradients differ by " << grads
                    << " of the largest gradient; parameters after 10 steps by " << params << " of the largest");
    CHECK(grads < 1e-5);
    CHECK(params < 1e-5);
    // Only rank 0 writes metrics.jsonl: one line per step, not one per rank.
    const SiglipRun lines = run_shell("grep -c '\"loss\"' " + many + "/metrics.jsonl");
    CHECK(lines.output == "10\n");
    std::filesystem::remove_all(one);
    std::filesystem::remove_all(many);
  }
}

TEST_CASE("dist: a global batch smaller than the number of ranks is refused, naming both") {
  if (run_shell("command -v mpirun").status != 0 || !dist::built_with_mpi()) {
    MESSAGE("skipped: no mpirun, or a build without MPI");
    return;
  }
  const std::string out = temp_dir("dp_small");
  const SiglipRun r = run_shell(
      "env OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 timeout 60 mpirun --allow-run-as-root --oversubscribe -np 3 " + siglip_binary() +
      " train --data shapes:64:16 --config micro --image-size 16 --steps 1 --batch 2 --no-eval --threads 1 --out " + out);
  CHECK(r.status != 0);
  CHECK_MESSAGE(r.output.find("the global batch of 2 cannot be split over 3 ranks") != std::string::npos, r.output);
  std::filesystem::remove_all(out);
}

TEST_CASE("dist: a checkpoint of 2 ranks resumes on 1 and on 3 ranks with the parameters of the 2-rank run") {
  if (run_shell("command -v mpirun").status != 0 || !dist::built_with_mpi()) {
    MESSAGE("skipped: no mpirun, or a build without MPI");
    return;
  }
  const std::string mpirun = "env OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 timeout 120 mpirun --allow-run-as-root --oversubscribe";
  const std::string full = temp_dir("dp_resume_full");
  const SiglipRun r2 = run_shell(fmt::format(
      "{} -np 2 {} train --data shapes:64:16 --config micro --image-size 16 --steps 6 --ckpt-every 3 --batch 8 "
      "--positives caption --no-eval --threads 1 --log-every 100 --out {}",
      mpirun, siglip_binary(), full));
  REQUIRE_MESSAGE(r2.status == 0, r2.output);
  const SiglipRun saved = run_shell("grep '\"world_size\": 2' " + full + "/step-000003/trainer_state.json");
  CHECK_MESSAGE(saved.status == 0, saved.output);
  for (int ranks : {1, 3}) {
    CAPTURE(ranks);
    // The run as it stood at step 3: its step-3 checkpoint, `latest` pointing to it.
    const std::string part = temp_dir(fmt::format("dp_resume_{}", ranks));
    std::filesystem::create_directories(part);
    std::filesystem::copy(full + "/step-000003", part + "/step-000003", std::filesystem::copy_options::recursive);
    REQUIRE(run_shell("echo step-000003 > " + part + "/latest").status == 0);
    const std::string resume = fmt::format("{} train --resume {} --threads 1", siglip_binary(), part);
    const SiglipRun r = run_shell(ranks == 1 ? resume : fmt::format("{} -np {} {}", mpirun, ranks, resume));
    REQUIRE_MESSAGE(r.status == 0, r.output);
    CHECK_MESSAGE(r.output.find(fmt::format("written by 2 rank(s), this run has {}", ranks)) != std::string::npos,
                  r.output);
    // The same samples; only the order of the sums differs (float32 rounding, amplified by AdamW where gradients
    // are tiny): README "More than one device".
    const double all = difference_over_largest(full + "/step-000006/model.safetensors",
                                               part + "/step-000006/model.safetensors");
    const double params = difference_over_largest(full + "/step-000006/model.safetensors",
                                                  part + "/step-000006/model.safetensors", gradient_is_exactly_zero);
    MESSAGE("2 ranks to step 3, then " << ranks << " to step 6, against 2 ranks throughout: parameters differ by "
                                       << params << " of the largest (" << all << " with the key biases)");
    CHECK(params < 1e-6);
    CHECK(all < 1e-4);
    std::filesystem::remove_all(part);
  }
  std::filesystem::remove_all(full);
}

TEST_CASE("dist: resuming on more ranks than the global batch has examples names both world sizes") {
  if (run_shell("command -v mpirun").status != 0 || !dist::built_with_mpi()) {
    MESSAGE("skipped: no mpirun, or a build without MPI");
    return;
  }
  const std::string out = temp_dir("dp_resume_small");
  const SiglipRun r1 = run_siglip(" train --data shapes:64:16 --config micro --image-size 16 --steps 1 --batch 2 "
                                  "--no-eval --threads 1 --out " + out);
  REQUIRE_MESSAGE(r1.status == 0, r1.output);
  const SiglipRun r = run_shell(
      "env OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 timeout 60 mpirun --allow-run-as-root --oversubscribe -np 3 " +
      siglip_binary() + " train --resume " + out + " --steps 2 --threads 1");
  CHECK(r.status != 0);
  CHECK_MESSAGE(r.output.find("was written by 1 rank(s) and is resumed on 3: its global batch of 2 cannot be split "
                              "over 3 ranks") != std::string::npos,
                r.output);
  std::filesystem::remove_all(out);
}
