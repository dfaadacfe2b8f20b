// mproc_queue's C++ core: the API's rules (timeouts, close, TOOBIG,
// get_alloc) on top of the segment, the ring protocol and the waiting
// policy. Every method is safe to call from several threads at once,
// except that the destructor must not race with anything.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "base/deadline.h"
#include "queue/ring.h"
#include "queue/segment.h"
#include "queue/wait.h"

namespace mproc {
namespace queue {

class Queue {
 public:
  // name == nullptr: anonymous. MPROC_E_INVAL, MPROC_E_EXIST, MPROC_E_PERM,
  // MPROC_E_NOMEM, MPROC_E_SYS.
  static int create(const char *name, uint64_t maxsize, uint64_t capacity, std::unique_ptr<Queue> *out);
  // MPROC_E_INVAL, MPROC_E_NOENT, MPROC_E_PERM, MPROC_E_BAD_SEGMENT,
  // MPROC_E_BUSY (no free participant slot), MPROC_E_NOMEM, MPROC_E_SYS.
  static int open(const char *name, std::unique_ptr<Queue> *out);
  static int unlink(const char *name) { return Segment::unlink(name); }
  // Attaches to the segment behind fd (duplicated): see Segment::open_fd.
  static int open_fd(int fd, std::unique_ptr<Queue> *out);

  // wake == false: a put in a burst; the caller calls wake_consumer() once
  // after it, rather than every put waking the same sleeping consumer.
  int put(const void *data, size_t len, double timeout, bool wake = true);
  void wake_consumer() { ring_.wake_consumer(); }
  int get(void *buf, size_t cap, size_t *len, double timeout);
  int get_alloc(void **data, size_t *len, double timeout);
  int64_t qsize() const;
  int empty() const;
  int full();
  int close();
  int shutdown(bool immediate);

  const char *name() const { return seg_->name(); }
  size_t max_message() const { return seg_->geometry().max_message; }
  size_t capacity() const { return seg_->geometry().capacity; }
  int fd() const { return seg_->fd(); }
  // Names the segment for a handover: "@" and its instance id in hex.
  std::string token() const;

 private:
  class Op;
  explicit Queue(std::unique_ptr<Segment> seg);
  static int finish(std::unique_ptr<Segment> seg, std::unique_ptr<Queue> *out);
  static int recover_hook(void *self);

  std::unique_ptr<Segment> seg_;
  Ring ring_;
  Spinner spinner_;
  std::atomic<bool> closed_{false};
};

}  // namespace queue
}  // namespace mproc
