// train.h: `siglip train` as a function (the loop itself: siglip/trainer.h; its options: siglip/train_options.h).
#pragma once
#include "siglip/train_options.h"

namespace sg {

// Runs training; returns the final loss. Throws sg::Error on bad input (nothing saved is damaged).
double train(const TrainOptions& opt);

}  // namespace sg
