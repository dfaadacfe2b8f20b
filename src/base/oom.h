// Out of memory after the point of no return. A step that follows
// something irreversible (a reply taken off a worker's queue, a task sent,
// a result marked ready) must not fail half-way: losing its allocation
// would lose an outcome, and its waiter would wait forever. Such steps wait
// for memory instead; everything before that point returns MPROC_E_NOMEM.
#pragma once

#include <ctime>
#include <new>

namespace mproc {

// Runs fn() until it returns without std::bad_alloc, napping a millisecond
// between tries. fn must leave nothing changed when it throws.
template <typename Fn>
auto retry_on_oom(Fn &&fn) -> decltype(fn()) {
  for (;;) {
    try {
      return fn();
    } catch (const std::bad_alloc &) {
      timespec nap{0, 1000 * 1000};
      nanosleep(&nap, nullptr);
    }
  }
}

}  // namespace mproc
