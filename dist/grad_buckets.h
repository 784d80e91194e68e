// grad_buckets.h: data-parallel gradients. The trained parameters are packed into buckets of about
// `bucket_bytes` (in reverse order of registration: the last layers' gradients are ready first in backward), and
// each bucket's all-reduce (a sum over ranks) starts as soon as every one of its parameters has received all of its
// gradient contributions during backward, so that communication overlaps the rest of the backward pass.
//
//   GradientBuckets buckets(comm, params);
//   buckets.arm(loss);     // before backward: a post-hook on every node that takes a parameter
//   loss.backward();       // the hooks add each contribution into its bucket; a full bucket starts its all-reduce
//   buckets.finish();      // waits for the all-reduces; every parameter's grad() becomes the sum over ranks
//
// The buckets start from the gradients the parameters already hold when armed (zero where none), so that what
// earlier backward passes of the same step left there (the first micro-batches of --accum-steps) is summed too:
// arm the last backward of a step only. Where no backward is left to run, reduce_held() sums the held gradients.
//
// A parameter is complete when the nodes that take it have all run (counted over the graph before backward).
// Buckets start in bucket order on every rank (a bucket ready early waits for the ones before it), so the
// collectives match across ranks. Open MPI moves a non-blocking all-reduce forward only inside MPI calls: each hook
// polls the buckets in flight. Parameters that the graph does not reach contribute zeros.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "dist/communicator.h"

namespace sg::dist {

class GradientBuckets {
 public:
  // params: leaves of one dtype (float32 or float64) and device, each requiring grad.
  GradientBuckets(Communicator& comm, std::vector<Tensor*> params, size_t bucket_bytes = size_t{4} << 20);
  void arm(const Tensor& loss);
  void reduce_held();  // instead of arm and a backward: starts the all-reduce of the gradients held now
  void finish();
  size_t buckets() const { return buckets_.size(); }
  uint64_t bytes_sent_last_step() const { return bytes_last_; }  // by this step's all-reduces (not the loss's)

 private:
  struct Slot {
    Tensor* param;
    size_t bucket;
    int64_t offset;        // in the bucket's buffer, in elements
    int pending = 0;       // contributions still to come this step
  };
  struct Bucket {
    Tensor buffer;         // [elements] the bucket's parameters' gradients, flat
    size_t left = 0;       // parameters not yet complete
    std::unique_ptr<PendingReduce> reduce;
  };
  void begin_step();  // buffers hold the parameters' current gradients (zeros where none), nothing launched
  void add(size_t slot, const Tensor& grad);
  void complete(size_t slot);
  void launch_ready();  // starts the next buckets in order while they are complete; polls those in flight

  Communicator& comm_;
  std::vector<Slot> slots_;
  std::vector<Bucket> buckets_;
  size_t next_launch_ = 0;
  uint64_t bytes_last_ = 0;
};

// FNV-1a over the bytes of the tensors' values (copied to the host), in order: equal on two ranks exactly when the
// parameters are bitwise equal (up to hash collisions).
uint64_t hash_values(const std::vector<Tensor*>& tensors);

}  // namespace sg::dist
