// loader.h: training batches, prepared by a background thread while the model trains.
//
// The batch sequence is a pure function of (examples, seed, batch_size): epoch e visits the examples in the
// order of a Fisher-Yates shuffle seeded by (seed, e); batch i of epoch e holds shuffled positions
// [i * B, (i + 1) * B); the last partial batch of an epoch is dropped, and epochs roll over forever.
// position()/seek() make a resumed run produce exactly the batches an uninterrupted run would have.
// With `augment` enabled, each example's stored image is cropped (siglip/augment.h: the box seeded by (seed, epoch,
// shuffled position i * B + k)) and resized back to [channels, height, width] bilinearly.
//
// Lifetime: the loader keeps a reference to `examples` (no copy), so that vector must outlive the loader
// and must not be modified while the loader exists. The tokenizer is copied.
// Thread safety: next(), position() and seek() may be called from any thread; the worker thread hands
// batches over through a bounded queue (mutex + condition variables) holding at most `prefetch` batches.
// An exception thrown while preparing a batch is rethrown by next().
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "siglip/augment.h"
#include "siglip/batch_source.h"
#include "siglip/data.h"
#include "siglip/tokenizer.h"
#include "tensor/tensor.h"

namespace sg {

// Position::index is the batch index within the epoch.
class BatchLoader : public BatchSource {
 public:

  // Throws sg::Error when batch_size < 1 or > examples.size(), text_len < 1, or an example's image does not
  // have channels * height * width values.
  BatchLoader(const std::vector<Example>& examples, const Tokenizer& tok, int batch_size, int text_len, int channels,
              int height, int width, uint64_t seed, int prefetch = 2, const CropAugment& augment = {});
  ~BatchLoader() override;  // stops and joins the worker
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  Batch next() override;               // blocks until the next batch is ready
  Position position() const override;  // the position of the batch the next call to next() returns
  void seek(Position p) override;       // restart at p (index >= batches_per_epoch() rolls over into later epochs)

  uint64_t batches_per_epoch() const { return batches_per_epoch_; }
  // The permutation of example indices used for `epoch` (what the worker uses; exposed for tests/tools).
  std::vector<uint32_t> epoch_order(uint64_t epoch) const;

 private:
  struct Item {
    Position pos;
    Batch batch;
  };
  void start(Position p);  // launches the worker at p; the caller holds no lock and no worker is running
  void stop();             // stops and joins the worker, drops queued batches
  void run(Position p, uint64_t generation);
  Batch make_batch(const std::vector<uint32_t>& order, Position p) const;
  Position normalise(Position p) const;

  const std::vector<Example>& examples_;
  Tokenizer tok_;
  int batch_size_, text_len_, channels_, height_, width_;
  uint64_t seed_;
  size_t prefetch_;
  CropAugment augment_;
  uint64_t batches_per_epoch_;

  mutable std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<Item> queue_;
  Position consumer_pos_;
  bool stopping_ = false;
  uint64_t generation_ = 0;
  std::exception_ptr error_;
  std::mutex control_mu_;  // serialises seek() / destruction
  std::thread worker_;
};

}  // namespace sg
