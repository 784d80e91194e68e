// caption_stream.h: a .tsv / .jsonl caption file (siglip/data.h: load_caption_file's format) as records for the
// streaming loader (siglip/shard_loader.h), which decodes the images per epoch instead of all of them up front.
//
// The records are read whole (a path, a caption and a label each, no pixels) and split as load_caption_file splits:
// with k = round(1 / test_fraction), every k-th record (file order, 1-based) is a test record, never trained on.
// Labels: label set 0 "label" holds the sorted distinct labels, as load_caption_file's.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "siglip/webdataset.h"

namespace sg {

struct CaptionStream {
  std::vector<ShardSample> train, test;  // shard = the file, line, key = image_member = the image as written,
                                         // image_path = the file to decode, caption, label
  ShardLabels labels;
  uint64_t bad = 0;                  // malformed lines left out (skip_bad)
  std::vector<std::string> bad_log;  // the first ten, with file:line and reason
};

// skip_bad = false: a malformed line throws sg::Error naming file:line; true: it is left out and counted.
CaptionStream read_caption_stream(const std::string& path, double test_fraction, bool skip_bad);

// The records' images decoded at full size and prepared with `processor` into memory (the test split). A record
// whose image does not decode throws sg::Error naming file:line and the image, or (skip_bad) is left out and counted
// in `bad`.
std::vector<Example> load_record_examples(const std::vector<ShardSample>& records, const ShardLabels& labels,
                                          const ImageProcessor& processor, int channels, int image_size, bool skip_bad,
                                          uint64_t* bad = nullptr);

}  // namespace sg
