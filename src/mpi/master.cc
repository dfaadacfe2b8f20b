#include "mpi/master.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/eventfd.h"
#include "mpi/wire.h"

namespace mproc {
namespace mpi {

namespace {
// Chunks in flight per worker rank at most: enough to hide the trip to
// the rank and back behind the tasks of a busy one.
constexpr size_t kMaxDepth = 64;
// Results have no descriptor to wake us: while chunks are out, look at
// least this often (an idle pool sleeps on the core's wake-ups instead).
constexpr int64_t kMaxPollNs = 100 * 1000;
}  // namespace

Master::Master(Job &job)
    : job_(job),
      seam_(job.seam),
      wake_fd_(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)),
      load_(static_cast<size_t>(job.size - 1), 0) {
  job_.live_pools++;
}

Master::~Master() {
  if (thread_.joinable()) thread_.join();
  if (!started_) job_.live_pools--;
  if (wake_fd_ >= 0) close(wake_fd_);
}

mproc_pool_transport Master::transport() {
  return mproc_pool_transport{this, on_start, on_wake, on_destroy};
}

void Master::on_start(void *self) {
  auto *m = static_cast<Master *>(self);
  m->started_ = true;
  m->thread_ = std::thread([m] { m->run(); });
}

void Master::on_wake(void *self) { signal_eventfd(static_cast<Master *>(self)->wake_fd_); }

void Master::on_destroy(void *self) { delete static_cast<Master *>(self); }

void Master::run() {
  send_config();
  Backoff backoff(kMaxPollNs);
  for (;;) {
    int state = seam_->state(core_);
    if (state == MPROC_SEAM_TERMINATED) {
      end_pool(kTerminate);
      break;
    }
    bool busy = send_chunks();
    busy |= receive_results();
    busy |= complete_sends();
    if (state == MPROC_SEAM_DRAINED && in_flight_.empty()) {
      end_pool(kEnd);
      break;
    }
    if (busy) {
      backoff.reset();
      continue;
    }
    // Nothing on the way: only the core can give us work, and it wakes us.
    wait_fd(wake_fd_, in_flight_.empty() && sends_.empty() ? -1 : backoff.next());
  }
  // Done with MPI: the next pool may start as soon as join returns.
  job_.live_pools--;
  seam_->finished(core_);
}

void Master::send_to(int rank, int tag, std::vector<unsigned char> &&bytes) {
  sends_.emplace_back();
  Send &s = sends_.back();
  s.bytes = std::move(bytes);
  MPI_Isend(s.bytes.data(), static_cast<int>(s.bytes.size()), MPI_BYTE, rank, tag, job_.comm,
            &s.request);
}

void Master::send_config() {
  mproc_seam_config c;
  seam_->config(core_, &c);
  Writer w;
  ConfigHead h{c.task_timeout, c.maxtasksperchild,
               c.init_name ? static_cast<uint32_t>(strlen(c.init_name)) : 0u, c.init_arg_len};
  w.put(h);
  if (c.init_name) w.put_bytes(c.init_name, h.init_name_len);
  w.put_bytes(c.init_arg, c.init_arg_len);
  for (int r = 1; r < job_.size; r++) {
    std::vector<unsigned char> copy = w.bytes();
    send_to(r, kConfig, std::move(copy));
  }
}

bool Master::send_chunks() {
  bool sent = false;
  for (;;) {
    // Deep queues for many quick tasks, shallow ones for a few slow tasks,
    // which should spread over the ranks rather than queue on one.
    size_t queued = seam_->pending(core_) + in_flight_.size();
    size_t depth = std::min(kMaxDepth, std::max<size_t>(1, (queued + load_.size() - 1) / load_.size()));
    auto least = std::min_element(load_.begin(), load_.end());
    if (static_cast<size_t>(*least) >= depth) return sent;
    mproc_seam_chunk c;
    if (seam_->take(core_, &c) != MPROC_OK) return sent;
    size_t task_len = strlen(c.task);
    Writer w;
    w.bytes().reserve(sizeof(ChunkHead) + task_len + c.payload_len);
    w.put(ChunkHead{c.id, c.count, static_cast<uint32_t>(task_len)});
    w.put_bytes(c.task, task_len);
    w.put_bytes(c.payload, c.payload_len);
    int rank = static_cast<int>(least - load_.begin()) + 1;
    in_flight_.emplace(c.id, Sent{rank, c.count});
    (*least)++;
    seam_->release(&c);
    send_to(rank, kChunk, std::move(w.bytes()));
    sent = true;
  }
}

bool Master::complete_sends() {
  bool any = false;
  for (auto it = sends_.begin(); it != sends_.end();) {
    int done = 0;
    MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
    if (!done) {
      ++it;
      continue;
    }
    it = sends_.erase(it);
    any = true;
  }
  return any;
}

bool Master::receive_results() {
  bool any = false;
  for (;;) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, kResults, job_.comm, &flag, &st);
    if (!flag) return any;
    receive_probed(job_.comm, st, &recv_buf_);
    take_results(recv_buf_);
    any = true;
  }
}

void Master::take_results(const std::vector<unsigned char> &msg) {
  Reader r(msg.data(), msg.size());
  ResultsHead h;
  if (!r.get(&h)) return;
  items_.clear();
  for (uint32_t k = 0; k < h.n; k++) {
    ItemHead ih;
    const unsigned char *data = nullptr;
    if (!r.get(&ih) || !r.view(ih.len, &data)) return;  // our own peer: cannot happen
    items_.push_back(mproc_seam_item{ih.status, ih.has_exit, ih.exit_code, data,
                                     static_cast<size_t>(ih.len)});
  }
  seam_->deliver(core_, h.id, h.first, h.n, items_.data());
  auto it = in_flight_.find(h.id);
  if (it == in_flight_.end()) return;
  it->second.done += h.n;
  if (it->second.done >= it->second.count) {
    load_[static_cast<size_t>(it->second.rank - 1)]--;
    in_flight_.erase(it);
  }
}

void Master::end_pool(int tag) {
  for (int r = 1; r < job_.size; r++) send_to(r, tag, {});
  if (tag == kTerminate) {
    // Results still on their way are read and dropped (the core failed
    // those chunks already) until every rank says its local pool is gone.
    for (int acks = 0; acks < job_.size - 1;) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, job_.comm, &flag, &st);
      if (!flag) {
        complete_sends();
        wait_fd(-1, 50 * 1000);
        continue;
      }
      receive_probed(job_.comm, st, &recv_buf_);
      if (st.MPI_TAG == kTerminated) acks++;
    }
  }
  for (Send &s : sends_) MPI_Wait(&s.request, MPI_STATUS_IGNORE);
  sends_.clear();
  in_flight_.clear();
}

}  // namespace mpi
}  // namespace mproc
