// The header spells the errno-based codes as numbers so that it needs no
// <errno.h> (FFI generators read it); this file proves they are right here.
#include <cerrno>

#include "mproc/mproc-common.h"

// Both sides are the same number by design: that is what is checked.
// NOLINTBEGIN(misc-redundant-expression)

static_assert(MPROC_E_INVAL == -EINVAL, "MPROC_E_INVAL must be -EINVAL");
static_assert(MPROC_E_NOMEM == -ENOMEM, "MPROC_E_NOMEM must be -ENOMEM");
static_assert(MPROC_E_NOENT == -ENOENT, "MPROC_E_NOENT must be -ENOENT");
static_assert(MPROC_E_EXIST == -EEXIST, "MPROC_E_EXIST must be -EEXIST");
static_assert(MPROC_E_PERM == -EPERM, "MPROC_E_PERM must be -EPERM");
static_assert(MPROC_E_TIMEOUT == -ETIMEDOUT, "MPROC_E_TIMEOUT must be -ETIMEDOUT");
static_assert(MPROC_E_BUSY == -EBUSY, "MPROC_E_BUSY must be -EBUSY");
// NOLINTEND(misc-redundant-expression)
