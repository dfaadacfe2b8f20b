// A worker rank's loop: run rank 0's chunks in a local mproc pool of one
// forkserver child, so a task that crashes or times out takes down only
// that child, and answer with every item's outcome.
#pragma once

#include "mpi/job.h"

namespace mproc {
namespace mpi {

// Returns when rank 0 sends kShutdown.
void serve(Job &job);

}  // namespace mpi
}  // namespace mproc
