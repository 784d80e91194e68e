#include "dist/grad_buckets.h"

#include <unordered_map>

#include "autograd/node.h"
#include "base/error.h"
#include "tensor/ops.h"

namespace sg::dist {

GradientBuckets::GradientBuckets(Communicator& comm, std::vector<Tensor*> params, size_t bucket_bytes) : comm_(comm) {
  SG_CHECK(!params.empty(), "gradient buckets: no parameters to reduce");
  const DType dt = params[0]->dtype();
  const Device dev = params[0]->device();
  SG_CHECK(dt == DType::F32 || dt == DType::F64, "gradient buckets: parameters are {}: float32 or float64",
           dtype_name(dt));
  std::vector<int64_t> sizes;
  for (auto it = params.rbegin(); it != params.rend(); ++it) {  // the last parameters first
    Tensor* p = *it;
    SG_CHECK(p->dtype() == dt && p->device() == dev && p->requires_grad(),
             "gradient buckets: parameter {} must be {} on {} and require grad", p->describe(), dtype_name(dt),
             device_name(dev));
    const size_t bytes = static_cast<size_t>(p->numel()) * dtype_size(dt);
    if (buckets_.empty() || (sizes.back() > 0 && static_cast<size_t>(sizes.back()) * dtype_size(dt) + bytes > bucket_bytes)) {
      buckets_.emplace_back();
      sizes.push_back(0);
    }
    slots_.push_back({p, buckets_.size() - 1, sizes.back()});
    sizes.back() += p->numel();
  }
  for (size_t b = 0; b < buckets_.size(); ++b) buckets_[b].buffer = zeros({sizes[b]}, dt, dev);
}

void GradientBuckets::begin_step() {
  bytes_last_ = 0;
  next_launch_ = 0;
  for (Bucket& b : buckets_) {
    b.buffer.fill_(0);
    b.reduce.reset();
    b.left = 0;
  }
  for (Slot& s : slots_) {
    s.pending = 0;
    buckets_[s.bucket].left++;
    const Tensor held = s.param->grad();
    if (held.defined())
      buckets_[s.bucket].buffer.narrow(0, s.offset, s.param->numel()).copy_(held.reshape({s.param->numel()}));
  }
}

void GradientBuckets::reduce_held() {
  begin_step();
  for (size_t s = 0; s < slots_.size(); ++s) complete(s);
  launch_ready();
}

void GradientBuckets::arm(const Tensor& loss) {
  SG_CHECK(loss.defined() && loss.requires_grad(), "gradient buckets: the loss has no graph to hook");
  begin_step();
  std::unordered_map<const AutogradMeta*, size_t> slot_of;
  for (size_t s = 0; s < slots_.size(); ++s) slot_of[slots_[s].param->impl()->meta.get()] = s;
  visit_graph(loss, [&](Node& n) {
    std::vector<std::pair<size_t, size_t>> taken;  // (input index, slot) of the parameters this node takes
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (!n.inputs[i]) continue;
      auto it = slot_of.find(n.inputs[i].get());
      if (it == slot_of.end()) continue;
      taken.push_back({i, it->second});
      slots_[it->second].pending++;
    }
    if (taken.empty()) return;
    n.register_hook([this, taken](const std::vector<Tensor>& grads, const Tensor&) {
      for (const auto& [input, slot] : taken) {
        if (grads[input].defined()) add(slot, grads[input]);
        if (--slots_[slot].pending == 0) complete(slot);
      }
      launch_ready();
      return std::vector<Tensor>{};
    });
  });
  for (size_t s = 0; s < slots_.size(); ++s)
    if (slots_[s].pending == 0) complete(s);  // not reached by this graph: zeros
  launch_ready();
}

void GradientBuckets::add(size_t slot, const Tensor& grad) {
  const Slot& s = slots_[slot];
  Tensor dst = buckets_[s.bucket].buffer.narrow(0, s.offset, s.param->numel());
  dst.copy_(sg::add(dst, grad.reshape({s.param->numel()})));
}

void GradientBuckets::complete(size_t slot) { buckets_[slots_[slot].bucket].left--; }

void GradientBuckets::launch_ready() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].left == 0) {
    Bucket& b = buckets_[next_launch_++];
    const uint64_t before = comm_.bytes_sent();
    b.reduce = comm_.all_reduce_sum_async(b.buffer);
    bytes_last_ += comm_.bytes_sent() - before;
  }
  for (size_t b = 0; b < next_launch_; ++b) buckets_[b].reduce->test();
}

void GradientBuckets::finish() {
  for (const Slot& s : slots_)
    SG_CHECK(s.pending == 0, "gradient buckets: {} still waits for {} gradient contributions after backward",
             s.param->describe(), s.pending);
  launch_ready();
  SG_CHECK(next_launch_ == buckets_.size(), "gradient buckets: bucket {} of {} never completed", next_launch_,
           buckets_.size());
  for (Bucket& b : buckets_) b.reduce->wait();
  for (const Slot& s : slots_)
    s.param->set_grad(buckets_[s.bucket].buffer.narrow(0, s.offset, s.param->numel()).reshape(s.param->shape()).clone());
}

uint64_t hash_values(const std::vector<Tensor*>& tensors) {
  uint64_t h = 1469598103934665603ull;
  for (const Tensor* t : tensors) {
    const Tensor host = t->detach().contiguous().to(Device::CPU);
    const auto* bytes = static_cast<const unsigned char*>(host.data_ptr());
    const size_t n = static_cast<size_t>(host.numel()) * dtype_size(host.dtype());
    for (size_t i = 0; i < n; ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  }
  return h;
}

}  // namespace sg::dist
