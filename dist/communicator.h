// communicator.h: the collective operations between the processes of one run (ranks 0..size-1), beside the
// device runtime: all-reduce, all-gather, a ring send/receive, broadcast and barrier over Tensors.
// Two implementations: Single (one process: size 1, every operation a copy or nothing) and MPI
// (dist/mpi_communicator.cpp, built with MPI=1; CPU tensors directly, CUDA tensors staged through host memory).
// world() is this process's: MPI when mpirun started it (and the build has MPI), else Single; MPI_Init runs only
// then, so a program started alone needs no MPI at run time.
//
// Every operation counts the bytes this rank sends (bytes_sent()): send_recv exactly; all-reduce, all-gather
// and broadcast as the ring algorithms send them (all-reduce of n bytes: 2 n (D-1)/D; all-gather and
// reduce-scatter: the D-1 blocks a ring passes on, (D-1)/D of the total when blocks are even; broadcast: n from each
// rank but the last of the chain). These are the volumes the algorithms need, whatever MPI chooses inside.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace sg::dist {

// An all-reduce in flight (all_reduce_sum_async): the tensor holds the sum once wait() returns.
class PendingReduce {
 public:
  virtual ~PendingReduce() = default;
  virtual bool test() = 0;  // lets the operation progress; true once it is complete (wait() then returns at once)
  virtual void wait() = 0;
};

// A send and receive in flight (send_recv_async): wait() returns the received tensor.
class PendingTransfer {
 public:
  virtual ~PendingTransfer() = default;
  virtual Tensor wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string name() const = 0;  // "single" or "mpi"

  // t: the same shape and dtype (float32, float64 or int64) on every rank, contiguous; replaced by the sum over ranks.
  virtual void all_reduce_sum(Tensor& t) = 0;
  // Starts the same sum; t must stay alive and untouched until the returned wait(). Calls must come in the same
  // order on every rank.
  virtual std::unique_ptr<PendingReduce> all_reduce_sum_async(Tensor t) = 0;
  // t: [rows[rank], ...] on each rank (same trailing shape and dtype) -> [sum(rows), ...], the blocks in rank order.
  virtual Tensor all_gather(const Tensor& t, const std::vector<int64_t>& rows) = 0;
  // t: [sum(rows), ...], the same shape on every rank -> [rows[rank], ...]: this rank's rows of the sum over ranks.
  virtual Tensor reduce_scatter_sum(const Tensor& t, const std::vector<int64_t>& rows) = 0;
  // Sends `send` to rank `to` and receives from rank `from` a tensor of shape `recv_shape` (send's dtype and
  // device): one step of a ring when to = rank + 1 and from = rank - 1.
  virtual Tensor send_recv(const Tensor& send, int to, const Shape& recv_shape, int from) = 0;
  // Starts the same exchange and returns at once, so that computation can run while it travels; `send` must stay
  // unchanged until wait(). Exchanges between the same two ranks are received in the order they were started.
  virtual std::unique_ptr<PendingTransfer> send_recv_async(const Tensor& send, int to, const Shape& recv_shape,
                                                           int from) = 0;
  // t (the same shape and dtype everywhere) takes rank `root`'s values.
  virtual void broadcast(Tensor& t, int root) = 0;
  virtual void barrier() = 0;
  // Ends every process of the run (after this one has printed why); never returns.
  [[noreturn]] virtual void abort(int code) = 0;

  // The longest a rank waits for one operation to complete (a collective, a send/receive, a started all-reduce's
  // wait()); past it the rank prints "rank R of D: OPERATION did not complete within T s ..." on stderr and ends
  // every process (abort): a rank that hangs, alive but never reaching the operation, cannot block the others
  // forever. 0: no limit. The one-process communicator never waits.
  void set_timeout(double seconds) { timeout_s_ = seconds; }
  double timeout() const { return timeout_s_; }

  uint64_t bytes_sent() const { return bytes_sent_; }
  void reset_bytes_sent() { bytes_sent_ = 0; }

 protected:
  uint64_t bytes_sent_ = 0;
  double timeout_s_ = 0;
};

// Lifts the timeout for a scope (a wait that may rightly take long: the ranks waiting while rank 0 evaluates), and
// puts it back after.
class TimeoutScope {
 public:
  TimeoutScope(Communicator& comm, double seconds) : comm_(comm), saved_(comm.timeout()) { comm.set_timeout(seconds); }
  ~TimeoutScope() { comm_.set_timeout(saved_); }
  TimeoutScope(const TimeoutScope&) = delete;
  TimeoutScope& operator=(const TimeoutScope&) = delete;

 private:
  Communicator& comm_;
  double saved_;
};

// One process alone: size 1. all_reduce and broadcast leave t as it is; all_gather returns t; send_recv to and from
// rank 0 returns a copy of `send`.
class SingleCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string name() const override { return "single"; }
  void all_reduce_sum(Tensor& t) override;
  std::unique_ptr<PendingReduce> all_reduce_sum_async(Tensor t) override;
  Tensor all_gather(const Tensor& t, const std::vector<int64_t>& rows) override;
  Tensor reduce_scatter_sum(const Tensor& t, const std::vector<int64_t>& rows) override;
  Tensor send_recv(const Tensor& send, int to, const Shape& recv_shape, int from) override;
  std::unique_ptr<PendingTransfer> send_recv_async(const Tensor& send, int to, const Shape& recv_shape,
                                                   int from) override;
  void broadcast(Tensor& t, int root) override;
  void barrier() override {}
  [[noreturn]] void abort(int code) override;
};

// True when this build has the MPI communicator (make MPI=1).
bool built_with_mpi();
// True when an MPI launcher (Open MPI's mpirun, or a PMI/PMIx launcher) started this process.
bool launched_by_mpirun();
// This process's communicator (made on first use): MPI under mpirun when built with MPI (an error if mpirun
// started a build without MPI with more than one process), else Single.
Communicator& world();
// True when this build has the NCCL communicator (make CUDA=1 with MPI=1: dist/nccl_communicator.cpp).
bool built_with_nccl();
// The GPUs NCCL could give one rank each on this host (0 in a build without NCCL, or without a GPU).
int nccl_gpus();
// How the ranks exchange CUDA tensors: NCCL (GPU to GPU), MPI (copied through host memory), or Auto: NCCL where
// the build has it and this host has a GPU per rank, else MPI.
enum class Transport { Auto, Mpi, Nccl };
// The communicator for tensors on `device`: world(), except on CUDA with more than one rank when `transport`
// picks NCCL: the NCCL communicator over world() (made on the first call, which also picks this rank's GPU, so it
// must come before any CUDA tensor exists). Nccl where the build or the host cannot: an error saying why.
Communicator& communicator_for(Device device, Transport transport);
// When world() is MPI with more than one process: abort them all (after `message` is printed on stderr). Else
// nothing. For a command's top-level error handler: a rank that fails stops the others at once.
void abort_world_on_error(const std::string& message);

// The rows of a global batch of B examples over D ranks: rank r takes rows [offset(r), offset(r) + rows(r)).
// An uneven B is handled: the first B % D ranks take one row more. Every rank needs at least one row (an error
// naming B and D otherwise).
struct BatchSplit {
  std::vector<int64_t> rows;     // [D]
  std::vector<int64_t> offsets;  // [D]
  int64_t global = 0;            // B
};
BatchSplit split_batch(int64_t B, int D);

// Checks that every rank holds the same value (a hash of the parameters, ...); an error naming the ranks that
// differ from rank 0 and their values.
void check_same_on_all_ranks(Communicator& comm, uint64_t value, const std::string& what);

}  // namespace sg::dist
