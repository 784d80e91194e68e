// position_interpolation.h: the vision tower's learned position table at another image size, as transformers'
// SiglipVisionEmbeddings.interpolate_pos_encoding computes it: the [g*g, D] table seen as a g x g grid of
// D-vectors, resized to the new grid by bicubic interpolation (torch.nn.functional.interpolate, mode "bicubic",
// align_corners False: a = -0.75, half-pixel centres, borders repeated), then flattened row by row again.
// A model imported at 224 px and run at 256 px (patch 16) goes from a 14 x 14 to a 16 x 16 table; fine-tuning
// trains and saves the table at the new size.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "siglip/config.h"
#include "tensor/tensor.h"

namespace sg {

// table: [g*g, D] with g*g a square -> [new_grid*new_grid, D] (f32 on the CPU, no gradient).
Tensor interpolate_position_table(const Tensor& table, int64_t new_grid);

// When `tensors` (a checkpoint's, by HF name) hold a vision position table of another grid than `cfg`'s
// (image_size / patch_size), replaces it with the interpolated table and returns a line saying so; else "".
// A table that is not a square grid is an error naming `source`.
std::string fit_position_table(std::map<std::string, Tensor>& tensors, const VisionConfig& cfg,
                               const std::string& source);

}  // namespace sg
