// Names for process targets and pool tasks. A child that is not a fork of
// its parent (spawn, forkserver) has the same code at other addresses, so
// the parent sends the name and the child looks the function up in its own
// registry, which the same mproc_register*() calls at the top of main()
// filled in the same way.
#pragma once

#include <cstdint>
#include <string>

#include "mproc/mproc-pool.h"
#include "mproc/mproc-process.h"

namespace mproc {

// A name is 1..kMaxEntryName printable ASCII bytes (no space, no control).
constexpr size_t kMaxEntryName = 200;
bool valid_entry_name(const char *name);

// MPROC_OK (also when name is already registered to fn), MPROC_E_EXIST
// (registered to another function), MPROC_E_INVAL (bad name or NULL fn).
int register_target(const char *name, mproc_target_fn fn);
int register_task(const char *name, mproc_task_fn fn);

// nullptr when nothing is registered under the name.
mproc_target_fn find_target(const std::string &name);
mproc_task_fn find_task(const std::string &name);

// A task's wire id in spawn and forkserver pools: a 64-bit hash of its
// name, the same in every process that registered the name (never 0).
uint64_t entry_id(const std::string &name);
bool task_id_of(mproc_task_fn fn, uint64_t *id);
mproc_task_fn find_task_by_id(uint64_t id);

// The name fn was registered under; false if it was not.
bool target_name(mproc_target_fn fn, std::string *name);
bool task_name(mproc_task_fn fn, std::string *name);

}  // namespace mproc
