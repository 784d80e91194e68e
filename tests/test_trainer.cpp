// test_trainer.cpp: the trainer's parts: a failed checkpoint write leaves no partial step directory and `latest` on
// the last complete one; rotation keeps the two newest; errors count steps from 1 as the log does; resume merges
// the saved options with this invocation's.
#include <doctest/doctest.h>

#include <filesystem>

#include "autograd/anomaly.h"
#include "nn/fileio.h"
#include "siglip/checkpoint_writer.h"
#include "siglip/run_setup.h"
#include "siglip/train.h"
#include "tests/train_helpers.h"

using namespace sg;
namespace fs = std::filesystem;

namespace {

// The message of the sg::Error that train(o) throws, or "(no error)".
std::string train_error(const TrainOptions& o) {
  try {
    train(o);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("checkpoint writer: a failed write removes its step directory; latest keeps the last complete one") {
  const std::string run = temp_dir("writer");
  make_dirs(run);
  CheckpointWriter w(run);
  auto good = [](const std::string& dir) { write_file_atomic(dir + "/model.safetensors", "weights"); };
  w.save(1, good);
  w.save(2, good);
  CHECK(read_file(run + "/latest") == "step-000002\n");
  CHECK_THROWS_WITH_AS(w.save(3,
                              [](const std::string& dir) {
                                write_file_atomic(dir + "/model.safetensors", "half of it");
                                fail("disk full");
                              }),
                       "disk full", Error);
  CHECK(!fs::exists(run + "/step-000003"));
  CHECK(read_file(run + "/latest") == "step-000002\n");
  CHECK(fs::exists(run + "/step-000001"));  // rotation did not run either
  w.save(4, good);
  CHECK(!fs::exists(run + "/step-000001"));  // the two newest stay
  CHECK(fs::exists(run + "/step-000002"));
  CHECK(fs::exists(run + "/step-000004"));
  CHECK_THROWS_WITH_AS(w.save(4, good), doctest::Contains("step-000004 is the current checkpoint"), Error);
  CHECK(fs::exists(run + "/step-000004/model.safetensors"));
  fs::remove_all(run);
}

TEST_CASE("train: a checkpoint that cannot be written fails cleanly (no partial step directory)") {
  TrainOptions o = tiny_run(temp_dir("blocked"));
  o.steps = 4;
  o.ckpt_every = 2;
  // A non-empty directory where step 4's trainer_state.json goes: the rename onto it fails after the model files.
  make_dirs(o.out + "/step-000004/trainer_state.json/in-the-way");
  CHECK_THROWS_WITH_AS(train(o), doctest::Contains("trainer_state.json"), Error);
  CHECK(!fs::exists(o.out + "/step-000004"));
  CHECK(read_file(o.out + "/latest") == "step-000002\n");
  CHECK(fs::exists(o.out + "/step-000002/trainer_state.json"));
  fs::remove_all(o.out);
}

TEST_CASE("train: errors count steps from 1, as the log does") {
  TrainOptions o = tiny_run(temp_dir("inf"));
  o.lr = 1e30;    // the first update throws every weight (t' among them) far out:
  o.warmup = 0;   // step 1's loss is finite, step 2's is not
  const std::string message = train_error(o);
  INFO(message);
  CHECK(message.starts_with("train: loss became "));
  CHECK(message.find(" at step 2; the step was not applied") != std::string::npos);
  fs::remove_all(o.out);
}

TEST_CASE("train: --detect-anomaly names the op that first made a NaN or Inf; the checkpoint before stays") {
  TrainOptions o = tiny_run(temp_dir("anomaly"));
  o.lr = 1e30;  // as above: step 2 goes non-finite
  o.warmup = 0;
  o.ckpt_every = 1;
  o.detect_anomaly = true;
  const std::string message = train_error(o);
  INFO(message);
  CHECK(message.starts_with("anomaly: the "));
  CHECK(message.find("recorded by this process") != std::string::npos);
  CHECK_FALSE(anomaly_detection_enabled());  // the run's guard is gone with it
  CHECK(read_file(o.out + "/latest") == "step-000001\n");
  fs::remove_all(o.out);
}

TEST_CASE("train: --init-temp whose exp overflows float32 is named as such before any step") {
  TrainOptions o = tiny_run(temp_dir("temp"));
  o.init_temp = 100;  // exp(100) = 2.7e43 > FLT_MAX
  CHECK_THROWS_WITH_AS(train(o), doctest::Contains("--init-temp 100: the temperature t = exp(100) overflows float32"),
                       Error);
  o.init_temp = 10.0;  // t = exp(10) = 22026: large, but the run starts and trains
  o.steps = 1;
  CHECK_NOTHROW(train(o));
  fs::remove_all(o.out);
}

TEST_CASE("train: resume takes the saved options, --steps, and this process's --threads and --profile") {
  TrainerState saved;
  saved.options.lr = 0.5;
  saved.options.steps = 10;
  saved.options.out = "elsewhere";
  saved.options.threads = 4;
  TrainOptions given;
  given.resume = "runs/a";
  given.lr = 0.1;  // ignored: the run continues with its own
  given.steps = 0;
  given.threads = 1;
  given.profile = true;
  TrainOptions m = merge_resumed_options(given, saved);
  CHECK(m.lr == 0.5);
  CHECK(m.steps == 10);
  CHECK(m.out == "runs/a");
  CHECK(m.threads == 1);
  CHECK(m.profile);
  given.steps = 20;
  CHECK(merge_resumed_options(given, saved).steps == 20);

  TrainOptions o = tiny_run(temp_dir("resume_early"));
  o.steps = 3;
  train(o);
  TrainOptions cont;
  cont.resume = o.out;
  cont.steps = 2;
  CHECK_THROWS_WITH_AS(train(cont), "train: --steps 2 is before the checkpoint's step 3", Error);
  cont.steps = 3;  // nothing left to do: the checkpoint stays as it is
  train(cont);
  CHECK(read_file(o.out + "/latest") == "step-000003\n");
  fs::remove_all(o.out);
}
