// What rank 0 and the worker ranks say to each other, on a private
// duplicate of MPI_COMM_WORLD. Every message is MPI_BYTE: a fixed head,
// then its variable parts. A worker rank receives from rank 0 only, in the
// order sent (MPI's non-overtaking rule holds for one source whatever the
// tag); rank 0 receives from any worker.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace mproc {
namespace mpi {

constexpr int kRoot = 0;

enum Tag : int {
  kConfig = 1,      // rank 0 -> worker: a pool starts (ConfigHead, init name, init arg)
  kChunk = 2,       // rank 0 -> worker: run these items (ChunkHead, task name, packed items)
  kEnd = 3,         // rank 0 -> worker: the pool closed and everything ran
  kTerminate = 4,   // rank 0 -> worker: the pool was terminated; answer kTerminated
  kShutdown = 5,    // rank 0 -> worker: the job ends (mproc_mpi_finalize)
  kResults = 10,    // worker -> rank 0: ResultsHead, then n times ItemHead + reply bytes
  kTerminated = 11, // worker -> rank 0: its local pool is gone
};

struct ConfigHead {
  double task_timeout;  // seconds, < 0 = none
  uint32_t maxtasksperchild;
  uint32_t init_name_len;  // 0 = no initializer
  uint64_t init_arg_len;
};

struct ChunkHead {
  uint64_t id;
  uint32_t count;
  uint32_t task_len;
};

struct ResultsHead {
  uint64_t id;
  uint32_t first;  // index in the chunk of the first item here
  uint32_t n;
};

struct ItemHead {
  int32_t status;
  int32_t has_exit;
  int32_t exit_code;
  uint32_t reserved;
  uint64_t len;
};

// A message under construction.
class Writer {
 public:
  template <typename T>
  void put(const T &v) {
    put_bytes(&v, sizeof v);
  }
  void put_bytes(const void *p, size_t n) {
    const auto *b = static_cast<const unsigned char *>(p);
    buf_.insert(buf_.end(), b, b + n);
  }
  std::vector<unsigned char> &bytes() { return buf_; }

 private:
  std::vector<unsigned char> buf_;
};

// A received message, read front to back; every get is bounds-checked.
class Reader {
 public:
  Reader(const unsigned char *p, size_t n) : p_(p), left_(n) {}
  template <typename T>
  bool get(T *v) {
    if (left_ < sizeof *v) return false;
    memcpy(v, p_, sizeof *v);
    skip(sizeof *v);
    return true;
  }
  bool view(uint64_t n, const unsigned char **out) {
    if (left_ < n) return false;
    *out = p_;
    skip(static_cast<size_t>(n));
    return true;
  }
  size_t left() const { return left_; }

 private:
  void skip(size_t n) {
    p_ += n;
    left_ -= n;
  }
  const unsigned char *p_;
  size_t left_;
};

// Receives the message `st` describes (from MPI_Iprobe) into *buf.
inline void receive_probed(MPI_Comm comm, const MPI_Status &st, std::vector<unsigned char> *buf) {
  int count = 0;
  MPI_Get_count(&st, MPI_BYTE, &count);
  buf->resize(static_cast<size_t>(count));
  MPI_Recv(buf->data(), count, MPI_BYTE, st.MPI_SOURCE, st.MPI_TAG, comm, MPI_STATUS_IGNORE);
}

// Replies gathered per results message at most, so a message stays far
// below MPI's int count of bytes.
constexpr size_t kMaxResultsBytes = 64u << 20;

// How long a side that found nothing to do waits before it looks at MPI
// again (MPI has no descriptor to sleep on): a few rounds of yielding, then
// 10 us doubling up to max_ns; any traffic starts over.
class Backoff {
 public:
  explicit Backoff(int64_t max_ns) : max_ns_(max_ns) {}
  void reset() { idle_ = 0; }
  // Nanoseconds to wait, 0 = just yield the CPU.
  int64_t next() {
    if (idle_ < kYields) return idle_++, 0;
    int64_t ns = kFirstNs << (idle_ - kYields < 7 ? idle_ - kYields : 7);
    idle_++;
    return ns < max_ns_ ? ns : max_ns_;
  }

 private:
  static constexpr unsigned kYields = 16;
  static constexpr int64_t kFirstNs = 10 * 1000;
  int64_t max_ns_;
  unsigned idle_ = 0;
};

// Waits for fd to turn readable (then reads its eventfd counter) or for
// ns nanoseconds (< 0: forever; 0: only yields).
void wait_fd(int fd, int64_t ns);

}  // namespace mpi
}  // namespace mproc
