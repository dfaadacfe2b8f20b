// Rank 0's side of an MPI pool: the transport behind the core's pool
// (pool/seam.h). One thread makes every MPI call: it sends the pool's
// settings, then takes chunks from the core and sends each to the least
// loaded worker rank, receives their results and delivers them to the
// core, and ends the pool on the worker ranks when it is closed and done
// (kEnd) or terminated (kTerminate, answered by kTerminated).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <list>
#include <thread>
#include <unordered_map>
#include <vector>

#include "mpi/job.h"

namespace mproc {
namespace mpi {

class Master {
 public:
  explicit Master(Job &job);
  ~Master();
  Master(const Master &) = delete;
  Master &operator=(const Master &) = delete;

  bool ok() const { return wake_fd_ >= 0; }
  mproc_pool_transport transport();
  void set_core(void *core) { core_ = core; }

 private:
  struct Sent {
    int rank;
    uint32_t count;
    uint32_t done = 0;
  };
  struct Send {
    MPI_Request request = MPI_REQUEST_NULL;
    std::vector<unsigned char> bytes;
  };

  static void on_start(void *self);
  static void on_wake(void *self);
  static void on_destroy(void *self);
  void run();
  void send_config();
  void send_to(int rank, int tag, std::vector<unsigned char> &&bytes);
  bool send_chunks();
  bool complete_sends();
  bool receive_results();
  void take_results(const std::vector<unsigned char> &msg);
  void end_pool(int tag);

  Job &job_;
  const mproc_pool_seam *seam_;
  void *core_ = nullptr;
  int wake_fd_ = -1;
  std::thread thread_;
  bool started_ = false;
  std::vector<int> load_;  // chunks in flight per worker rank (index rank - 1)
  std::unordered_map<uint64_t, Sent> in_flight_;
  std::list<Send> sends_;  // not completed yet; their buffers must live
  std::vector<unsigned char> recv_buf_;
  std::vector<mproc_seam_item> items_;
};

}  // namespace mpi
}  // namespace mproc
