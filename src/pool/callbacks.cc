#include "pool/callbacks.h"

#include <csignal>

#include "base/thread.h"

namespace mproc {

CallbackQueue::~CallbackQueue() { stop(); }

void CallbackQueue::post(std::function<void()> fn) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!stopping_ && !started_) started_ = start_thread(&thread_, main, this, /*detached=*/false);
  if (stopping_ || !started_) {
    lock.unlock();
    fn();
    return;
  }
  calls_.push_back(std::move(fn));
  cv_.notify_one();
}

void CallbackQueue::stop() {
  if (owner_ != getpid()) return;
  bool join = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    join = started_;
    cv_.notify_one();
  }
  if (join) pthread_join(thread_, nullptr);
}

void *CallbackQueue::main(void *self) {
  auto *q = static_cast<CallbackQueue *>(self);
  std::unique_lock<std::mutex> lock(q->mu_);
  for (;;) {
    q->cv_.wait(lock, [q] { return !q->calls_.empty() || q->stopping_; });
    if (q->calls_.empty()) return nullptr;
    std::function<void()> fn = std::move(q->calls_.front());
    q->calls_.pop_front();
    lock.unlock();
    try {
      fn();
    } catch (...) {
      // A callback's failure is its own; the pool carries on.
    }
    lock.lock();
  }
}

}  // namespace mproc
