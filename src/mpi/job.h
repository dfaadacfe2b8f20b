// The MPI job as this process sees it, and the error text that
// mproc_mpi_last_error() returns.
#pragma once

#include <mpi.h>

#include <atomic>
#include <string>

#include "pool/seam.h"

namespace mproc {
namespace mpi {

struct Job {
  bool initialized = false;
  bool finalized = false;
  int rank = -1;
  int size = 0;
  MPI_Comm comm = MPI_COMM_NULL;  // our duplicate of MPI_COMM_WORLD
  const mproc_pool_seam *seam = nullptr;
  // MPI pools made and not finished (rank 0): one at a time.
  std::atomic<int> live_pools{0};
};

Job &job();

// Records the message for mproc_mpi_last_error() and returns rc.
int fail(int rc, const std::string &message);

}  // namespace mpi
}  // namespace mproc
