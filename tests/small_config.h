// small_config.h: the small model shapes the tests build: one layer per tower, square images in patches of 4.
#pragma once
#include "siglip/config.h"

struct SmallShape {
  int64_t width = 32;          // both towers' hidden size (and the text head's output)
  int64_t mlp = 48;            // both towers' intermediate size
  int64_t layers = 1;          // per tower
  int64_t heads = 2;
  int64_t image_size = 16;     // patch 4
  int64_t vocab = 50;
  int64_t text_len = 12;
};

inline sg::SiglipConfig small_config(const SmallShape& s = {}) {
  sg::SiglipConfig c;
  c.vision.hidden_size = c.text.hidden_size = c.text.projection_size = s.width;
  c.vision.intermediate_size = c.text.intermediate_size = s.mlp;
  c.vision.num_hidden_layers = c.text.num_hidden_layers = s.layers;
  c.vision.num_attention_heads = c.text.num_attention_heads = s.heads;
  c.vision.image_size = s.image_size;
  c.vision.patch_size = 4;
  c.text.vocab_size = s.vocab;
  c.text.max_position_embeddings = s.text_len;
  return c;
}
