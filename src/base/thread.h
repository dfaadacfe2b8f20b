// Library threads (the reaper, the pool's manager and callback threads)
// start with every signal blocked, so signals meant for the host program
// are never delivered to a thread it does not know about.
#pragma once

#include <pthread.h>

namespace mproc {

// Returns true when the thread started; false with errno set (ENOMEM,
// EAGAIN: out of memory or over the process limit).
bool start_thread(pthread_t *tid, void *(*fn)(void *), void *arg, bool detached);

// How many threads started with start_thread() are running now, so the
// fork-safety warning counts only the host program's threads.
int library_thread_count();

}  // namespace mproc
