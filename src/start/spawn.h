// MPROC_START_SPAWN: vfork + execve of the program itself, which enters
// mproc_main() and runs the request (start/child.h).
#pragma once

#include <memory>

#include "process/table.h"
#include "start/request.h"

namespace mproc {

// Starts a fresh exec of the program running `req`. On success *out holds
// the started child with its pidfd (not yet adopted by the process table).
// Exec failures come back as codes: MPROC_E_NOENT, MPROC_E_PERM, ...
int spawn_child(const ChildRequest &req, std::shared_ptr<Child> *out);

// mproc_set_executable(): nullptr restores the running program.
int set_spawn_executable(const char *path);

}  // namespace mproc
