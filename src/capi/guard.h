// The C boundary: no C++ exception may cross it. Every extern "C" entry
// point runs its body through guarded(), which maps std::bad_alloc to
// MPROC_E_NOMEM and anything else to MPROC_E_SYS.
#pragma once

#include <new>

#include "mproc/mproc-common.h"

namespace mproc {

template <typename F>
int guarded(F &&body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return MPROC_E_NOMEM;
  } catch (...) {
    return MPROC_E_SYS;
  }
}

}  // namespace mproc
