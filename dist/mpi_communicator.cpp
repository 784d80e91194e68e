// mpi_communicator.cpp: the Communicator over MPI_COMM_WORLD. CPU tensors are handed to MPI as they are
// (contiguous); CUDA tensors are copied to host memory, communicated, and copied back (host staging).
// Only the thread that made world() calls MPI (MPI_THREAD_FUNNELED).
// Every operation is non-blocking (MPI_Iallreduce, MPI_Iallgatherv, MPI_Ireduce_scatter, MPI_Isend/MPI_Irecv,
// MPI_Ibcast, MPI_Ibarrier) and completed by wait_for(): MPI_Waitall without a timeout, else MPI_Testall polled
// until the deadline, past which this rank names the operation and calls MPI_Abort (Communicator::set_timeout).
#include "dist/mpi_communicator.h"

#include <mpi.h>

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "base/error.h"

namespace sg::dist {
namespace {

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail("mpi: {} failed: {}", what, std::string(text, static_cast<size_t>(len)));
}

MPI_Datatype mpi_type(DType t, const char* op) {
  switch (t) {
    case DType::F32: return MPI_FLOAT;
    case DType::F64: return MPI_DOUBLE;
    case DType::I64: return MPI_INT64_T;
    case DType::BF16: break;
  }
  fail("mpi: {}: {} cannot be summed by MPI (float32, float64 or int64)", op, dtype_name(t));
}

int count_of(size_t n, const char* op) {
  SG_CHECK(n <= static_cast<size_t>(INT_MAX), "mpi: {}: {} elements or bytes exceed MPI's int count", op, n);
  return static_cast<int>(n);
}

// A contiguous host tensor holding t's values: t itself when it already is one, else a copy.
Tensor host_of(const Tensor& t) {
  Tensor h = t.detach().contiguous();
  return h.device() == Device::CPU ? h : h.to(Device::CPU);
}

// Writes the host result back into t when t was not itself the host buffer.
void write_back(Tensor& t, const Tensor& host) {
  if (host.data_ptr() != t.data_ptr()) t.copy_(host.to(t.device()));
}

uint64_t ring_all_reduce_bytes(uint64_t n, int D) { return D > 1 ? 2 * n * static_cast<uint64_t>(D - 1) / D : 0; }

// Who waits, and for how long at most (Communicator::timeout(); 0: no limit).
struct WaitLimit {
  int rank = 0, size = 1;
  double timeout_s = 0;
};

// Completes `n` requests of operation `op`. With a timeout: MPI_Testall (which also moves Open MPI's progress
// engine) in a loop, yielding the core for the first millisecond and sleeping 100 us between polls after it; past
// the deadline the rank says which operation it waited for, and for how long, and ends the run (MPI_Abort).
void wait_for(MPI_Request* requests, int n, const char* op, const WaitLimit& limit) {
  if (limit.timeout_s <= 0) {
    check_mpi(MPI_Waitall(n, requests, MPI_STATUSES_IGNORE), op);
    return;
  }
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limit.timeout_s));
  for (;;) {
    int done = 0;
    check_mpi(MPI_Testall(n, requests, &done, MPI_STATUSES_IGNORE), op);
    if (done) return;
    const auto now = Clock::now();
    if (now >= deadline) break;
    if (now - start < std::chrono::milliseconds(1))
      std::this_thread::yield();
    else
      std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  std::fprintf(stderr,
               "rank %d of %d: %s did not complete within %g s (--comm-timeout): another rank has not reached it "
               "(hung, or far slower); stopping all ranks\n",
               limit.rank, limit.size, op, limit.timeout_s);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::exit(1);
}

// For destructors of operations nobody waited for: completes them, printing an error instead of throwing it.
void wait_for_quietly(MPI_Request* requests, int n, const char* op, const WaitLimit& limit) {
  try {
    wait_for(requests, n, op, limit);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rank %d of %d: %s\n", limit.rank, limit.size, e.what());
  }
}

class MpiPending final : public PendingReduce {
 public:
  MpiPending(Tensor target, Tensor host, MPI_Request req, WaitLimit limit)
      : target_(std::move(target)), host_(std::move(host)), req_(req), limit_(limit) {}
  ~MpiPending() override {
    if (!done_) wait_for_quietly(&req_, 1, "all-reduce (started, not waited for)", limit_);
  }
  bool test() override {
    if (done_) return true;
    int flag = 0;
    check_mpi(MPI_Test(&req_, &flag, MPI_STATUS_IGNORE), "MPI_Test (all-reduce)");
    if (flag) finish();
    return done_;
  }
  void wait() override {
    if (done_) return;
    wait_for(&req_, 1, "all-reduce", limit_);
    finish();
  }

 private:
  void finish() {
    done_ = true;
    write_back(target_, host_);
  }
  Tensor target_, host_;
  MPI_Request req_;
  WaitLimit limit_;
  bool done_ = false;
};

// An Isend + Irecv pair; the received host tensor goes to `device` once both are complete.
class MpiTransfer final : public PendingTransfer {
 public:
  MpiTransfer(Tensor send_host, Tensor got_host, Device device, WaitLimit limit)
      : send_(std::move(send_host)), got_(std::move(got_host)), device_(device), limit_(limit) {}
  ~MpiTransfer() override {
    if (!done_) wait_for_quietly(requests, 2, "send/receive (started, not waited for)", limit_);
  }
  Tensor wait() override {
    if (!done_) wait_for(requests, 2, "send/receive", limit_);
    done_ = true;
    return device_ == Device::CPU ? got_ : got_.to(device_);
  }
  Tensor wait_target() const { return got_; }  // the host tensor MPI receives into
  MPI_Request requests[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};  // receive, send

 private:
  Tensor send_, got_;
  Device device_;
  WaitLimit limit_;
  bool done_ = false;
};

// The limit of the barrier before MPI_Finalize: the communicator's, recorded when it is destroyed at exit.
WaitLimit g_exit_limit;

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiCommunicator() override { g_exit_limit = limit(); }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }

  void all_reduce_sum(Tensor& t) override {
    Tensor h = host_of(t);
    MPI_Request req;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, h.data_ptr(), count_of(h.numel(), "all_reduce"),
                             mpi_type(h.dtype(), "all_reduce"), MPI_SUM, MPI_COMM_WORLD, &req),
              "MPI_Iallreduce");
    wait_for(&req, 1, "all-reduce", limit());
    bytes_sent_ += ring_all_reduce_bytes(h.numel() * dtype_size(h.dtype()), size_);
    write_back(t, h);
  }

  std::unique_ptr<PendingReduce> all_reduce_sum_async(Tensor t) override {
    Tensor h = host_of(t);
    MPI_Request req;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, h.data_ptr(), count_of(h.numel(), "all_reduce"),
                             mpi_type(h.dtype(), "all_reduce"), MPI_SUM, MPI_COMM_WORLD, &req),
              "MPI_Iallreduce");
    bytes_sent_ += ring_all_reduce_bytes(h.numel() * dtype_size(h.dtype()), size_);
    return std::make_unique<MpiPending>(std::move(t), std::move(h), req, limit());
  }

  Tensor all_gather(const Tensor& t, const std::vector<int64_t>& rows) override {
    SG_CHECK(rows.size() == static_cast<size_t>(size_) && t.dim() >= 1 && t.size(0) == rows[rank_],
             "all_gather: rank {}: rows has {} entries for {} ranks, and this rank's entry must be its tensor's first "
             "dim ({})", rank_, rows.size(), size_, t.shape_str());
    Tensor h = host_of(t);
    size_t row_elems = 1;  // elements of one row: the product of the trailing dims
    for (int64_t d = 1; d < h.dim(); ++d) row_elems *= static_cast<size_t>(h.size(d));
    const size_t rb = row_elems * dtype_size(h.dtype());
    std::vector<int> counts(rows.size()), displs(rows.size());
    int64_t total = 0;
    for (size_t r = 0; r < rows.size(); ++r) {
      counts[r] = count_of(static_cast<size_t>(rows[r]) * rb, "all_gather");
      displs[r] = count_of(static_cast<size_t>(total) * rb, "all_gather");
      total += rows[r];
    }
    Shape shape = h.shape();
    shape[0] = total;
    Tensor out = Tensor::empty(shape, h.dtype(), Device::CPU);
    MPI_Request req;
    check_mpi(MPI_Iallgatherv(h.data_ptr(), counts[rank_], MPI_BYTE, out.data_ptr(), counts.data(), displs.data(),
                              MPI_BYTE, MPI_COMM_WORLD, &req),
              "MPI_Iallgatherv");
    wait_for(&req, 1, "all-gather", limit());
    // A ring forwards every block but the one of the next rank (which started the ring there).
    bytes_sent_ += static_cast<uint64_t>(total) * rb - static_cast<uint64_t>(counts[(rank_ + 1) % size_]);
    return t.device() == Device::CPU ? out : out.to(t.device());
  }

  Tensor reduce_scatter_sum(const Tensor& t, const std::vector<int64_t>& rows) override {
    int64_t total = 0;
    for (int64_t n : rows) total += n;
    SG_CHECK(rows.size() == static_cast<size_t>(size_) && t.dim() >= 1 && t.size(0) == total,
             "reduce_scatter: rank {}: rows has {} entries for {} ranks and must add up to the tensor's first dim ({})",
             rank_, rows.size(), size_, t.shape_str());
    Tensor h = host_of(t);
    size_t row_elems = 1;  // elements of one row
    for (int64_t d = 1; d < h.dim(); ++d) row_elems *= static_cast<size_t>(h.size(d));
    std::vector<int> counts(rows.size());
    for (size_t r = 0; r < rows.size(); ++r) counts[r] = count_of(static_cast<size_t>(rows[r]) * row_elems, "reduce_scatter");
    Shape shape = h.shape();
    shape[0] = rows[rank_];
    Tensor out = Tensor::empty(shape, h.dtype(), Device::CPU);
    MPI_Request req;
    check_mpi(MPI_Ireduce_scatter(h.data_ptr(), out.data_ptr(), counts.data(), mpi_type(h.dtype(), "reduce_scatter"),
                                  MPI_SUM, MPI_COMM_WORLD, &req),
              "MPI_Ireduce_scatter");
    wait_for(&req, 1, "reduce-scatter", limit());
    // A ring passes on every block's partial sum but its own.
    bytes_sent_ += (static_cast<uint64_t>(total) - static_cast<uint64_t>(rows[rank_])) * row_elems * dtype_size(h.dtype());
    return t.device() == Device::CPU ? out : out.to(t.device());
  }

  Tensor send_recv(const Tensor& send, int to, const Shape& recv_shape, int from) override {
    return send_recv_async(send, to, recv_shape, from)->wait();
  }

  std::unique_ptr<PendingTransfer> send_recv_async(const Tensor& send, int to, const Shape& recv_shape,
                                                   int from) override {
    SG_CHECK(to >= 0 && to < size_ && from >= 0 && from < size_, "send_recv: rank {} of {}: to {} and from {}", rank_,
             size_, to, from);
    Tensor h = host_of(send);
    auto t = std::make_unique<MpiTransfer>(h, Tensor::empty(recv_shape, h.dtype(), Device::CPU), send.device(),
                                           limit());
    Tensor got = t->wait_target();
    const size_t send_bytes = h.numel() * dtype_size(h.dtype());
    check_mpi(MPI_Irecv(got.data_ptr(), count_of(got.numel() * dtype_size(got.dtype()), "send_recv"), MPI_BYTE, from, 0,
                        MPI_COMM_WORLD, &t->requests[0]),
              "MPI_Irecv");
    check_mpi(MPI_Isend(h.data_ptr(), count_of(send_bytes, "send_recv"), MPI_BYTE, to, 0, MPI_COMM_WORLD,
                        &t->requests[1]),
              "MPI_Isend");
    bytes_sent_ += send_bytes;
    return t;
  }

  void broadcast(Tensor& t, int root) override {
    Tensor h = host_of(t);
    const size_t n = h.numel() * dtype_size(h.dtype());
    MPI_Request req;
    check_mpi(MPI_Ibcast(h.data_ptr(), count_of(n, "broadcast"), MPI_BYTE, root, MPI_COMM_WORLD, &req), "MPI_Ibcast");
    wait_for(&req, 1, "broadcast", limit());
    if ((rank_ - root + size_) % size_ != size_ - 1) bytes_sent_ += n;  // a chain: all but its last rank pass it on
    write_back(t, h);
  }

  void barrier() override {
    MPI_Request req;
    check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &req), "MPI_Ibarrier");
    wait_for(&req, 1, "barrier", limit());
  }

  void abort(int code) override {
    MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
  }

 private:
  WaitLimit limit() const { return {rank_, size_, timeout_s_}; }
  int rank_ = 0, size_ = 1;
};

// MPI_Finalize waits for every rank without a limit; a timed barrier before it ends a run whose other rank hangs
// instead of reaching the end.
void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (g_exit_limit.timeout_s > 0 && g_exit_limit.size > 1) {
    MPI_Request req;
    if (MPI_Ibarrier(MPI_COMM_WORLD, &req) == MPI_SUCCESS) wait_for(&req, 1, "the barrier before MPI_Finalize", g_exit_limit);
  }
  MPI_Finalize();
}

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    int provided = 0;
    check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    std::atexit(finalize_at_exit);
  }
  return std::make_unique<MpiCommunicator>();
}

}  // namespace sg::dist
