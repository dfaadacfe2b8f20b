// The pool's callback thread: runs result callbacks one at a time, in the
// order results completed, away from the manager thread, so a slow or
// misbehaving callback can delay other callbacks but never results.
#pragma once

#include <pthread.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>

namespace mproc {

class CallbackQueue : public std::enable_shared_from_this<CallbackQueue> {
 public:
  CallbackQueue() = default;
  ~CallbackQueue();
  CallbackQueue(const CallbackQueue &) = delete;
  CallbackQueue &operator=(const CallbackQueue &) = delete;

  // Queues a call; starts the thread on first use. After stop() (or if the
  // thread cannot start) the call runs at once on the calling thread. The
  // queue must be owned by a shared_ptr.
  void post(std::function<void()> fn);
  // Runs what is queued, then ends the thread (waiting for it, unless called
  // from that thread). Idempotent. A no-op in a forked child, where the
  // thread does not exist.
  void stop();

 private:
  static void *main(void *keep);  // keep: a heap shared_ptr to the queue

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> calls_;
  bool started_ = false;
  bool stopping_ = false;
  pthread_t thread_{};
  pid_t owner_ = getpid();
};

}  // namespace mproc
