// Who the calling process is, in multiprocessing's terms: its name
// ("MainProcess" or the mproc child's name), its identity path ("2:1" for the
// first child of Process-2), its daemon flag, and the counter that numbers
// the handles it creates.
#pragma once

#include <string>

namespace mproc {

const char *self_name();
bool self_daemon();

// Identity for the next handle this process creates: "N" in the main process,
// "<own identity>:N" in an mproc child, N counting from 1.
std::string next_child_identity();

// Called once in a freshly forked child before its target runs.
void become_child(const std::string &name, const std::string &identity, bool daemon);

}  // namespace mproc
