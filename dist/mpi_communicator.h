// mpi_communicator.h: the MPI communicator's maker (dist/mpi_communicator.cpp, compiled only with MPI=1).
#pragma once
#include <memory>

#include "dist/communicator.h"

namespace sg::dist {

// Initialises MPI (MPI_THREAD_FUNNELED: only the calling thread talks to MPI) and returns MPI_COMM_WORLD's
// communicator; MPI_Finalize runs at exit.
std::unique_ptr<Communicator> make_mpi_communicator();

}  // namespace sg::dist
