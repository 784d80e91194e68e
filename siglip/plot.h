// plot.h: a training-curve PNG with no plotting library: loss on top, temperature t and bias b below.
#pragma once
#include <string>
#include <vector>

namespace sg {

// Writes a 900x600 PNG (atomically) with two panels sharing the step axis: the loss curve (top), and t and b
// (bottom, orange and green, one y-range for the panel). Each panel has its own y-range, axes, tick marks,
// grid lines and labels in a built-in 5x7 bitmap font, plus the last value of each series.
// Non-finite values (NaN, inf) are skipped and break the line; a series longer or shorter than `steps` is
// cut to the common length; empty input gives empty panels. Throws sg::Error when the file cannot be written.
void write_training_plot(const std::string& png_path, const std::vector<double>& steps,
                         const std::vector<double>& loss, const std::vector<double>& temperature,
                         const std::vector<double>& bias);

}  // namespace sg
