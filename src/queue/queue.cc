#include "queue/queue.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "mproc/mproc-common.h"

namespace mproc {
namespace queue {

// Attaches this process to the segment first if it has not yet (or was
// forked since).
class Queue::Op {
 public:
  explicit Op(Segment &seg) : rc_(seg.enter()) {}
  Op(const Op &) = delete;
  Op &operator=(const Op &) = delete;
  int rc() const { return rc_; }

 private:
  int rc_;
};

Queue::Queue(std::unique_ptr<Segment> seg) : seg_(std::move(seg)), ring_(*seg_) {}

int Queue::create(const char *name, uint64_t maxsize, uint64_t capacity, std::unique_ptr<Queue> *out) {
  if (name && !valid_queue_name(name)) return MPROC_E_INVAL;
  std::unique_ptr<Segment> seg;
  int rc = Segment::create(name, maxsize, capacity, &seg);
  if (rc != MPROC_OK) return rc;
  // Nobody else can have used a segment we failed to set up: take it back
  // (std::bad_alloc included; unlink itself does not allocate).
  try {
    rc = finish(std::move(seg), out);
  } catch (...) {
    if (name) Segment::unlink(name);
    throw;
  }
  if (rc != MPROC_OK && name) Segment::unlink(name);
  return rc;
}

int Queue::open(const char *name, std::unique_ptr<Queue> *out) {
  std::unique_ptr<Segment> seg;
  int rc = Segment::open(name, &seg);
  if (rc != MPROC_OK) return rc;
  return finish(std::move(seg), out);
}

int Queue::open_fd(int fd, std::unique_ptr<Queue> *out) {
  std::unique_ptr<Segment> seg;
  int rc = Segment::open_fd(fd, &seg);
  if (rc != MPROC_OK) return rc;
  return finish(std::move(seg), out);
}

std::string Queue::token() const {
  char buf[24];
  // instance_id is written once, before the segment is published.
  snprintf(buf, sizeof buf, "@%016llx",
           static_cast<unsigned long long>(load_relaxed(&seg_->control()->instance_id)));
  return buf;
}

// Attaches to a mapped segment and checks its shared state.
int Queue::finish(std::unique_ptr<Segment> seg, std::unique_ptr<Queue> *out) {
  std::unique_ptr<Queue> q(new Queue(std::move(seg)));
  q->seg_->set_recover_hook(&Queue::recover_hook, q.get());
  {
    Op op(*q->seg_);
    if (op.rc() != MPROC_OK) return op.rc();
    int rc = q->ring_.check();
    if (rc != MPROC_OK) return rc;
  }
  *out = std::move(q);
  return MPROC_OK;
}

// Attaching took over a dead participant's slot: its claims are stale.
int Queue::recover_hook(void *self) { return static_cast<Queue *>(self)->ring_.recover(true, true); }

int Queue::put(const void *data, size_t len, double timeout, bool wake) {
  if (std::isnan(timeout)) return MPROC_E_INVAL;
  if (closed_.load(std::memory_order_acquire)) return MPROC_E_CLOSED;
  if (len > seg_->geometry().max_message) return MPROC_E_TOOBIG;
  Op op(*seg_);
  if (op.rc() != MPROC_OK) return op.rc();
  const bool may_pad = timeout != 0;
  Claim claim;
  int rc = wait_for(
      ring_.space_ec(), spinner_, timeout, MPROC_E_FULL,
      [&] {
        if (closed_.load(std::memory_order_acquire)) return MPROC_E_CLOSED;
        return ring_.claim_put(static_cast<uint32_t>(len), may_pad, &claim);
      },
      [&] {
        ring_.unstick();
        ring_.recover(false, false);
      });
  if (rc != MPROC_OK) return rc;
  ring_.publish(claim, data, wake);
  return MPROC_OK;
}

int Queue::get(void *buf, size_t cap, size_t *len, double timeout) {
  if (std::isnan(timeout)) return MPROC_E_INVAL;
  if (closed_.load(std::memory_order_acquire)) return MPROC_E_CLOSED;
  Op op(*seg_);
  if (op.rc() != MPROC_OK) return op.rc();
  Claim claim;
  size_t needed = 0;
  int rc = wait_for(
      ring_.data_ec(), spinner_, timeout, MPROC_E_EMPTY,
      [&] {
        if (closed_.load(std::memory_order_acquire)) return MPROC_E_CLOSED;
        return ring_.claim_get(cap, &claim, &needed);
      },
      [&] { ring_.recover(false, false); });
  if (rc != MPROC_OK) {
    ring_.pass_on_data();
    if (rc == MPROC_E_TOOBIG) *len = needed;
    return rc;
  }
  ring_.consume(claim, buf);
  *len = claim.len;
  return MPROC_OK;
}

int Queue::get_alloc(void **data, size_t *len, double timeout) {
  Deadline dl;
  if (int rc = Deadline::from_seconds(timeout, &dl)) return rc;
  // A buffer is always in hand before a message is claimed, so running out
  // of memory never costs a message: a too-small buffer gets TOOBIG (the
  // message stays queued) and is grown for the next try, which waits only
  // for what is left of the timeout.
  size_t cap = 64;
  void *buf = malloc(cap);
  if (!buf) return MPROC_E_NOMEM;
  int rc;
  double left = timeout;
  for (;;) {
    size_t n = 0;
    rc = get(buf, cap, &n, left);
    if (rc == MPROC_OK) {
      *data = buf;
      *len = n;
      return MPROC_OK;
    }
    if (rc != MPROC_E_TOOBIG || n <= cap) break;  // n: the size the message needs
    void *bigger = realloc(buf, n);
    if (!bigger) {
      rc = MPROC_E_NOMEM;
      break;
    }
    buf = bigger;
    cap = n;
    left = dl.seconds_left();
  }
  free(buf);
  return rc;
}

int64_t Queue::qsize() const { return ring_.qsize(); }

int Queue::empty() const { return ring_.empty(); }

int Queue::full() {
  Op op(*seg_);
  if (op.rc() != MPROC_OK) return op.rc();
  return ring_.full();
}

int Queue::close() {
  // Threads of this handle blocked in put/get wake up and see the flag.
  if (!closed_.exchange(true, std::memory_order_acq_rel)) ring_.wake_all();
  return MPROC_OK;
}

int Queue::shutdown(bool immediate) { return ring_.shutdown(immediate); }

}  // namespace queue
}  // namespace mproc
