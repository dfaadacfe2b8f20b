#include "pool/callbacks.h"

#include <cxxabi.h>

#include <csignal>

#include "base/thread.h"

namespace mproc {

CallbackQueue::~CallbackQueue() { stop(); }

void CallbackQueue::post(std::function<void()> fn) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!stopping_ && !started_) {
    // The thread keeps the queue alive while it runs: a callback may free
    // the pool, and with it the pool's reference.
    auto *keep = new std::shared_ptr<CallbackQueue>(shared_from_this());
    started_ = start_thread(&thread_, main, keep, /*detached=*/false);
    if (!started_) delete keep;
  }
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
  if (!join) return;
  // Called from a callback (freeing the pool there): the thread cannot wait
  // for itself; it finishes what is queued and ends on its own.
  if (pthread_equal(pthread_self(), thread_))
    pthread_detach(thread_);
  else
    pthread_join(thread_, nullptr);
}

void *CallbackQueue::main(void *arg) {
  auto *keep = static_cast<std::shared_ptr<CallbackQueue> *>(arg);
  std::shared_ptr<CallbackQueue> self = std::move(*keep);
  delete keep;
  CallbackQueue *q = self.get();
  std::unique_lock<std::mutex> lock(q->mu_);
  for (;;) {
    q->cv_.wait(lock, [q] { return !q->calls_.empty() || q->stopping_; });
    if (q->calls_.empty()) return nullptr;
    std::function<void()> fn = std::move(q->calls_.front());
    q->calls_.pop_front();
    lock.unlock();
    try {
      fn();
    } catch (abi::__forced_unwind &) {
      // pthread_exit() or cancellation in a callback (CPython ends foreign
      // threads that call in during interpreter shutdown): must go on.
      throw;
    } catch (...) {
      // A callback's failure is its own; the pool carries on.
    }
    lock.lock();
  }
}

}  // namespace mproc
