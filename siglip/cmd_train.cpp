// cmd_train.cpp: `siglip train [options]` (see `siglip help`).
#include "siglip/args.h"
#include "siglip/commands.h"
#include "siglip/train.h"

namespace sg {

int cmd_train(int argc, char** argv) {
  Args a("train", argc, argv, 2,
         {"data", "config", "steps", "batch", "lr", "warmup", "weight-decay", "beta2", "clip", "loss", "positives",
          "init-bias", "init-temp", "device", "seed", "out", "resume", "lock-image", "log-every", "ckpt-every",
          "eval-limit", "image-size", "channels", "threads", "precision", "vocab"},
         {"no-eval", "profile"});
  SG_CHECK(a.positional().empty(), "train: unexpected argument '{}'", a.positional().empty() ? "" : a.positional()[0]);
  TrainOptions o;
  o.resume = a.get("resume", "");
  o.data = a.get("data", o.data);
  o.config = a.get("config", o.config);
  o.steps = a.get_int("steps", o.resume.empty() ? o.steps : 0);
  o.batch = a.get_int("batch", o.batch);
  o.lr = a.get_double("lr", o.lr);
  o.warmup = a.get_int("warmup", o.warmup);
  o.weight_decay = a.get_double("weight-decay", o.weight_decay);
  o.beta2 = a.get_double("beta2", o.beta2);
  o.clip = a.get_double("clip", o.clip);
  o.loss = a.get("loss", o.loss);
  o.positives = a.get("positives", o.positives);
  o.init_bias = a.get("init-bias", o.init_bias);
  if (o.init_bias != "auto") (void)a.get_double("init-bias", 0);  // validates the number
  o.init_temp = a.get_double("init-temp", o.init_temp);
  o.device = a.get("device", o.device);
  o.seed = static_cast<uint64_t>(a.get_int("seed", 0));
  o.out = a.get("out", o.out);
  o.lock_image = a.get("lock-image", "");
  o.log_every = std::max<int64_t>(1, a.get_int("log-every", o.log_every));
  o.ckpt_every = a.get_int("ckpt-every", o.ckpt_every);
  o.eval_limit = a.get_int("eval-limit", 0);
  o.image_size = static_cast<int>(a.get_int("image-size", 0));
  o.channels = static_cast<int>(a.get_int("channels", 0));
  o.eval = !a.has("no-eval");
  o.precision = a.get("precision", o.precision);
  o.vocab = a.get_int("vocab", 0);
  o.profile = a.has("profile");
  train(o);
  return 0;
}

}  // namespace sg
