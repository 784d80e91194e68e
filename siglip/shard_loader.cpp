// shard_loader.cpp: the streaming shard loader (see shard_loader.h).
#include "siglip/shard_loader.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "base/error.h"

namespace sg {
namespace {

uint64_t stream_seed(uint64_t seed, uint64_t epoch, uint64_t stream) {
  return splitmix64(splitmix64(splitmix64(seed) ^ splitmix64(epoch + 0x2545f4914f6cdd1dull)) ^ (stream * 0x9e3779b97f4a7c15ull));
}

std::vector<uint32_t> shard_order(size_t shards, uint64_t seed, uint64_t epoch) {
  std::vector<uint32_t> order(shards);
  std::iota(order.begin(), order.end(), 0u);
  Generator g(stream_seed(seed, epoch, 1));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[static_cast<size_t>(g.next_u64() % i)]);
  return order;
}

// webdataset's shuffle buffer: once `size` items are held, each new one sends a uniformly drawn held item out.
template <class T>
class ShuffleBuffer {
 public:
  ShuffleBuffer(uint64_t size, uint64_t seed) : size_(std::max<uint64_t>(size, 1)), g_(seed) {}
  template <class Emit>
  void push(T item, Emit&& emit) {
    held_.push_back(std::move(item));
    if (held_.size() >= size_) pop_one(emit);
  }
  template <class Emit>
  void drain(Emit&& emit) {
    while (!held_.empty()) pop_one(emit);
  }

 private:
  template <class Emit>
  void pop_one(Emit& emit) {
    const size_t k = static_cast<size_t>(g_.next_u64() % held_.size());
    std::swap(held_[k], held_.back());
    T item = std::move(held_.back());
    held_.pop_back();
    emit(std::move(item));
  }
  uint64_t size_;
  Generator g_;
  std::vector<T> held_;
};

struct StopReading {};  // thrown through the reader when the loader stops or seeks

}  // namespace

std::vector<std::pair<uint32_t, uint64_t>> shard_stream_order(const std::vector<uint64_t>& samples_per_shard,
                                                              uint64_t seed, uint64_t epoch, uint64_t shuffle_buffer) {
  std::vector<std::pair<uint32_t, uint64_t>> out;
  ShuffleBuffer<std::pair<uint32_t, uint64_t>> buf(shuffle_buffer, stream_seed(seed, epoch, 2));
  auto emit = [&](std::pair<uint32_t, uint64_t> x) { out.push_back(x); };
  for (uint32_t s : shard_order(samples_per_shard.size(), seed, epoch))
    for (uint64_t i = 0; i < samples_per_shard[s]; ++i) buf.push({s, i}, emit);
  buf.drain(emit);
  return out;
}

ShardLoader::ShardLoader(ShardScan scan, ShardLabels labels, const Tokenizer& tok, ImageProcessor processor,
                         const ShardLoaderOptions& options)
    : scan_(std::move(scan)), labels_(std::move(labels)), tok_(tok), processor_(std::move(processor)), o_(options) {
  SG_CHECK(scan_.samples.size() == scan_.shards.size(), "loader: the scan has {} counts for {} shards",
           scan_.samples.size(), scan_.shards.size());
  check_options();
  start(Position{});
}

ShardLoader::ShardLoader(std::vector<ShardSample> records, ShardLabels labels, const Tokenizer& tok,
                         ImageProcessor processor, const ShardLoaderOptions& options, uint64_t bad_before)
    : records_(std::move(records)), labels_(std::move(labels)), tok_(tok), processor_(std::move(processor)),
      o_(options) {
  SG_CHECK(!records_.empty(), "loader: no training records");
  scan_.shards = {records_.front().shard};
  scan_.samples = {records_.size()};
  scan_.total = records_.size();
  scan_.bad = bad_before;
  check_options();
  start(Position{});
}

void ShardLoader::check_options() {
  SG_CHECK(o_.batch_size >= 1, "loader: batch_size must be >= 1 (got {})", o_.batch_size);
  SG_CHECK(static_cast<uint64_t>(o_.batch_size) <= scan_.total,
           "loader: batch_size {} exceeds the {} usable samples of {}", o_.batch_size, scan_.total,
           records_.empty() ? fmt::format("the {} shards", scan_.shards.size()) : scan_.shards.front());
  SG_CHECK(o_.text_len >= 1, "loader: text_len must be >= 1 (got {})", o_.text_len);
  SG_CHECK(o_.channels == 1 || o_.channels == 3, "loader: channels must be 1 or 3 (got {})", o_.channels);
  SG_CHECK(o_.image_size >= 1, "loader: image_size must be positive (got {})", o_.image_size);
  SG_CHECK(o_.workers >= 1 && o_.workers <= 256, "loader: --workers must lie in [1, 256] (got {})", o_.workers);
  SG_CHECK(!o_.augment.enabled || (o_.augment.area_min > 0 && o_.augment.area_min <= o_.augment.area_max &&
                                   o_.augment.area_max <= 1),
           "loader: the crop's area fractions must satisfy 0 < min <= max <= 1 (got {} and {})", o_.augment.area_min,
           o_.augment.area_max);
  if (o_.image_rows >= 0) {
    SG_CHECK(!o_.skip_bad, "loader: decoding a share of each batch needs --on-bad-sample fail (a skipped sample would "
             "shift the batches differently on each rank)");
    SG_CHECK(o_.image_rows_begin >= 0 && o_.image_rows >= 1 && o_.image_rows_begin + o_.image_rows <= o_.batch_size,
             "loader: rows [{}, {}) are not inside a batch of {}", o_.image_rows_begin,
             o_.image_rows_begin + o_.image_rows, o_.batch_size);
  }
  capacity_ = static_cast<uint64_t>(std::max(o_.prefetch, 1)) * static_cast<uint64_t>(o_.batch_size) +
              static_cast<uint64_t>(o_.workers);
}

ShardLoader::~ShardLoader() {
  std::lock_guard<std::mutex> control(control_mu_);
  stop();
}

bool ShardLoader::push(Job job, uint64_t generation) {
  std::unique_lock<std::mutex> lock(mu_);
  room_.wait(lock, [&] { return next_ticket_ - consumer_ticket_ < capacity_ || stopping_ || generation_ != generation; });
  if (stopping_ || generation_ != generation) return false;
  job.ticket = next_ticket_++;
  if (job.kind == Kind::Sample) {
    jobs_.push_back(std::move(job));
    jobs_ready_.notify_one();
  } else {
    done_[job.ticket] = Result{job.kind, job.epoch, job.offset, {}, {}, {}, -1};
    results_ready_.notify_all();
  }
  return true;
}

void ShardLoader::publish(uint64_t ticket, Result r) {
  std::lock_guard<std::mutex> lock(mu_);
  done_[ticket] = std::move(r);
  results_ready_.notify_all();
}

void ShardLoader::read_shards(uint64_t epoch, const std::function<void(ShardSample)>& emit) {
  ShuffleBuffer<ShardSample> buf(o_.shuffle_buffer, stream_seed(o_.seed, epoch, 2));
  for (uint32_t shard : shard_order(scan_.shards.size(), o_.seed, epoch)) {
    const std::string& path = scan_.shards[shard];
    uint64_t usable = 0;
    try {
      ShardReader reader(path);
      ShardSample s;
      while (reader.next(s)) {
        if (!s.problem.empty()) continue;  // the scan reported it (or failed on it)
        ++usable;
        buf.push(std::move(s), emit);
      }
    } catch (const Error&) {
      if (!o_.skip_bad) throw;  // the scan counted the damaged shard as bad; its samples before the damage stay
    }
    SG_CHECK(usable == scan_.samples[shard], "data: {}: has {} usable samples now, {} when it was scanned (did the "
             "shard change during the run?)", path, usable, scan_.samples[shard]);
  }
  buf.drain(emit);
}

void ShardLoader::read_records(uint64_t epoch, const std::function<void(ShardSample)>& emit) {
  for (uint32_t i : shard_order(records_.size(), o_.seed, epoch)) emit(records_[i]);
}

void ShardLoader::read_stream(Position from, uint64_t generation) {
  try {
    for (uint64_t epoch = from.epoch, skip = from.index;; ++epoch, skip = 0) {
      uint64_t offset = 0;
      auto emit = [&](ShardSample s) {
        if (offset >= skip) {
          Job job;
          job.epoch = epoch;
          job.offset = offset;
          job.sample = std::move(s);
          if (!push(std::move(job), generation)) throw StopReading{};
        }
        ++offset;
      };
      if (records_.empty()) read_shards(epoch, emit);
      else read_records(epoch, emit);
      Job end;
      end.kind = Kind::EpochEnd;
      end.epoch = epoch;
      end.offset = offset;
      if (!push(std::move(end), generation)) return;
    }
  } catch (const StopReading&) {
    return;
  } catch (const std::exception& e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ || generation_ != generation) return;
    done_[next_ticket_++] = Result{Kind::Fatal, 0, 0, {}, {}, e.what(), -1};
    results_ready_.notify_all();
  }
}

void ShardLoader::decode_jobs(uint64_t generation) {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      jobs_ready_.wait(lock, [&] { return !jobs_.empty() || stopping_ || generation_ != generation; });
      if (stopping_ || generation_ != generation) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    Result r{Kind::Sample, job.epoch, job.offset, {}, {}, {}, -1};
    SamplePrep prep;
    if (o_.scaled_decode) prep.decode.min_width = prep.decode.min_height = o_.image_size;
    prep.crop = &o_.augment;
    prep.crop_seed = crop_seed(o_.seed, job.epoch, job.offset);
    const uint64_t row = job.offset % static_cast<uint64_t>(o_.batch_size);  // a batch starts at a multiple of B
    const bool decode = o_.image_rows < 0 || (row >= static_cast<uint64_t>(o_.image_rows_begin) &&
                                              row < static_cast<uint64_t>(o_.image_rows_begin + o_.image_rows));
    try {
      if (decode) r.error = decode_sample8(job.sample, processor_, o_.channels, o_.image_size, prep, r.image);
    } catch (const std::exception& e) {
      r.error = fmt::format("data: {}: '{}': {}", job.sample.where(), job.sample.image_member, e.what());
    }
    r.caption = std::move(job.sample.caption);
    r.label = labels_.of(job.sample);
    publish(job.ticket, std::move(r));
  }
}

void ShardLoader::start(Position p) {
  uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
    jobs_.clear();
    done_.clear();
    next_ticket_ = consumer_ticket_ = 0;
    pos_ = p;
    gen = ++generation_;
  }
  reader_ = std::thread(&ShardLoader::read_stream, this, p, gen);
  for (int i = 0; i < o_.workers; ++i) workers_.emplace_back(&ShardLoader::decode_jobs, this, gen);
}

void ShardLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    ++generation_;
  }
  room_.notify_all();
  jobs_ready_.notify_all();
  results_ready_.notify_all();
  if (reader_.joinable()) reader_.join();
  for (std::thread& w : workers_) w.join();
  workers_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  jobs_.clear();
  done_.clear();
}

Batch ShardLoader::next() {
  const size_t B = static_cast<size_t>(o_.batch_size);
  std::vector<Result> good;
  good.reserve(B);
  {
    std::unique_lock<std::mutex> lock(mu_);
    while (good.size() < B) {
      results_ready_.wait(lock, [&] { return done_.count(consumer_ticket_) > 0; });
      auto it = done_.find(consumer_ticket_);
      Result r = std::move(it->second);
      done_.erase(it);
      ++consumer_ticket_;
      room_.notify_all();
      if (r.kind == Kind::Fatal) fail("{}", r.error);
      if (r.kind == Kind::EpochEnd) {  // the partial batch is dropped
        good.clear();
        pos_ = Position{r.epoch + 1, 0};
        continue;
      }
      pos_ = Position{r.epoch, r.offset + 1};
      if (!r.error.empty()) {
        SG_CHECK(o_.skip_bad, "{} (--on-bad-sample skip leaves such samples out)", r.error);
        if (scan_.bad + streamed_bad_ < 10) fmt::print(stderr, "data: skipped a bad sample: {}\n", r.error);
        ++streamed_bad_;
        continue;
      }
      good.push_back(std::move(r));
    }
  }
  const int64_t T = o_.text_len, n = static_cast<int64_t>(B);
  const size_t numel = static_cast<size_t>(o_.channels) * o_.image_size * o_.image_size;
  const int64_t row0 = o_.image_rows < 0 ? 0 : o_.image_rows_begin, rows = o_.image_rows < 0 ? n : o_.image_rows;
  SG_CHECK(o_.image_rows < 0 || good.front().offset % B == 0, "loader: a batch starts at offset {} of the epoch's "
           "stream, not at a multiple of the batch {}: the ranks' shares would not line up", good.front().offset, B);
  Batch b;
  b.images = Tensor::empty({rows, o_.channels, o_.image_size, o_.image_size}, DType::F32);
  b.image_row0 = row0;
  b.ids = Tensor::empty({n, T}, DType::I64);
  b.labels.resize(B);
  b.captions.resize(B);
  float* img = b.images.data<float>();
  int64_t* ids = b.ids.data<int64_t>();
  for (size_t k = 0; k < B; ++k) {
    const int64_t r = static_cast<int64_t>(k) - row0;
    if (r >= 0 && r < rows) processor_.to_pixels(good[k].image, img + r * numel);  // rescale, normalise: [C, S, S]
    const std::vector<int64_t> t = tok_.encode(good[k].caption, o_.text_len);
    std::memcpy(ids + static_cast<int64_t>(k) * T, t.data(), static_cast<size_t>(T) * sizeof(int64_t));
    b.labels[k] = good[k].label;
    b.captions[k] = std::move(good[k].caption);
  }
  return b;
}

BatchSource::Position ShardLoader::position() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pos_;
}

void ShardLoader::seek(Position p) {
  std::lock_guard<std::mutex> control(control_mu_);
  stop();
  start(p);
}

uint64_t ShardLoader::bad_samples() const {
  std::lock_guard<std::mutex> lock(mu_);
  return scan_.bad + streamed_bad_;
}

}  // namespace sg
