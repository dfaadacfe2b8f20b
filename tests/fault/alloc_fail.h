// Allocation failure on demand, for the fault suite: alloc_fail.cc defines
// malloc and friends in the test program itself, which the dynamic linker
// binds ahead of libc's for every library (libmproc, libstdc++) too. They
// forward to glibc's allocator, except that after arm(n) the n-th
// allocation from any thread returns NULL (operator new then throws
// std::bad_alloc). Not linked into sanitizer builds: their runtimes own
// malloc.
#pragma once

#include <cstdint>

namespace alloc_fail {

// The n-th allocation from now (n >= 1) fails; only that one.
void arm(uint64_t n);
// Stops counting; true if the armed failure happened.
bool disarm();
// Blocks allocated and not yet freed, over the whole program.
int64_t live_blocks();

}  // namespace alloc_fail
