#include "dist/communicator.h"

#include <cstdio>
#include <cstdlib>

#include "base/error.h"
#ifdef SG_MPI
#include "dist/mpi_communicator.h"
#endif
#ifdef SG_NCCL
#include "dist/nccl_communicator.h"
#endif

namespace sg::dist {
namespace {

// A reduction that is already complete: one process has nothing to wait for.
class DonePending final : public PendingReduce {
 public:
  bool test() override { return true; }
  void wait() override {}
};

// A transfer that is already complete: one process receives what it sent.
class DoneTransfer final : public PendingTransfer {
 public:
  explicit DoneTransfer(Tensor got) : got_(std::move(got)) {}
  Tensor wait() override { return got_; }

 private:
  Tensor got_;
};

}  // namespace

void SingleCommunicator::all_reduce_sum(Tensor&) {}
std::unique_ptr<PendingReduce> SingleCommunicator::all_reduce_sum_async(Tensor) { return std::make_unique<DonePending>(); }

Tensor SingleCommunicator::all_gather(const Tensor& t, const std::vector<int64_t>& rows) {
  SG_CHECK(rows.size() == 1 && t.dim() >= 1 && t.size(0) == rows[0],
           "all_gather: one process: rows must be {{{}}} (the tensor's first dim), got {} rows entries", t.dim() >= 1 ? t.size(0) : 0,
           rows.size());
  return t;
}

Tensor SingleCommunicator::reduce_scatter_sum(const Tensor& t, const std::vector<int64_t>& rows) {
  SG_CHECK(rows.size() == 1 && t.dim() >= 1 && t.size(0) == rows[0],
           "reduce_scatter_sum: one process: rows must be {{{}}} (the tensor's first dim), got {} rows entries",
           t.dim() >= 1 ? t.size(0) : 0, rows.size());
  return t;
}

Tensor SingleCommunicator::send_recv(const Tensor& send, int to, const Shape& recv_shape, int from) {
  SG_CHECK(to == 0 && from == 0, "send_recv: one process: only rank 0 exists, asked to send to {} and receive from {}",
           to, from);
  SG_CHECK(recv_shape == send.shape(), "send_recv: one process receives what it sends: {} vs expected {}",
           send.shape_str(), Tensor::empty(recv_shape).shape_str());
  return send.detach().clone();
}

std::unique_ptr<PendingTransfer> SingleCommunicator::send_recv_async(const Tensor& send, int to,
                                                                     const Shape& recv_shape, int from) {
  return std::make_unique<DoneTransfer>(send_recv(send, to, recv_shape, from));
}

void SingleCommunicator::broadcast(Tensor&, int root) {
  SG_CHECK(root == 0, "broadcast: one process: root {} does not exist", root);
}

void SingleCommunicator::abort(int code) { std::exit(code); }

bool built_with_mpi() {
#ifdef SG_MPI
  return true;
#else
  return false;
#endif
}

bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

Communicator& world() {
  static std::unique_ptr<Communicator> comm = []() -> std::unique_ptr<Communicator> {
    if (!launched_by_mpirun()) return std::make_unique<SingleCommunicator>();
#ifdef SG_MPI
    return make_mpi_communicator();
#else
    const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
    SG_CHECK(n == nullptr || std::atoi(n) <= 1,
             "this build has no MPI (make MPI=1 needs mpicxx: scripts/install-deps.sh), but mpirun started {} "
             "processes",
             n ? n : "?");
    return std::make_unique<SingleCommunicator>();
#endif
  }();
  return *comm;
}

bool built_with_nccl() {
#ifdef SG_NCCL
  return true;
#else
  return false;
#endif
}

int nccl_gpus() {
#ifdef SG_NCCL
  return visible_gpu_count();
#else
  return 0;
#endif
}

Communicator& communicator_for(Device device, Transport transport) {
  Communicator& w = world();
  if (device != Device::CUDA || w.size() == 1 || transport == Transport::Mpi) return w;
#ifdef SG_NCCL
  static std::unique_ptr<Communicator> nccl;
  if (nccl) return *nccl;
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  const int ranks_here = local != nullptr ? std::atoi(local) : w.size();
  if (transport == Transport::Auto && visible_gpu_count() < ranks_here) {
    if (w.rank() == 0)
      std::printf("communication: MPI with CUDA tensors staged through host memory: NCCL needs one GPU per rank, and "
                  "this host has %d rank(s) and %d GPU(s)\n", ranks_here, visible_gpu_count());
    return w;
  }
  nccl = make_nccl_communicator(w);
  return *nccl;
#else
  SG_CHECK(transport == Transport::Auto, "this build has no NCCL (make CUDA=1 MPI=1 on a machine with CUDA, NCCL and "
           "Open MPI); --comm mpi stages CUDA tensors through host memory");
  return w;
#endif
}

void abort_world_on_error(const std::string& message) {
  if (!launched_by_mpirun()) return;
  Communicator& w = world();
  if (w.size() <= 1) return;
  std::fprintf(stderr, "rank %d of %d: %s; stopping all ranks\n", w.rank(), w.size(), message.c_str());
  std::fflush(stderr);
  w.abort(1);
}

BatchSplit split_batch(int64_t B, int D) {
  SG_CHECK(D >= 1, "split_batch: {} ranks", D);
  SG_CHECK(B >= D, "the global batch of {} cannot be split over {} ranks: every rank needs at least one example "
           "(--batch >= the number of processes)", B, D);
  BatchSplit s;
  s.global = B;
  int64_t offset = 0;
  for (int r = 0; r < D; ++r) {
    const int64_t n = B / D + (r < B % D ? 1 : 0);
    s.rows.push_back(n);
    s.offsets.push_back(offset);
    offset += n;
  }
  return s;
}

void check_same_on_all_ranks(Communicator& comm, uint64_t value, const std::string& what) {
  if (comm.size() == 1) return;
  Tensor mine = from_vector(std::vector<int64_t>{static_cast<int64_t>(value)}, {1});
  std::vector<int64_t> ones(static_cast<size_t>(comm.size()), 1);
  const std::vector<int64_t> all = comm.all_gather(mine, ones).to_vector<int64_t>();
  std::string differ;
  for (size_t r = 1; r < all.size(); ++r)
    if (all[r] != all[0]) differ += fmt::format("{}rank {}: {:016x}", differ.empty() ? "" : ", ", r, static_cast<uint64_t>(all[r]));
  SG_CHECK(differ.empty(), "{} differs between ranks: rank 0: {:016x}, {}", what, static_cast<uint64_t>(all[0]), differ);
}

}  // namespace sg::dist
