// eval.h: zero-shot classification (prompt ensembling over templates) and image<->text retrieval.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "siglip/data.h"
#include "siglip/model.h"
#include "siglip/tokenizer.h"

namespace sg {

struct EvalResult {
  std::map<std::string, double> zero_shot;  // accuracy per label set ("class", "shape", "colour", ...)
  double i2t_r1 = 0, i2t_r5 = 0, t2i_r1 = 0, t2i_r5 = 0;
  int64_t examples = 0;
};

// Embeddings of many images / texts, in batches, without a graph. [N, D], L2-normalised, on the CPU.
Tensor embed_images(SiglipModel& m, const std::vector<const std::vector<float>*>& images, int batch = 256);
Tensor embed_texts(SiglipModel& m, const Tokenizer& tok, const std::vector<std::string>& texts, int batch = 256);

// Zero-shot: each class embedding is the normalised mean of its prompts' embeddings; the prediction is the
// class of highest similarity. Retrieval counts a hit when a retrieved item carries the same caption string
// as the query's pair (class-captioned data repeats captions).
EvalResult evaluate(SiglipModel& m, const Tokenizer& tok, const Dataset& data, size_t limit = 0);

}  // namespace sg
