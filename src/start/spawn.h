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

// mproc_set_executable_argv(): the program spawned children execute
// (nullptr: the running program) and the arguments placed between its
// argv[0] and the spawn flag (nullptr-terminated; nullptr: none).
int set_spawn_executable(const char *path, const char *const *args);

}  // namespace mproc
