// batch_source.h: what the trainer takes its batches from: the in-memory BatchLoader (siglip/loader.h) or the
// streaming ShardLoader (siglip/shard_loader.h). A Position says where the next batch starts; seek() to a saved
// position makes a resumed run take exactly the batches an uninterrupted run would have taken.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace sg {

struct Batch {
  Tensor images;              // [B, C, H, W] float32, CPU
  Tensor ids;                 // [B, T] int64, CPU
  std::vector<int> labels;    // label set 0 per example (-1 unknown, or no label sets)
  std::vector<std::string> captions;
  // images holds rows [image_row0, image_row0 + images.size(0)) of the batch: all of them, or a data-parallel rank's
  // share when the loader decodes only that (ShardLoaderOptions::image_rows); ids, labels and captions are whole.
  int64_t image_row0 = 0;
};

class BatchSource {
 public:
  // epoch, and where in it: a batch index (BatchLoader) or a sample offset in the epoch's stream (ShardLoader).
  struct Position {
    uint64_t epoch = 0;
    uint64_t index = 0;
    bool operator==(const Position&) const = default;
  };

  virtual ~BatchSource() = default;
  virtual Batch next() = 0;                 // blocks until the next batch is ready
  virtual Position position() const = 0;    // the position of the batch the next call to next() returns
  virtual void seek(Position p) = 0;        // restart at p
  // Samples left out as bad so far (--on-bad-sample skip); 0 for sources that have none.
  virtual uint64_t bad_samples() const { return 0; }
};

}  // namespace sg
