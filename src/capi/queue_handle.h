// Library-internal access to mproc_queue handles, for modules that build on
// the public queue API (the pool's channels) and must hand a queue to a
// spawned worker without exporting it to every child (queue/handover.h).
#pragma once

#include "mproc/mproc-queue.h"

namespace mproc {

// The segment descriptor behind a handle (owned by the handle).
int queue_handle_fd(const mproc_queue *q);
// A new handle attached to the segment behind fd (duplicated):
// MPROC_OK or the code of Queue::open_fd.
int queue_handle_from_fd(int fd, mproc_queue **out);
// mproc_queue_put without waking a sleeping consumer: one of a burst, the
// last followed by queue_handle_wake().
int queue_handle_put_quiet(mproc_queue *q, const void *data, size_t len, double timeout);
void queue_handle_wake(mproc_queue *q);

}  // namespace mproc
