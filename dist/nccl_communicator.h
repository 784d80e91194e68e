// nccl_communicator.h: the NCCL communicator (dist/nccl_communicator.cpp, compiled only with CUDA=1 and MPI=1).
// CUDA tensors go to NCCL directly (all-reduce, all-gather, reduce-scatter, send/receive pairs in
// ncclGroupStart/End, broadcast, and a barrier as a one-element all-reduce); CPU tensors go to the MPI communicator
// it was bootstrapped from. NCCL needs one GPU per rank: each rank takes the GPU of its rank on its host.
#pragma once
#include <memory>

#include "dist/communicator.h"

namespace sg::dist {

// The CUDA GPUs this process sees (0 when there are none or the driver cannot be reached).
int visible_gpu_count();
// Makes GPU `local rank on this host` the current device (before any CUDA tensor exists), bootstraps one NCCL
// communicator over `mpi`'s ranks (rank 0's ncclUniqueId reaches the others by mpi.broadcast) and returns it.
// An error naming the ranks on this host and the GPUs when there are fewer GPUs than ranks.
std::unique_ptr<Communicator> make_nccl_communicator(Communicator& mpi);

}  // namespace sg::dist
