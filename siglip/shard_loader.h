// shard_loader.h: training batches streamed from WebDataset shards (siglip/webdataset.h) with memory that does not
// grow with the data set.
//
// The sample stream of epoch e, as webdataset makes it: the shards in the order of a Fisher-Yates shuffle seeded by
// (seed, e), their usable samples read in file order into a shuffle buffer of `shuffle_buffer` samples; once the
// buffer is full, each new sample swaps a uniformly drawn slot (seeded by (seed, e)) out to the stream; at the end
// of the epoch the buffer drains the same way. Batches take B consecutive good samples of the stream; the last
// partial batch of an epoch is dropped, and epochs roll over forever. The stream depends on the seed, the
// per-shard sample counts and the buffer size only: not on the number of workers.
//
// Caption files (.tsv / .jsonl) stream the same way from their records (read whole: a path, a caption and a label
// each, no pixels): epoch e visits the records in the order of a Fisher-Yates shuffle seeded by (seed, e), and the
// workers read and decode each image when its turn comes.
//
// Threads: one reader walks the shards and keeps the shuffle buffer (samples still encoded); `workers` threads
// decode and prepare images to 8-bit images of the model's size (ImageProcessor::prepare8: [crop,] resize); next()
// takes the results back in stream order and rescales and normalises them into the batch (ImageProcessor::to_pixels).
// At most prefetch * B + workers samples are read ahead of next(), so the memory is the shuffle buffer's encoded
// samples plus that many 8-bit images.
// Augmentation (augment.enabled): each sample's crop box is seeded by (seed, epoch, offset in the stream) and cut
// from the decoded image before the resize. Scaled decoding (scaled_decode): JPEGs are decoded at libjpeg's smallest
// scale (1/2, 1/4, 1/8) whose image still covers image_size x image_size (DecodeOptions), close to but not equal to
// a full-size decode.
//
// Position: (epoch, offset of the next sample in the epoch's stream). seek() replays the epoch's stream to the offset
// without decoding what it passes over, so a resumed run takes the batches an uninterrupted run takes.
// Bad samples: a sample whose image does not decode throws sg::Error from next() naming the shard, the key and the
// member (a caption file's: the file, the line and the image); with skip_bad it is left out and counted, and the
// first ten are printed with their location.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "siglip/augment.h"
#include "siglip/batch_source.h"
#include "siglip/image_processor.h"
#include "siglip/tokenizer.h"
#include "siglip/webdataset.h"

namespace sg {

struct ShardLoaderOptions {
  int batch_size = 0, text_len = 0;
  int channels = 3, image_size = 0;
  uint64_t seed = 0;
  int workers = 2;
  uint64_t shuffle_buffer = 1000;  // 0 or 1: no shuffling within the stream (the shard order still is)
  int prefetch = 2;               // batches decoded ahead
  bool skip_bad = false;
  CropAugment augment;         // the random resized crop (siglip/augment.h); off by default
  bool scaled_decode = false;  // decode JPEGs at the smallest libjpeg scale still covering image_size
  // The rows of every batch whose images are decoded: [image_rows_begin, image_rows_begin + image_rows); -1: all. A
  // data-parallel rank decodes its share only (Batch::image_row0 says which); captions, ids and labels stay the
  // whole batch's. Needs skip_bad = false: a batch then holds B consecutive samples of the stream, the same on every
  // rank, without decoding the others' (with skip, whether a sample is bad is known only by decoding it).
  int64_t image_rows_begin = 0, image_rows = -1;
};

// The stream order of an epoch as (shard index, sample index in the shard) pairs: what the reader thread produces,
// computed from the counts alone (for tests and tools).
std::vector<std::pair<uint32_t, uint64_t>> shard_stream_order(const std::vector<uint64_t>& samples_per_shard,
                                                              uint64_t seed, uint64_t epoch, uint64_t shuffle_buffer);

class ShardLoader : public BatchSource {
 public:
  // `scan`: the shards and their usable sample counts (scan_shards with the same skip_bad). Throws sg::Error when the
  // batch size exceeds the samples or an option is out of range.
  ShardLoader(ShardScan scan, ShardLabels labels, const Tokenizer& tok, ImageProcessor processor,
              const ShardLoaderOptions& options);
  // A caption file's training records (image_path, caption and line set: read_caption_stream, siglip/caption_stream.h):
  // the images are read from their files by the workers; `bad_before`: bad lines already left out (counted in
  // bad_samples()).
  // Throws sg::Error when there are fewer records than a batch.
  ShardLoader(std::vector<ShardSample> records, ShardLabels labels, const Tokenizer& tok, ImageProcessor processor,
              const ShardLoaderOptions& options, uint64_t bad_before = 0);
  ~ShardLoader() override;
  ShardLoader(const ShardLoader&) = delete;
  ShardLoader& operator=(const ShardLoader&) = delete;

  Batch next() override;
  Position position() const override;
  void seek(Position p) override;
  uint64_t bad_samples() const override;  // the scan's and those met while streaming (each time met)

 private:
  enum class Kind { Sample, EpochEnd, Fatal };
  struct Job {
    uint64_t ticket = 0;
    Kind kind = Kind::Sample;
    uint64_t epoch = 0, offset = 0;
    ShardSample sample;
  };
  struct Result {
    Kind kind = Kind::Sample;
    uint64_t epoch = 0, offset = 0;
    Image8 image;  // prepared: image_size x image_size, `channels` bands
    std::string caption, error;
    int label = -1;
  };

  void check_options();
  void start(Position p);
  void stop();
  void read_shards(uint64_t epoch, const std::function<void(ShardSample)>& emit);
  void read_records(uint64_t epoch, const std::function<void(ShardSample)>& emit);
  void read_stream(Position from, uint64_t generation);  // the reader thread
  void decode_jobs(uint64_t generation);                 // a worker thread
  bool push(Job job, uint64_t generation);                // false when stopping
  void publish(uint64_t ticket, Result r);

  ShardScan scan_;
  std::vector<ShardSample> records_;  // a caption file's records (empty for shards)
  ShardLabels labels_;
  Tokenizer tok_;
  ImageProcessor processor_;
  ShardLoaderOptions o_;
  uint64_t capacity_;

  mutable std::mutex mu_;
  std::condition_variable jobs_ready_, results_ready_, room_;
  std::deque<Job> jobs_;
  std::map<uint64_t, Result> done_;
  uint64_t next_ticket_ = 0, consumer_ticket_ = 0;
  Position pos_;
  bool stopping_ = false;
  uint64_t generation_ = 0;
  uint64_t streamed_bad_ = 0;
  std::mutex control_mu_;  // serialises seek() / destruction
  std::thread reader_;
  std::vector<std::thread> workers_;
};

}  // namespace sg
