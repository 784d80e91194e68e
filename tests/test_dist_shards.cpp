// test_dist_shards.cpp: data-parallel training on WebDataset shards, where each rank decodes only the images of its
// rows of the global batch: the same weights as one process decoding them all (float tolerance), and the ranks'
// logs say what they decode. Skipped, saying so, where mpirun is missing.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "dist/communicator.h"
#include "siglip/commands.h"
#include "tests/siglip_run.h"
#include "tests/train_helpers.h"

using namespace sg;

TEST_CASE("dist: on shards each rank decodes its rows only, and 2 ranks train as one process") {
  if (run_shell("command -v mpirun").status != 0 || !dist::built_with_mpi()) {
    MESSAGE("skipped: no mpirun, or a build without MPI (scripts/install-deps.sh installs Open MPI)");
    return;
  }
  const std::string dir = temp_dir("dp_shards");
  DataPackOptions p;
  p.data = "shapes:48:8";
  p.out = dir + "/shards";
  p.shard_size = 12;
  p.image_size = 16;
  REQUIRE(run_data_pack(p) == 0);
  const std::string args = fmt::format(" train --data '{}/{{00000..00003}}.tar' --eval-data {}/test/00000.tar "
                                       "--config micro --image-size 16 --batch 8 --steps 8 --no-eval --threads 1 "
                                       "--shuffle-buffer 10 --log-every 100", p.out, p.out);
  const SiglipRun one = run_siglip(args + " --dump-grads '*' --dump-every 1 --out " + dir + "/one");
  REQUIRE_MESSAGE(one.status == 0, one.output);
  const SiglipRun two = run_shell("env OMP_NUM_THREADS=1 ASAN_OPTIONS=detect_leaks=0 timeout 120 mpirun "
                                  "--allow-run-as-root --oversubscribe -np 2 " + siglip_binary() + args + " --out " +
                                  dir + "/two --check-params-every 4");
  REQUIRE_MESSAGE(two.status == 0, two.output);
  CHECK_MESSAGE(two.output.find("data parallel: 2 ranks (mpi)") != std::string::npos, two.output);
  CHECK_MESSAGE(two.output.find("each rank decodes the images of its own rows") != std::string::npos, two.output);
  // 48 samples, 6 batches an epoch: the runs cross an epoch.
  const double params = difference_over_largest_where_gradients_decide(dir + "/one", dir + "/two", 8);
  MESSAGE("2 ranks on shards: parameters after 8 steps differ by " << params << " of the largest");
  CHECK(params < 1e-5);
  std::filesystem::remove_all(dir);
}
