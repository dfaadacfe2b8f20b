#include "mpi/serve.h"

#include <cstring>
#include <deque>
#include <iterator>
#include <string>
#include <vector>

#include "mpi/wire.h"
#include "mproc.h"

namespace mproc {
namespace mpi {

namespace {

// One chunk from rank 0, running in the local pool.
struct Running {
  uint64_t id = 0;
  uint32_t count = 0;
  std::vector<unsigned char> message;  // the items point into it
  std::vector<mproc_bytes> items;
  mproc_iter *it = nullptr;
  uint32_t sent = 0;  // items answered so far
  Writer out;         // items gathered and not sent yet
  uint32_t out_n = 0;
};

class Server {
 public:
  explicit Server(Job &job) : job_(job) {}
  ~Server() { drop_pool(/*terminate=*/true); }
  void run();

 private:
  void open_pool(const std::vector<unsigned char> &msg);
  void drop_pool(bool terminate);
  void start_chunk(std::vector<unsigned char> &&msg);
  void fail_chunk(Running &r, int status);
  bool collect(Running &r);
  void add_item(Running &r, int status, const void *data, size_t len, bool has_exit, int code);
  void flush(Running &r);

  Job &job_;
  mproc_pool *pool_ = nullptr;
  int event_fd_ = -1;
  int pool_error_ = MPROC_OK;  // set: the local pool could not be made; chunks fail with it
  std::deque<Running> running_;
};

void Server::run() {
  // Local results wake us through the event fd; rank 0's messages are
  // looked for at least every millisecond.
  Backoff backoff(1000 * 1000);
  std::vector<unsigned char> msg;
  for (;;) {
    bool busy = false;
    for (;;) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(kRoot, MPI_ANY_TAG, job_.comm, &flag, &st);
      if (!flag) break;
      busy = true;
      receive_probed(job_.comm, st, &msg);
      switch (st.MPI_TAG) {
        case kConfig:
          open_pool(msg);
          break;
        case kChunk:
          start_chunk(std::move(msg));
          msg = {};
          break;
        case kEnd:
          drop_pool(/*terminate=*/false);
          break;
        case kTerminate:
          drop_pool(/*terminate=*/true);
          MPI_Send(nullptr, 0, MPI_BYTE, kRoot, kTerminated, job_.comm);
          break;
        case kShutdown:
          return;
        default:
          break;
      }
    }
    // Every chunk, not only the oldest: a later one may finish first.
    for (auto r = running_.begin(); r != running_.end();) {
      uint32_t before = r->sent;
      bool done = collect(*r);
      busy |= r->sent != before;
      r = done ? running_.erase(r) : std::next(r);
    }
    if (busy) {
      backoff.reset();
      continue;
    }
    // The local pool's event fd wakes us for its results; rank 0's next
    // message is seen when the backoff expires.
    wait_fd(event_fd_, backoff.next());
  }
}

void Server::open_pool(const std::vector<unsigned char> &msg) {
  drop_pool(/*terminate=*/true);
  Reader r(msg.data(), msg.size());
  ConfigHead h;
  const unsigned char *name = nullptr, *arg = nullptr;
  pool_error_ = MPROC_E_INVAL;
  if (!r.get(&h) || !r.view(h.init_name_len, &name) || !r.view(h.init_arg_len, &arg)) return;
  mproc_target_fn init = nullptr;
  if (h.init_name_len) {
    init = job_.seam->find_target(std::string(reinterpret_cast<const char *>(name), h.init_name_len).c_str());
    pool_error_ = MPROC_E_NOENT;  // this program did not register it
    if (!init) return;
  }
  int rc = mproc_pool_new(&pool_, 1);
  if (rc == MPROC_OK) rc = mproc_pool_set_start_method(pool_, MPROC_START_FORKSERVER);
  if (rc == MPROC_OK && h.task_timeout > 0) rc = mproc_pool_set_task_timeout(pool_, h.task_timeout);
  if (rc == MPROC_OK) rc = mproc_pool_set_maxtasksperchild(pool_, h.maxtasksperchild);
  if (rc == MPROC_OK && init)
    rc = mproc_pool_set_initializer(pool_, init, h.init_arg_len ? arg : nullptr,
                                    static_cast<size_t>(h.init_arg_len), nullptr);
  if (rc == MPROC_OK) rc = mproc_pool_start(pool_);
  if (rc == MPROC_OK) rc = (event_fd_ = mproc_pool_event_fd(pool_)) < 0 ? event_fd_ : MPROC_OK;
  pool_error_ = rc;
  if (rc != MPROC_OK) {
    mproc_pool_free(pool_);
    pool_ = nullptr;
    event_fd_ = -1;
  }
}

void Server::drop_pool(bool terminate) {
  for (auto &r : running_) mproc_iter_free(r.it);
  running_.clear();
  if (!pool_) return;
  if (terminate)
    mproc_pool_terminate(pool_);
  else
    mproc_pool_close(pool_);
  mproc_pool_join(pool_, MPROC_FOREVER);
  mproc_pool_free(pool_);
  pool_ = nullptr;
  event_fd_ = -1;
}

void Server::start_chunk(std::vector<unsigned char> &&msg) {
  running_.emplace_back();
  Running &r = running_.back();
  r.message = std::move(msg);
  Reader rd(r.message.data(), r.message.size());
  ChunkHead h{};
  const unsigned char *task = nullptr, *payload = nullptr;
  bool valid = rd.get(&h) && rd.view(h.task_len, &task);
  r.id = h.id;
  r.count = h.count;
  size_t payload_len = rd.left();
  if (!valid || !rd.view(payload_len, &payload)) return fail_chunk(r, MPROC_E_INVAL);
  r.items.resize(h.count);
  if (job_.seam->unpack(payload, payload_len, h.count, r.items.data()) != MPROC_OK)
    return fail_chunk(r, MPROC_E_INVAL);
  if (!pool_) return fail_chunk(r, pool_error_);
  std::string name(reinterpret_cast<const char *>(task), h.task_len);
  // One local chunk: the local pool reruns the items after a crash.
  int rc = mproc_pool_imap_named(pool_, name.c_str(), r.items.data(), h.count, h.count, &r.it);
  if (rc != MPROC_OK) fail_chunk(r, rc);
}

void Server::fail_chunk(Running &r, int status) {
  while (r.sent + r.out_n < r.count) add_item(r, status, nullptr, 0, false, 0);
  flush(r);
}

// Reads what the local pool finished of r; true once all of r was answered.
bool Server::collect(Running &r) {
  while (r.it && r.sent + r.out_n < r.count) {
    size_t index = 0;
    const void *data = nullptr;
    size_t len = 0;
    int rc = mproc_iter_next(r.it, &index, &data, &len, 0);
    if (rc == MPROC_E_TIMEOUT || rc == MPROC_DONE) break;
    int code = 0;
    bool has_exit = (rc == MPROC_E_WORKER_DIED || rc == MPROC_E_TASK_TIMEOUT) &&
                    mproc_iter_worker_exitcode(r.it, &code) == MPROC_OK;
    bool has_reply = rc == MPROC_OK || rc == MPROC_E_TASK_FAILED;
    add_item(r, rc, has_reply ? data : nullptr, has_reply ? len : 0, has_exit, code);
  }
  if (r.out_n) flush(r);
  if (r.sent < r.count) return false;
  mproc_iter_free(r.it);
  r.it = nullptr;
  return true;
}

void Server::add_item(Running &r, int status, const void *data, size_t len, bool has_exit,
                      int code) {
  if (r.out_n == 0) r.out.put(ResultsHead{r.id, r.sent, 0});
  r.out.put(ItemHead{status, has_exit, code, 0, len});
  r.out.put_bytes(data, len);
  r.out_n++;
  if (r.out.bytes().size() >= kMaxResultsBytes) flush(r);
}

void Server::flush(Running &r) {
  if (r.out_n == 0) return;
  std::vector<unsigned char> &b = r.out.bytes();
  ResultsHead h{r.id, r.sent, r.out_n};
  memcpy(b.data(), &h, sizeof h);
  // Blocking is fine: rank 0 always reads results, and never blocks on a
  // send to us.
  MPI_Send(b.data(), static_cast<int>(b.size()), MPI_BYTE, kRoot, kResults, job_.comm);
  r.sent += r.out_n;
  r.out_n = 0;
  b.clear();
}

}  // namespace

void serve(Job &job) { Server(job).run(); }

}  // namespace mpi
}  // namespace mproc
