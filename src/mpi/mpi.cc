// extern "C" layer of libmproc-mpi: the job's life cycle and the MPI pool.
#include <poll.h>
#include <sched.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>

#include "base/eventfd.h"
#include "mpi/job.h"
#include "mpi/master.h"
#include "mpi/serve.h"
#include "mpi/wire.h"
#include "mproc/mproc-mpi.h"

namespace mproc {
namespace mpi {

Job &job() {
  static Job j;
  return j;
}

namespace {
thread_local std::string last_error;

// Whether an MPI launcher started us: each sets its rank or size in the
// environment (Open MPI's mpiexec, PMIx launchers such as Slurm and
// Open MPI 5, MPICH's Hydra and PMI-1/2, MVAPICH). Without one, Open MPI
// would start a singleton job of one rank, or abort.
bool launched_by_mpi() {
  for (const char *v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                        "MV2_COMM_WORLD_RANK"})
    if (getenv(v)) return true;
  return false;
}

// A rank 0 that returns from main without mproc_mpi_finalize(): finalize
// for it, or abort the job if a pool still runs, so mpiexec never hangs.
void at_exit() {
  Job &j = job();
  if (!j.initialized || j.finalized || j.rank != kRoot) return;
  if (j.live_pools > 0) MPI_Abort(j.comm, 1);
  mproc_mpi_finalize();
}

const char kLaunch[] = "run `mpiexec -n N ./program` with N >= 2 (rank 0 runs main, "
                       "ranks 1..N-1 run the tasks)";
}  // namespace

int fail(int rc, const std::string &message) {
  try {
    last_error = message;
  } catch (...) {
  }
  return rc;
}

void wait_fd(int fd, int64_t ns) {
  if (ns == 0) {
    sched_yield();
    return;
  }
  pollfd p{fd, POLLIN, 0};
  timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  if (ppoll(&p, fd >= 0 ? 1 : 0, ns < 0 ? nullptr : &ts, nullptr) > 0) drain_eventfd(fd);
}

}  // namespace mpi
}  // namespace mproc

using mproc::mpi::fail;
using mproc::mpi::Job;
using mproc::mpi::job;

extern "C" {

MPROC_API int mproc_mpi_init(int *argc, char ***argv) {
  Job &j = job();
  if (j.initialized) return fail(MPROC_E_STATE, "mproc_mpi_init: called twice");
  j.seam = mproc_private_pool_seam(MPROC_POOL_SEAM_VERSION);
  if (!j.seam)
    return fail(MPROC_E_STATE,
                "mproc_mpi_init: libmproc.so.0 and libmproc-mpi.so.0 come from different mproc "
                "builds; install both from the same one");
  if (!mproc::mpi::launched_by_mpi())
    return fail(MPROC_E_STATE,
                std::string("mproc_mpi_init: not started by an MPI launcher: ") +
                    mproc::mpi::kLaunch);
  // Task children fork from this fresh, single-threaded image, which never
  // initializes MPI: no rank forks after MPI_Init.
  if (int rc = mproc_forkserver_start())
    return fail(rc, std::string("mproc_mpi_init: cannot start the fork server (") +
                        mproc_error_name(rc) +
                        "); call mproc_main(argc, argv) first thing in main()");
  int provided = MPI_THREAD_SINGLE;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
    return fail(MPROC_E_SYS, "mproc_mpi_init: MPI_Init_thread failed");
  if (provided < MPI_THREAD_SERIALIZED) {
    MPI_Finalize();
    return fail(MPROC_E_SYS,
                "mproc_mpi_init: this MPI library does not provide MPI_THREAD_SERIALIZED");
  }
  MPI_Comm_dup(MPI_COMM_WORLD, &j.comm);
  MPI_Comm_rank(j.comm, &j.rank);
  MPI_Comm_size(j.comm, &j.size);
  if (j.size < 2) {
    MPI_Comm_free(&j.comm);
    MPI_Finalize();
    return fail(MPROC_E_STATE, std::string("mproc_mpi_init: this MPI job has 1 rank, so no "
                                           "worker: ") +
                                   mproc::mpi::kLaunch);
  }
  j.initialized = true;
  if (j.rank == mproc::mpi::kRoot) {
    atexit(mproc::mpi::at_exit);
    return MPROC_MPI_MASTER;
  }
  mproc::mpi::serve(j);
  MPI_Comm_free(&j.comm);
  MPI_Finalize();
  j.finalized = true;
  return MPROC_MPI_WORKER;
}

MPROC_API int mproc_mpi_pool_new(mproc_pool **out) {
  Job &j = job();
  if (!out) return fail(MPROC_E_INVAL, "mproc_mpi_pool_new: NULL out");
  if (!j.initialized || j.finalized || j.rank != mproc::mpi::kRoot)
    return fail(MPROC_E_STATE, "mproc_mpi_pool_new: only on rank 0, between mproc_mpi_init() "
                               "and mproc_mpi_finalize()");
  if (j.live_pools > 0)
    return fail(MPROC_E_BUSY, "mproc_mpi_pool_new: another MPI pool still exists; free it first");
  auto *m = new (std::nothrow) mproc::mpi::Master(j);
  if (!m) return fail(MPROC_E_NOMEM, "mproc_mpi_pool_new: out of memory");
  if (!m->ok()) {
    delete m;
    return fail(MPROC_E_SYS, "mproc_mpi_pool_new: eventfd failed");
  }
  mproc_pool_transport t = m->transport();
  void *core = nullptr;
  int rc = j.seam->pool_new(out, j.size - 1, &t, &core);
  if (rc != MPROC_OK) {
    delete m;
    return fail(rc, "mproc_mpi_pool_new: cannot make the pool");
  }
  m->set_core(core);  // owned by the pool now: destroyed with it
  return MPROC_OK;
}

MPROC_API int mproc_mpi_finalize(void) {
  Job &j = job();
  if (!j.initialized || j.finalized || j.rank != mproc::mpi::kRoot)
    return fail(MPROC_E_STATE, "mproc_mpi_finalize: only on rank 0, once, after mproc_mpi_init()");
  if (j.live_pools > 0)
    return fail(MPROC_E_BUSY, "mproc_mpi_finalize: an MPI pool was not freed");
  for (int r = 1; r < j.size; r++)
    MPI_Send(nullptr, 0, MPI_BYTE, r, mproc::mpi::kShutdown, j.comm);
  MPI_Comm_free(&j.comm);
  MPI_Finalize();
  j.finalized = true;
  return MPROC_OK;
}

MPROC_API int mproc_mpi_rank(void) { return job().initialized ? job().rank : MPROC_E_STATE; }

MPROC_API const char *mproc_mpi_last_error(void) { return mproc::mpi::last_error.c_str(); }

}  // extern "C"
