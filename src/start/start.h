// Starting a child with a given start method, for the process and pool
// modules: one entry point over fork-free spawn and forkserver starts.
#pragma once

#include <memory>

#include "process/table.h"
#include "start/request.h"

namespace mproc {

// Starts `req` with MPROC_START_SPAWN or MPROC_START_FORKSERVER and adopts
// the child into the process table.
int start_child(int method, const ChildRequest &req, std::shared_ptr<Child> *out);

}  // namespace mproc
