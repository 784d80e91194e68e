// caption_stream.cpp: a caption file as streamed records (see caption_stream.h).
#include "siglip/caption_stream.h"

#include <cmath>
#include <set>

#include "base/error.h"

namespace sg {

CaptionStream read_caption_stream(const std::string& path, double test_fraction, bool skip_bad) {
  SG_CHECK(test_fraction >= 0 && test_fraction < 1, "data: {}: test_fraction must lie in [0, 1) (got {})", path,
           test_fraction);
  size_t k = 0;
  if (test_fraction > 0) {
    k = static_cast<size_t>(std::llround(1.0 / test_fraction));
    SG_CHECK(k >= 2, "data: {}: test_fraction {} leaves nothing to train on (use < 0.67)", path, test_fraction);
  }
  std::vector<std::string> bad;
  std::vector<CaptionRecord> records = read_caption_file(path, skip_bad ? &bad : nullptr);
  SG_CHECK(!records.empty(), "data: {}: no examples{}", path,
           bad.empty() ? "" : fmt::format(" ({} malformed lines left out)", bad.size()));
  CaptionStream out;
  out.bad = bad.size();
  for (size_t i = 0; i < bad.size() && i < 10; ++i) out.bad_log.push_back(bad[i]);
  std::set<std::string> names;
  for (size_t i = 0; i < records.size(); ++i) {
    CaptionRecord& r = records[i];
    ShardSample s;
    s.shard = path;
    s.line = r.line;
    s.key = s.image_member = std::move(r.image);
    s.image_path = std::move(r.path);
    s.caption = std::move(r.caption);
    s.label = std::move(r.label);
    s.has_label = r.has_label;
    if (s.has_label) names.insert(s.label);
    (k > 0 && (i + 1) % k == 0 ? out.test : out.train).push_back(std::move(s));
  }
  out.labels.classes.assign(names.begin(), names.end());
  for (size_t i = 0; i < out.labels.classes.size(); ++i) out.labels.index[out.labels.classes[i]] = static_cast<int>(i);
  return out;
}

std::vector<Example> load_record_examples(const std::vector<ShardSample>& records, const ShardLabels& labels,
                                          const ImageProcessor& processor, int channels, int image_size, bool skip_bad,
                                          uint64_t* bad) {
  std::vector<Example> all(records.size());
  std::vector<std::string> errors(records.size());
#pragma omp parallel for schedule(dynamic, 8)
  for (int64_t i = 0; i < static_cast<int64_t>(records.size()); ++i)
    errors[i] = decode_sample(records[i], processor, channels, image_size, all[i].image);
  std::vector<Example> out;
  for (size_t i = 0; i < records.size(); ++i) {
    if (!errors[i].empty()) {
      SG_CHECK(skip_bad, "{} (--on-bad-sample skip leaves such samples out)", errors[i]);
      if (bad) ++*bad;
      continue;
    }
    all[i].caption = records[i].caption;
    if (!labels.classes.empty()) all[i].labels = {labels.of(records[i])};
    out.push_back(std::move(all[i]));
  }
  return out;
}

}  // namespace sg
