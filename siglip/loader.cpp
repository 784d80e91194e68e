// loader.cpp: the background batch loader (see loader.h).
#include "siglip/loader.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "base/error.h"

namespace sg {

BatchLoader::BatchLoader(const std::vector<Example>& examples, const Tokenizer& tok, int batch_size, int text_len,
                         int channels, int height, int width, uint64_t seed, int prefetch, const CropAugment& augment)
    : examples_(examples),
      tok_(tok),
      batch_size_(batch_size),
      text_len_(text_len),
      channels_(channels),
      height_(height),
      width_(width),
      seed_(seed),
      prefetch_(static_cast<size_t>(std::max(prefetch, 1))),
      augment_(augment) {
  SG_CHECK(batch_size >= 1, "loader: batch_size must be >= 1 (got {})", batch_size);
  SG_CHECK(static_cast<size_t>(batch_size) <= examples.size(),
           "loader: batch_size {} exceeds the {} examples (the last partial batch of an epoch is dropped, so no batch "
           "could be made)",
           batch_size, examples.size());
  SG_CHECK(examples.size() < (uint64_t(1) << 32), "loader: too many examples ({})", examples.size());
  SG_CHECK(text_len >= 1, "loader: text_len must be >= 1 (got {})", text_len);
  SG_CHECK(channels >= 1 && height >= 1 && width >= 1, "loader: bad image shape [{}, {}, {}]", channels, height, width);
  const size_t numel = static_cast<size_t>(channels) * height * width;
  for (size_t i = 0; i < examples.size(); ++i)
    SG_CHECK(examples[i].image.size() == numel, "loader: example {} has {} image values, expected {} ([{}, {}, {}])", i,
             examples[i].image.size(), numel, channels, height, width);
  batches_per_epoch_ = examples.size() / static_cast<size_t>(batch_size);
  start(Position{});
}

BatchLoader::~BatchLoader() {
  std::lock_guard<std::mutex> control(control_mu_);
  stop();
}

std::vector<uint32_t> BatchLoader::epoch_order(uint64_t epoch) const {
  std::vector<uint32_t> order(examples_.size());
  std::iota(order.begin(), order.end(), 0u);
  Generator g(splitmix64(splitmix64(seed_) ^ splitmix64(epoch + 0x5851f42d4c957f2dull)));
  for (size_t i = order.size(); i > 1; --i) {  // Fisher-Yates
    size_t j = static_cast<size_t>(g.next_u64() % i);
    std::swap(order[i - 1], order[j]);
  }
  return order;
}

BatchLoader::Position BatchLoader::normalise(Position p) const {
  p.epoch += p.index / batches_per_epoch_;
  p.index %= batches_per_epoch_;
  return p;
}

Batch BatchLoader::make_batch(const std::vector<uint32_t>& order, Position p) const {
  const int64_t B = batch_size_, T = text_len_;
  const size_t numel = static_cast<size_t>(channels_) * height_ * width_;
  Batch b;
  b.images = Tensor::empty({B, channels_, height_, width_}, DType::F32);
  b.ids = Tensor::empty({B, T}, DType::I64);
  b.labels.resize(static_cast<size_t>(B));
  b.captions.resize(static_cast<size_t>(B));
  float* img = b.images.data<float>();
  int64_t* ids = b.ids.data<int64_t>();
  for (int64_t k = 0; k < B; ++k) {
    const uint64_t position = p.index * static_cast<uint64_t>(B) + static_cast<uint64_t>(k);
    const Example& ex = examples_[order[position]];
    if (augment_.enabled) {
      const CropBox box = sample_crop(width_, height_, augment_.area_min, augment_.area_max,
                                      crop_seed(seed_, p.epoch, position));
      const std::vector<float> cropped = crop_resize_chw(ex.image, channels_, height_, width_, box);
      std::memcpy(img + k * numel, cropped.data(), numel * sizeof(float));
    } else {
      std::memcpy(img + k * numel, ex.image.data(), numel * sizeof(float));
    }
    std::vector<int64_t> t = tok_.encode(ex.caption, text_len_);
    std::memcpy(ids + k * T, t.data(), static_cast<size_t>(T) * sizeof(int64_t));
    b.labels[static_cast<size_t>(k)] = ex.labels.empty() ? -1 : ex.labels[0];
    b.captions[static_cast<size_t>(k)] = ex.caption;
  }
  return b;
}

void BatchLoader::run(Position p, uint64_t generation) {
  try {
    std::vector<uint32_t> order = epoch_order(p.epoch);
    uint64_t order_epoch = p.epoch;
    for (;;) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopping_ || generation_ != generation) return;
      }
      if (p.epoch != order_epoch) order = epoch_order(p.epoch), order_epoch = p.epoch;
      Batch b = make_batch(order, p);
      std::unique_lock<std::mutex> lock(mu_);
      not_full_.wait(lock, [&] { return queue_.size() < prefetch_ || stopping_ || generation_ != generation; });
      if (stopping_ || generation_ != generation) return;
      queue_.push_back(Item{p, std::move(b)});
      not_empty_.notify_all();
      lock.unlock();
      if (++p.index == batches_per_epoch_) p.index = 0, ++p.epoch;
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    if (generation_ == generation && !error_) error_ = std::current_exception();
    not_empty_.notify_all();
  }
}

void BatchLoader::start(Position p) {
  p = normalise(p);
  uint64_t gen;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = false;
    error_ = nullptr;
    queue_.clear();
    consumer_pos_ = p;
    gen = ++generation_;
  }
  worker_ = std::thread(&BatchLoader::run, this, p, gen);
}

void BatchLoader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    ++generation_;
    queue_.clear();
  }
  not_full_.notify_all();
  not_empty_.notify_all();
  if (worker_.joinable()) worker_.join();
}

Batch BatchLoader::next() {
  std::unique_lock<std::mutex> lock(mu_);
  not_empty_.wait(lock, [&] { return !queue_.empty() || error_; });
  if (queue_.empty()) std::rethrow_exception(error_);
  Item it = std::move(queue_.front());
  queue_.pop_front();
  consumer_pos_ = normalise(Position{it.pos.epoch, it.pos.index + 1});
  lock.unlock();
  not_full_.notify_all();
  return std::move(it.batch);
}

BatchLoader::Position BatchLoader::position() const {
  std::lock_guard<std::mutex> lock(mu_);
  return consumer_pos_;
}

void BatchLoader::seek(Position p) {
  std::lock_guard<std::mutex> control(control_mu_);
  stop();
  start(p);
}

}  // namespace sg
