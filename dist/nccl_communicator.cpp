// nccl_communicator.cpp: the Communicator over NCCL for CUDA tensors (nccl_communicator.h).
// Every NCCL call runs on this communicator's own stream. Before one is queued the engine's device work is
// synchronised (sg::runtime(CUDA).synchronize()), so that NCCL reads finished values; the host then waits for the
// call's event (wait(), or at once for the blocking operations), polled against Communicator::timeout(): past it the
// rank names the operation, aborts the NCCL communicator and ends the run through MPI.
// Uneven blocks: all-gather is one ncclBroadcast per rank, reduce-scatter one ncclReduce per rank, each group
// between ncclGroupStart and ncclGroupEnd.
#include "dist/nccl_communicator.h"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>

#include "base/error.h"
#include "tensor/backends.h"

namespace sg::dist {
namespace {

void check_cuda(cudaError_t rc, const char* what) {
  SG_CHECK(rc == cudaSuccess, "nccl communicator: {} failed: {}", what, cudaGetErrorString(rc));
}

void check_nccl(ncclResult_t rc, const char* what) {
  SG_CHECK(rc == ncclSuccess, "nccl: {} failed: {}", what, ncclGetErrorString(rc));
}

ncclDataType_t nccl_type(DType t) {
  switch (t) {
    case DType::F32: return ncclFloat32;
    case DType::F64: return ncclFloat64;
    case DType::I64: return ncclInt64;
    case DType::BF16: return ncclBfloat16;
  }
  fail("nccl: dtype {} has no NCCL type", dtype_name(t));
}

// The rank of this process among those on its host (Open MPI's OMPI_COMM_WORLD_LOCAL_RANK; else its world rank)
// and their number.
int env_int(const char* name, int otherwise) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::atoi(v) : otherwise;
}

uint64_t ring_all_reduce_bytes(uint64_t n, int D) { return D > 1 ? 2 * n * static_cast<uint64_t>(D - 1) / D : 0; }

size_t bytes_of(const Tensor& t) { return t.numel() * dtype_size(t.dtype()); }

// Elements of one row: the product of the trailing dims.
size_t row_elements(const Tensor& t) {
  size_t n = 1;
  for (int64_t d = 1; d < t.dim(); ++d) n *= static_cast<size_t>(t.size(d));
  return n;
}

// Shared by the communicator and its operations in flight: the stream, the NCCL communicator and who waits.
struct NcclContext {
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  Communicator* mpi = nullptr;  // CPU tensors, the timeout's abort
  int rank = 0, size = 1;
};

// Waits until `done` (an event recorded after the operation) has happened, at most `timeout_s` (0: no limit);
// an asynchronous NCCL error or the deadline ends the run, naming the operation.
void wait_event(const NcclContext& c, cudaEvent_t done, const char* op, double timeout_s) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  for (;;) {
    const cudaError_t q = cudaEventQuery(done);
    if (q == cudaSuccess) return;
    SG_CHECK(q == cudaErrorNotReady, "nccl: {}: waiting for the GPU failed: {}", op, cudaGetErrorString(q));
    ncclResult_t async = ncclSuccess;
    ncclCommGetAsyncError(c.comm, &async);
    SG_CHECK(async == ncclSuccess, "nccl: {}: rank {} of {}: {}", op, c.rank, c.size, ncclGetErrorString(async));
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (timeout_s > 0 && waited >= timeout_s) {
      std::fprintf(stderr,
                   "rank %d of %d: %s (nccl) did not complete within %g s (--comm-timeout): another rank has not "
                   "reached it (hung, or far slower); stopping all ranks\n",
                   c.rank, c.size, op, timeout_s);
      std::fflush(stderr);
      ncclCommAbort(c.comm);
      c.mpi->abort(1);
    }
    if (waited < 1e-3)
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

// An operation queued on the stream: its event, recorded after it, and what must live until it completes.
class Queued {
 public:
  Queued(const NcclContext& c, const char* op, double timeout_s) : c_(c), op_(op), timeout_s_(timeout_s) {
    check_cuda(cudaEventCreateWithFlags(&event_, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventRecord(event_, c.stream), "cudaEventRecord");
  }
  ~Queued() {
    try {
      wait();
    } catch (const std::exception& e) {  // a destructor does not throw: said, and the event is left
      std::fprintf(stderr, "rank %d of %d: %s\n", c_.rank, c_.size, e.what());
    }
    cudaEventDestroy(event_);
  }
  Queued(const Queued&) = delete;
  Queued& operator=(const Queued&) = delete;
  bool test() {
    if (!done_ && cudaEventQuery(event_) == cudaSuccess) done_ = true;
    return done_;
  }
  void wait() {
    if (!done_) wait_event(c_, event_, op_, timeout_s_);
    done_ = true;
  }

 private:
  const NcclContext& c_;
  const char* op_;
  double timeout_s_;
  cudaEvent_t event_ = nullptr;
  bool done_ = false;
};

class NcclPending final : public PendingReduce {
 public:
  NcclPending(const NcclContext& c, Tensor t, double timeout_s) : t_(std::move(t)), queued_(c, "all-reduce", timeout_s) {}
  bool test() override { return queued_.test(); }
  void wait() override { queued_.wait(); }

 private:
  Tensor t_;  // kept alive while NCCL writes into it
  Queued queued_;
};

class NcclTransfer final : public PendingTransfer {
 public:
  NcclTransfer(const NcclContext& c, Tensor send, Tensor got, double timeout_s)
      : send_(std::move(send)), got_(std::move(got)), queued_(c, "send/receive", timeout_s) {}
  Tensor wait() override {
    queued_.wait();
    return got_;
  }

 private:
  Tensor send_, got_;
  Queued queued_;
};

class NcclCommunicator final : public Communicator {
  // The engine's queued kernels have written what NCCL is about to read.
  void before_queueing() { runtime(Device::CUDA).synchronize(); }

  // A CPU tensor: the MPI communicator, under this one's timeout; its bytes counted here too.
  template <class F>
  auto on_mpi(F&& f) {
    TimeoutScope same(*c_.mpi, timeout_s_);
    const uint64_t before = c_.mpi->bytes_sent();
    if constexpr (std::is_void_v<decltype(f())>) {
      f();
      bytes_sent_ += c_.mpi->bytes_sent() - before;
    } else {
      auto result = f();
      bytes_sent_ += c_.mpi->bytes_sent() - before;
      return result;
    }
  }

 public:
  explicit NcclCommunicator(Communicator& mpi) {
    c_.mpi = &mpi;
    c_.rank = mpi.rank();
    c_.size = mpi.size();
    set_timeout(mpi.timeout());
    // Rank 0 makes the unique id; MPI carries it to the others (as int64 words).
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    if (c_.rank == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    static_assert(sizeof(ncclUniqueId) % sizeof(int64_t) == 0, "ncclUniqueId is a whole number of int64 words");
    std::vector<int64_t> words(sizeof(ncclUniqueId) / sizeof(int64_t));
    std::memcpy(words.data(), &id, sizeof id);
    Tensor carried = from_vector(words, {static_cast<int64_t>(words.size())});
    mpi.broadcast(carried, 0);
    const std::vector<int64_t> got = carried.to_vector<int64_t>();
    std::memcpy(&id, got.data(), sizeof id);
    check_cuda(cudaStreamCreateWithFlags(&c_.stream, cudaStreamNonBlocking), "cudaStreamCreate");
    check_nccl(ncclCommInitRank(&c_.comm, c_.size, id, c_.rank), "ncclCommInitRank");
  }
  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;
  ~NcclCommunicator() override {
    if (c_.comm != nullptr) ncclCommDestroy(c_.comm);
    if (c_.stream != nullptr) cudaStreamDestroy(c_.stream);
  }
  int rank() const override { return c_.rank; }
  int size() const override { return c_.size; }
  std::string name() const override { return "nccl"; }

  void all_reduce_sum(Tensor& t) override {
    if (t.device() != Device::CUDA) return on_mpi([&] { c_.mpi->all_reduce_sum(t); });
    all_reduce_sum_async(t)->wait();
  }

  std::unique_ptr<PendingReduce> all_reduce_sum_async(Tensor t) override {
    if (t.device() != Device::CUDA) return on_mpi([&] { return c_.mpi->all_reduce_sum_async(t); });
    SG_CHECK(t.is_contiguous(), "nccl: all_reduce: rank {}: the tensor {} must be contiguous", c_.rank, t.shape_str());
    before_queueing();
    check_nccl(ncclAllReduce(t.data_ptr(), t.data_ptr(), t.numel(), nccl_type(t.dtype()), ncclSum, c_.comm, c_.stream),
               "ncclAllReduce");
    bytes_sent_ += ring_all_reduce_bytes(bytes_of(t), c_.size);
    return std::make_unique<NcclPending>(c_, std::move(t), timeout_s_);
  }

  Tensor all_gather(const Tensor& t, const std::vector<int64_t>& rows) override {
    if (t.device() != Device::CUDA) return on_mpi([&] { return c_.mpi->all_gather(t, rows); });
    SG_CHECK(rows.size() == static_cast<size_t>(c_.size) && t.dim() >= 1 && t.size(0) == rows[c_.rank],
             "all_gather: rank {}: rows has {} entries for {} ranks, and this rank's entry must be its tensor's first "
             "dim ({})", c_.rank, rows.size(), c_.size, t.shape_str());
    const Tensor mine = t.detach().contiguous();
    const size_t row = row_elements(mine);
    int64_t total = 0;
    for (int64_t n : rows) total += n;
    Shape shape = mine.shape();
    shape[0] = total;
    Tensor out = Tensor::empty(shape, mine.dtype(), Device::CUDA);
    before_queueing();
    char* base = static_cast<char*>(out.data_ptr());
    const size_t es = dtype_size(mine.dtype());
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    int64_t offset = 0;
    for (int r = 0; r < c_.size; ++r) {  // rank r's block from rank r to every rank
      const size_t n = static_cast<size_t>(rows[r]) * row;
      check_nccl(ncclBroadcast(r == c_.rank ? mine.data_ptr() : base + static_cast<size_t>(offset) * row * es,
                               base + static_cast<size_t>(offset) * row * es, n, nccl_type(mine.dtype()), r, c_.comm,
                               c_.stream),
                 "ncclBroadcast (all-gather)");
      offset += rows[r];
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd (all-gather)");
    Queued(c_, "all-gather", timeout_s_).wait();
    const size_t next = static_cast<size_t>(rows[(c_.rank + 1) % c_.size]) * row * es;
    bytes_sent_ += static_cast<uint64_t>(total) * row * es - next;  // as a ring sends it (communicator.h)
    return out;
  }

  Tensor reduce_scatter_sum(const Tensor& t, const std::vector<int64_t>& rows) override {
    if (t.device() != Device::CUDA) return on_mpi([&] { return c_.mpi->reduce_scatter_sum(t, rows); });
    int64_t total = 0;
    for (int64_t n : rows) total += n;
    SG_CHECK(rows.size() == static_cast<size_t>(c_.size) && t.dim() >= 1 && t.size(0) == total,
             "reduce_scatter: rank {}: rows has {} entries for {} ranks and must add up to the tensor's first dim ({})",
             c_.rank, rows.size(), c_.size, t.shape_str());
    const Tensor all = t.detach().contiguous();
    const size_t row = row_elements(all), es = dtype_size(all.dtype());
    Shape shape = all.shape();
    shape[0] = rows[c_.rank];
    Tensor out = Tensor::empty(shape, all.dtype(), Device::CUDA);
    before_queueing();
    const char* base = static_cast<const char*>(all.data_ptr());
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    int64_t offset = 0;
    for (int r = 0; r < c_.size; ++r) {  // the sum of rank r's rows, to rank r
      check_nccl(ncclReduce(base + static_cast<size_t>(offset) * row * es, out.data_ptr(),
                            static_cast<size_t>(rows[r]) * row, nccl_type(all.dtype()), ncclSum, r, c_.comm, c_.stream),
                 "ncclReduce (reduce-scatter)");
      offset += rows[r];
    }
    check_nccl(ncclGroupEnd(), "ncclGroupEnd (reduce-scatter)");
    Queued(c_, "reduce-scatter", timeout_s_).wait();
    bytes_sent_ += (static_cast<uint64_t>(total) - static_cast<uint64_t>(rows[c_.rank])) * row * es;
    return out;
  }

  Tensor send_recv(const Tensor& send, int to, const Shape& recv_shape, int from) override {
    return send_recv_async(send, to, recv_shape, from)->wait();
  }

  std::unique_ptr<PendingTransfer> send_recv_async(const Tensor& send, int to, const Shape& recv_shape,
                                                   int from) override {
    if (send.device() != Device::CUDA)
      return on_mpi([&] { return c_.mpi->send_recv_async(send, to, recv_shape, from); });
    SG_CHECK(to >= 0 && to < c_.size && from >= 0 && from < c_.size, "send_recv: rank {} of {}: to {} and from {}",
             c_.rank, c_.size, to, from);
    Tensor mine = send.detach().contiguous();
    Tensor got = Tensor::empty(recv_shape, mine.dtype(), Device::CUDA);
    before_queueing();
    check_nccl(ncclGroupStart(), "ncclGroupStart");
    check_nccl(ncclSend(mine.data_ptr(), mine.numel(), nccl_type(mine.dtype()), to, c_.comm, c_.stream), "ncclSend");
    check_nccl(ncclRecv(got.data_ptr(), got.numel(), nccl_type(got.dtype()), from, c_.comm, c_.stream), "ncclRecv");
    check_nccl(ncclGroupEnd(), "ncclGroupEnd (send/receive)");
    bytes_sent_ += bytes_of(mine);
    return std::make_unique<NcclTransfer>(c_, std::move(mine), std::move(got), timeout_s_);
  }

  void broadcast(Tensor& t, int root) override {
    if (t.device() != Device::CUDA) return on_mpi([&] { c_.mpi->broadcast(t, root); });
    SG_CHECK(t.is_contiguous(), "nccl: broadcast: rank {}: the tensor {} must be contiguous", c_.rank, t.shape_str());
    before_queueing();
    check_nccl(ncclBroadcast(t.data_ptr(), t.data_ptr(), t.numel(), nccl_type(t.dtype()), root, c_.comm, c_.stream),
               "ncclBroadcast");
    Queued(c_, "broadcast", timeout_s_).wait();
    if ((c_.rank - root + c_.size) % c_.size != c_.size - 1) bytes_sent_ += bytes_of(t);
  }

  // Every rank has reached it when a one-element all-reduce through NCCL completes.
  void barrier() override {
    Tensor one = full({1}, 1.0, DType::F32).to(Device::CUDA);
    before_queueing();
    check_nccl(ncclAllReduce(one.data_ptr(), one.data_ptr(), 1, ncclFloat32, ncclSum, c_.comm, c_.stream),
               "ncclAllReduce (barrier)");
    Queued(c_, "barrier", timeout_s_).wait();
  }

  void abort(int code) override {
    ncclCommAbort(c_.comm);
    c_.comm = nullptr;
    c_.mpi->abort(code);
  }

 private:
  NcclContext c_;
};

}  // namespace

int visible_gpu_count() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

std::unique_ptr<Communicator> make_nccl_communicator(Communicator& mpi) {
  const int local_rank = env_int("OMPI_COMM_WORLD_LOCAL_RANK", mpi.rank());
  const int local_size = env_int("OMPI_COMM_WORLD_LOCAL_SIZE", mpi.size());
  const int gpus = visible_gpu_count();
  SG_CHECK(gpus >= local_size,
           "nccl: {} ranks on this host but {} GPU(s): NCCL needs one GPU per rank (--comm mpi stages CUDA tensors "
           "through host memory and lets ranks share a GPU)", local_size, gpus);
  check_cuda(cudaSetDevice(local_rank), "cudaSetDevice");
  return std::make_unique<NcclCommunicator>(mpi);
}

}  // namespace sg::dist
