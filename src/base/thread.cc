#include "base/thread.h"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <new>

namespace mproc {

namespace {
std::atomic<int> g_running{0};

// A forked child has only the forking thread: none of ours.
void forget_threads_in_child() { g_running.store(0, std::memory_order_relaxed); }

struct Start {
  void *(*fn)(void *);
  void *arg;
};

void *counted_main(void *raw) {
  Start s = *static_cast<Start *>(raw);
  delete static_cast<Start *>(raw);
  void *r = s.fn(s.arg);
  g_running.fetch_sub(1, std::memory_order_relaxed);
  return r;
}
}  // namespace

bool start_thread(pthread_t *tid, void *(*fn)(void *), void *arg, bool detached) {
  static const bool hooked = pthread_atfork(nullptr, nullptr, forget_threads_in_child) == 0;
  (void)hooked;
  auto *s = new (std::nothrow) Start{fn, arg};
  if (!s) {
    errno = ENOMEM;
    return false;
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (detached) pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  g_running.fetch_add(1, std::memory_order_relaxed);
  int err = pthread_create(tid, &attr, counted_main, s);
  bool ok = err == 0;
  if (!ok) {
    g_running.fetch_sub(1, std::memory_order_relaxed);
    delete s;
  }
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (!ok) errno = err;  // last: the calls above may change it
  return ok;
}

int library_thread_count() { return g_running.load(std::memory_order_relaxed); }

}  // namespace mproc
